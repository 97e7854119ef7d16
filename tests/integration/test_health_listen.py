"""--health-listen ADDR:PORT (issue 6): a small HTTP listener of its own for
load-balancer health checks. GET /livez is 200 while the process runs;
GET /readyz is 200 only with a validated upstream address and no drain
under way, else 503; any other path 404. It never opens an SES session,
is not an SMTP session (no conn_open/conn_close, outside --max-conns),
and with --proxy-protocol it skips an optional PROXY header first."""

import socket
import struct
import time

import pytest

from fakes import SES_GREETING
from helpers import connect, read_line, recv_until_closed

HEALTH = ("127.0.0.1", 8080)
HEALTH_ARG = "127.0.0.1:8080"
REQUEST_TIMEOUT_S = 2       # the proxy's constant
REQUEST_MAX = 1024          # the proxy's constant
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def request(path, version="1.1"):
    host = b"Host: 127.0.0.1:8080\r\n" if version == "1.1" else b""
    return (f"GET {path} HTTP/{version}\r\n".encode() + host
            + b"User-Agent: ELB-HealthChecker/2.0\r\n\r\n")


def http(raw, addr=HEALTH, timeout=10):
    """Send raw bytes, read until the proxy closes: (status line, whole
    response, how it ended)."""
    with connect(addr, timeout=timeout) as s:
        s.sendall(raw)
        data, how = recv_until_closed(s, timeout=timeout)
    status = data.split(b"\r\n", 1)[0]
    return status, data, how


def get(path, version="1.1", addr=HEALTH, prefix=b""):
    status, data, how = http(prefix + request(path, version), addr)
    assert how in ("eof", "reset"), how
    return status, data


def status_code(path, **kw):
    status, _ = get(path, **kw)
    return status


def no_sessions(proxy):
    return proxy.named("conn_open") == [] and proxy.named("conn_close") == []


# --------------------------------------------------------------------------
# /livez, /readyz, 404
# --------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_livez_and_readyz_ok(dns, ses, proxy_factory, version):
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    status, data = get("/livez", version)
    assert status == b"HTTP/1.1 200 OK", data
    status, data = get("/readyz", version)
    assert status == b"HTTP/1.1 200 OK", data
    assert ses.connections == 0
    assert no_sessions(proxy)


@pytest.mark.parametrize("path", ["/", "/health", "/livez/", "/readyzz",
                                  "/LIVEZ", "/livez/../readyz"])
def test_other_paths_404(dns, ses, proxy_factory, path):
    proxy_factory("--health-listen", HEALTH_ARG)
    status, data = get(path)
    assert status == b"HTTP/1.1 404 Not Found", data
    assert ses.connections == 0


def test_readyz_503_when_only_denied_addresses(dns, ses, proxy_factory):
    dns.set_ses(v4=["127.0.1.5"])   # outside the allowlist
    proxy = proxy_factory("--health-listen", HEALTH_ARG, wait_resolved=False)
    proxy.wait_event("upstream_denied", timeout=10)
    assert status_code("/readyz") == b"HTTP/1.1 503 Service Unavailable"
    assert status_code("/livez") == b"HTTP/1.1 200 OK"
    assert ses.connections == 0


def test_readyz_503_when_dns_fails(dns, ses, proxy_factory):
    dns.set_mode("servfail")
    proxy = proxy_factory("--health-listen", HEALTH_ARG, wait_resolved=False)
    proxy.wait_event("upstream_resolve_failed", timeout=10)
    assert status_code("/readyz") == b"HTTP/1.1 503 Service Unavailable"
    assert status_code("/livez") == b"HTTP/1.1 200 OK"


def test_readyz_503_while_draining(dns, upstream_factory, proxy_factory):
    """After SIGTERM, with a session still open: the SMTP listener is
    closed, the health listener answers 503 so the load balancer stops
    sending new clients, and the session keeps relaying."""
    upstream_factory("greet_echo", "127.0.0.2")
    proxy = proxy_factory("--health-listen", HEALTH_ARG,
                          "--drain-timeout", "20")
    assert status_code("/readyz") == b"HTTP/1.1 200 OK"
    with connect() as client:
        assert read_line(client) == SES_GREETING
        proxy.terminate()
        proxy.wait_event("shutdown_begin", timeout=5)
        assert status_code("/readyz") == b"HTTP/1.1 503 Service Unavailable"
        client.sendall(b"NOOP\r\n")
        assert read_line(client) == b"NOOP\r\n"
    assert proxy.wait(timeout=15) == 0


# --------------------------------------------------------------------------
# Robustness: bare connects, slow and oversized requests
# --------------------------------------------------------------------------

def test_bare_connect_and_close_logs_no_error(dns, ses, proxy_factory):
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    mark = proxy.mark()
    for _ in range(5):
        connect(HEALTH).close()
    assert status_code("/livez") == b"HTTP/1.1 200 OK"
    time.sleep(0.2)
    assert [e for e in proxy.events[mark:]
            if e.get("level") in ("warn", "error")] == []
    assert no_sessions(proxy)
    assert ses.connections == 0
    assert proxy.alive()


@pytest.mark.parametrize("partial", [b"", b"GET /livez HTTP/1.1\r\n",
                                     b"GET /li"],
                         ids=["nothing", "no-blank-line", "half-line"])
def test_incomplete_request_closed_after_timeout(dns, ses, proxy_factory,
                                                 partial):
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    t = time.monotonic()
    with connect(HEALTH) as s:
        s.sendall(partial)
        data, how = recv_until_closed(s, timeout=REQUEST_TIMEOUT_S + 10)
    elapsed = time.monotonic() - t
    assert how in ("eof", "reset"), how
    assert b"200 OK" not in data
    assert elapsed < REQUEST_TIMEOUT_S + 10
    assert ses.connections == 0
    assert no_sessions(proxy)
    assert proxy.alive()
    # The listener still serves.
    assert status_code("/livez") == b"HTTP/1.1 200 OK"


def test_oversized_request_closed(dns, ses, proxy_factory):
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    big = (b"GET /livez HTTP/1.1\r\nX-Padding: " + b"a" * (2 * REQUEST_MAX)
           + b"\r\n\r\n")
    t = time.monotonic()
    with connect(HEALTH) as s:
        try:
            s.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, how = recv_until_closed(s, timeout=REQUEST_TIMEOUT_S + 10)
    assert how in ("eof", "reset"), how
    assert b"200 OK" not in data
    assert time.monotonic() - t < REQUEST_TIMEOUT_S + 10
    assert ses.connections == 0
    assert proxy.alive()
    assert status_code("/livez") == b"HTTP/1.1 200 OK"


def test_request_within_the_size_limit_served(dns, ses, proxy_factory):
    """Headers as a load balancer sends them, well under the limit."""
    proxy_factory("--health-listen", HEALTH_ARG)
    req = (b"GET /livez HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n"
           b"Connection: close\r\nUser-Agent: ELB-HealthChecker/2.0\r\n"
           b"Accept-Encoding: gzip, compressed\r\n\r\n")
    assert len(req) < REQUEST_MAX
    status, data, _ = http(req)
    assert status == b"HTTP/1.1 200 OK", data


def test_many_checks_leave_the_proxy_healthy(dns, ses, proxy_factory):
    proxy = proxy_factory("--health-listen", HEALTH_ARG)
    for i in range(200):
        assert status_code("/livez" if i % 2 else "/readyz") == \
            b"HTTP/1.1 200 OK"
    assert ses.connections == 0
    assert no_sessions(proxy)


# --------------------------------------------------------------------------
# Not an SMTP session
# --------------------------------------------------------------------------

def test_health_connections_do_not_count_toward_max_conns(dns, ses,
                                                          proxy_factory):
    proxy = proxy_factory("--health-listen", HEALTH_ARG, "--max-conns", "1")
    # A health connection held open does not take the only SMTP slot...
    with connect(HEALTH) as idle_check:
        idle_check.sendall(b"GET /li")
        with connect() as client:
            assert read_line(client) == SES_GREETING
            # ...and a full SMTP side does not refuse health checks.
            assert status_code("/livez") == b"HTTP/1.1 200 OK"
            assert status_code("/readyz") == b"HTTP/1.1 200 OK"
    assert ses.connections == 1
    assert [e for e in proxy.named("conn_rejected")
            if e.get("reason") == "max_conns"] == []


def test_smtp_port_unchanged(dns, ses, proxy_factory):
    """The SMTP listener still relays; the health port is not SMTP."""
    proxy_factory("--health-listen", HEALTH_ARG)
    with connect() as client:
        assert read_line(client) == SES_GREETING
    status, data, _ = http(b"EHLO x\r\n\r\n")
    assert not data.startswith(b"220"), data
    assert ses.connections == 1


def test_ipv6_health_listener(dns, ses, proxy_factory):
    proxy_factory("--health-listen", "[::1]:8080")
    assert status_code("/livez", addr=("::1", 8080)) == b"HTTP/1.1 200 OK"


def test_health_listen_from_environment(dns, ses, proxy_factory):
    proxy_factory(env={"HEALTH_LISTEN": HEALTH_ARG})
    assert status_code("/readyz") == b"HTTP/1.1 200 OK"


def test_without_the_flag_no_health_listener(dns, ses, proxy_factory):
    proxy_factory()
    with pytest.raises(ConnectionRefusedError):
        connect(HEALTH, timeout=2).close()


# --------------------------------------------------------------------------
# With --proxy-protocol: an optional PROXY header first
# --------------------------------------------------------------------------

def v2_local():
    return V2_SIG + b"\x20\x00\x00\x00"


def v2_proxy_tcp4():
    body = (socket.inet_pton(socket.AF_INET, "10.0.1.9")
            + socket.inet_pton(socket.AF_INET, "10.0.0.1")
            + struct.pack("!HH", 43210, 8080))
    return V2_SIG + b"\x21\x11" + struct.pack("!H", len(body)) + body


PREFIXES = {
    "none": b"",
    "v2-local": v2_local(),
    "v2-proxy": v2_proxy_tcp4(),
    "v1": b"PROXY TCP4 10.0.1.9 10.0.0.1 43210 8080\r\n",
    "v1-unknown": b"PROXY UNKNOWN\r\n",
}


@pytest.mark.parametrize("kind", list(PREFIXES))
def test_proxy_header_before_health_request(dns, ses, proxy_factory, kind):
    proxy = proxy_factory("--proxy-protocol", "--health-listen", HEALTH_ARG)
    for path in ("/livez", "/readyz"):
        status, data = get(path, prefix=PREFIXES[kind])
        assert status == b"HTTP/1.1 200 OK", data
    status, _ = get("/nope", prefix=PREFIXES[kind])
    assert status == b"HTTP/1.1 404 Not Found"
    assert ses.connections == 0
    assert no_sessions(proxy)


def test_proxy_header_in_pieces_before_health_request(dns, ses,
                                                      proxy_factory):
    proxy_factory("--proxy-protocol", "--health-listen", HEALTH_ARG)
    raw = v2_proxy_tcp4() + request("/readyz")
    with connect(HEALTH) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(raw), 7):
            s.send(raw[i:i + 7])
            time.sleep(0.01)
        data, how = recv_until_closed(s, timeout=10)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
    assert how in ("eof", "reset")


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("--listen", "127.0.0.1:1587", "--health-listen", "127.0.0.1:1587"),
    ("--listen", "[::1]:2525", "--health-listen", "[::1]:2525"),
    ("--listen", "0.0.0.0:1587", "--health-listen", "127.0.0.1:1587"),
    ("--health-listen", "127.0.0.1:0"),
    ("--health-listen", "localhost:8080"),
    ("--health-listen", "8080"),
], ids=["same", "same-v6", "under-wildcard", "port-0", "name", "no-addr"])
def test_bad_health_listen_refused(dns, run_proxy, args):
    rc, out, err = run_proxy(*args)
    assert rc == 2, (rc, err[-2000:])
    assert "--health-listen" in out + err
    assert '"listening"' not in err


def test_health_listen_same_as_listen_from_env_refused(dns, run_proxy):
    rc, out, err = run_proxy(env={"LISTEN": "127.0.0.1:2525",
                                  "HEALTH_LISTEN": "127.0.0.1:2525"},
                             defaults=True)
    assert rc == 2, (rc, err[-2000:])
    assert "HEALTH_LISTEN" in out + err


def test_idle_connections_cannot_starve_probes(dns, proxy_factory):
    """A new probe takes the place of the oldest of 16 open connections: a
    peer holding idle connections cannot make the health checks fail."""
    proxy_factory("--health-listen", HEALTH_ARG)
    idle = [connect(HEALTH) for _ in range(16)]
    try:
        time.sleep(0.2)
        assert status_code("/livez") == b"HTTP/1.1 200 OK"
        # the oldest idle one was closed to make room
        rest, how = recv_until_closed(idle[0], timeout=5)
        assert rest == b"" and how in ("eof", "reset")
    finally:
        for s in idle:
            s.close()


def _closed_by_proxy(*socks, wait=0.1):
    """The ones among socks that the proxy has closed within wait seconds
    (EOF or a reset is readable; a live connection that sent nothing is
    not)."""
    import select
    readable, _, _ = select.select(socks, [], [], wait)
    return readable


def _evicted(sock):
    """Has the proxy closed sock?  Waits up to 1 s, so that a slow run is
    late, not wrong, yet well before the 2 s request deadline would close
    it anyway."""
    return _closed_by_proxy(sock, wait=1) == [sock]


def probe_answered_then_close(probe, path, flood):
    """The waiting probe sends its request and gets 200; then every socket
    is closed."""
    try:
        probe.sendall(request(path))
        data, how = recv_until_closed(probe, timeout=5)
        assert data.startswith(b"HTTP/1.1 200 OK"), (data, how)
    finally:
        probe.close()
        for s in flood:
            s.close()


def test_flood_from_one_source_never_evicts_another_sources_probe(
        dns, proxy_factory):
    """A connection flood from one address (issue 15, item 6): however many
    connections it opens, a probe from another address (the load balancer)
    keeps its slot: the flooder's own oldest connections make room."""
    proxy_factory("--health-listen", HEALTH_ARG)
    flood = [connect(HEALTH, source="127.0.0.1") for _ in range(16)]
    probe = connect(HEALTH, source="127.0.0.5")
    time.sleep(0.2)
    # The probe took a flooder's slot (the oldest), not another's.
    assert _evicted(flood[0])
    # Many more than 16 from the flooder, while the probe waits.
    for _ in range(3):
        more = [connect(HEALTH, source="127.0.0.1") for _ in range(16)]
        time.sleep(0.1)
        flood += more
    probe_answered_then_close(probe, "/readyz", flood)


def test_each_source_evicts_its_own_oldest_first(dns, proxy_factory):
    """Two sources share the 16 slots: when full, a new connection evicts
    the oldest of the source holding the most, even when the other
    source's connection is older."""
    proxy_factory("--health-listen", HEALTH_ARG)
    older = [connect(HEALTH, source="127.0.0.5") for _ in range(2)]
    time.sleep(0.1)
    heavy = [connect(HEALTH, source="127.0.0.1") for _ in range(14)]
    time.sleep(0.2)
    newcomer = connect(HEALTH, source="127.0.0.5")
    time.sleep(0.2)
    try:
        assert _evicted(heavy[0])
        assert _closed_by_proxy(*older) == []
        newcomer.sendall(request("/livez"))
        data, _ = recv_until_closed(newcomer, timeout=5)
        assert data.startswith(b"HTTP/1.1 200 OK"), data
    finally:
        for s in older + heavy + [newcomer]:
            s.close()


@pytest.fixture
def v6_block():
    """Every address of fc00:0:0:64::/64 is local (an AnyIP route on lo,
    in this loopback-only namespace only): one IPv6 host's /64."""
    import subprocess
    from conftest import only_loopback
    assert only_loopback(), "v6_block outside a loopback-only namespace"
    route = ["local", "fc00:0:0:64::/64", "dev", "lo", "table", "local"]
    subprocess.run(["ip", "-6", "route", "add", *route], check=True,
                   timeout=10)
    yield lambda n: f"fc00:0:0:64::{n:x}"
    subprocess.run(["ip", "-6", "route", "del", *route], timeout=10)


def connect_from_block(addr, source):
    """connect(), bound to an address of v6_block: the route makes it
    local, IP_FREEBIND lets a socket bind it without an address entry."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND, for IPv6 too
    s.bind((source, 0))
    s.connect(addr)
    return s


def test_ipv6_sources_are_counted_by_64(dns, proxy_factory, v6_block):
    """A flood from many addresses of one IPv6 /64 is one source: it
    cannot evict the probe of another, even with one slot per address."""
    addr = ("::1", 8080)
    proxy_factory("--health-listen", "[::]:8080")
    flood = [connect_from_block(addr, v6_block(0x100 + i))
             for i in range(16)]
    probe = connect(addr, source="::1")
    time.sleep(0.2)
    for i in range(32):
        flood.append(connect_from_block(addr, v6_block(0x200 + i)))
    time.sleep(0.2)
    probe_answered_then_close(probe, "/livez", flood)
