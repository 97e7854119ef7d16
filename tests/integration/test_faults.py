"""Relay faults (FLT-01 to FLT-09, FLT-16): half-close, resets, refused and
blackholed upstreams, silent peers, full buffers, slowloris."""

import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import pytest

from fakes import SES_GREETING
from helpers import (connect, fd_count, host_of, read_line, recv_exact,
                     recv_until_closed, send_all_nonblocking, set_rst_on_close,
                     wait_for)


@pytest.fixture
def upstream(listener_factory):
    """A test-driven upstream on 127.0.0.2:587 (where the fake DNS points)."""
    return listener_factory("127.0.0.2")


def relayed_pair(upstream):
    client = connect()
    return client, upstream.accept(timeout=5)


def settle_fds(proxy, baseline):
    wait_for(lambda: fd_count(proxy.pid) == baseline, timeout=10,
             what=f"proxy fd count back to {baseline}")


def test_flt01_client_half_close(dns, upstream, proxy_factory):
    proxy = proxy_factory()
    client, up = relayed_pair(upstream)
    client.sendall(b"QUIT\r\n")
    client.shutdown(socket.SHUT_WR)
    assert recv_until_closed(up, timeout=5) == (b"QUIT\r\n", "eof")
    # The upstream's reply still reaches the half-closed client.
    up.sendall(b"221 2.0.0 Bye\r\n")
    assert read_line(client) == b"221 2.0.0 Bye\r\n"
    up.close()
    assert recv_until_closed(client, timeout=5) == (b"", "eof")
    close = proxy.wait_event("conn_close")
    assert close["reason"] == "closed"
    assert (int(close["bytes_in"]), int(close["bytes_out"])) == (6, 15)


def test_flt02_upstream_half_close(dns, upstream, proxy_factory):
    proxy = proxy_factory()
    client, up = relayed_pair(upstream)
    payload = os.urandom(300_000)
    up.sendall(payload)
    up.shutdown(socket.SHUT_WR)
    assert recv_until_closed(client, timeout=10) == (payload, "eof")
    # The other direction stays open until the client ends it.
    client.sendall(b"after upstream FIN\r\n")
    assert read_line(up) == b"after upstream FIN\r\n"
    client.close()
    assert recv_until_closed(up, timeout=5) == (b"", "eof")
    assert proxy.wait_event("conn_close")["reason"] == "closed"


def test_flt03_half_closed_stall_ends_at_idle_timeout(dns, upstream, proxy_factory):
    proxy = proxy_factory("--idle-timeout", "1")
    baseline = fd_count(proxy.pid)
    client, up = relayed_pair(upstream)
    client.shutdown(socket.SHUT_WR)
    assert recv_until_closed(up, timeout=5) == (b"", "eof")
    t = time.monotonic()
    # The upstream never answers nor closes: the idle timeout ends it all.
    assert recv_until_closed(client, timeout=10)[1] in ("eof", "reset")
    assert time.monotonic() - t >= 0.5
    assert proxy.wait_event("conn_close")["reason"] == "idle_timeout"
    client.close()
    settle_fds(proxy, baseline)


@pytest.mark.parametrize("side", ["client", "upstream"])
def test_flt04_reset_propagates_as_reset(dns, upstream, proxy_factory, side):
    proxy = proxy_factory()
    baseline = fd_count(proxy.pid)
    client, up = relayed_pair(upstream)
    # Mid-stream, with nothing left unread anywhere: a plain close() by the
    # proxy would show up as a FIN, only a passed-on reset as a reset.
    up.sendall(b"220 ready\r\n")
    assert read_line(client) == b"220 ready\r\n"
    client.sendall(b"EHLO x\r\n")
    assert read_line(up) == b"EHLO x\r\n"
    aborter, peer = (client, up) if side == "client" else (up, client)
    set_rst_on_close(aborter)
    aborter.close()
    t = time.monotonic()
    assert recv_until_closed(peer, timeout=5) == (b"", "reset")
    assert time.monotonic() - t < 1.0
    expected = "client_reset" if side == "client" else "upstream_reset"
    assert proxy.wait_event("conn_close")["reason"] == expected
    peer.close()
    settle_fds(proxy, baseline)


def test_flt05_refused_address_skipped(dns, ses, proxy_factory):
    dns.set_ses(v4=["127.0.0.4", "127.0.0.2"])  # nothing listens on .4
    proxy = proxy_factory()
    for _ in range(3):
        with connect() as s:
            assert read_line(s) == SES_GREETING
    failed = proxy.wait_event("upstream_connect_failed")
    assert str(host_of(failed["upstream"])) == "127.0.0.4"
    assert ses.connections == 3


def test_connect_failures_logged_at_most_once_a_second(dns, proxy_factory):
    """An SES outage with many clients: every refused connect is counted in
    stats, but upstream_connect_failed is written at most once a second,
    carrying how many lines it suppressed."""
    dns.set_ses(v4=["127.0.0.4"], ttl=300)  # nothing listens on .4
    proxy = proxy_factory("--stats-interval", "1")
    start = time.monotonic()
    for _ in range(30):
        with connect() as s:
            assert read_line(s).startswith(b"421 4.4.0")
    elapsed = time.monotonic() - start
    def counted():
        stats = proxy.named("stats")
        return stats and int(stats[-1]["upstream_failures"]) >= 30
    wait_for(counted, timeout=5, what="30 failures counted in stats")
    lines = proxy.named("upstream_connect_failed")
    assert 1 <= len(lines) <= int(elapsed) + 2, (len(lines), elapsed)


def test_flt05_all_refused_gives_421_and_early_reresolve(dns, proxy_factory):
    dns.set_ses(v4=["127.0.0.4"], ttl=300)
    proxy = proxy_factory()
    queries = dns.query_count()
    t = time.monotonic()
    with connect() as s:
        assert read_line(s).startswith(b"421 4.4.0")
        assert recv_until_closed(s)[1] in ("eof", "reset")
    assert time.monotonic() - t < 3
    assert proxy.wait_event("conn_close")["reason"] == "no_upstream"
    # The README: after a total failure the name is re-resolved early
    # (here long before the 300 s TTL).
    wait_for(lambda: dns.query_count() > queries, timeout=20,
             what="an early re-resolution")


def test_flt06_blackholed_upstream_connect_timeout(dns, listener_factory,
                                                   proxy_factory):
    hole = listener_factory("127.0.0.5", backlog=0)
    hole.fill_queue()  # further SYNs are dropped: connect() hangs
    dns.set_ses(v4=["127.0.0.5"])
    proxy = proxy_factory("--connect-timeout", "1")
    baseline = fd_count(proxy.pid)
    t = time.monotonic()
    with connect(timeout=15) as s:
        line = read_line(s, timeout=15)
        elapsed = time.monotonic() - t
        assert line.startswith(b"421 4.4.0"), line
    assert 0.9 <= elapsed < 6, elapsed
    assert str(host_of(proxy.wait_event("upstream_connect_failed")["upstream"])) \
        == "127.0.0.5"
    assert proxy.wait_event("conn_close")["reason"] == "no_upstream"
    settle_fds(proxy, baseline)


def test_flt06_blackholed_address_then_next_one(dns, ses, listener_factory,
                                                proxy_factory):
    hole = listener_factory("127.0.0.5", backlog=0)
    hole.fill_queue()
    dns.set_ses(v4=["127.0.0.5", "127.0.0.2"])
    proxy = proxy_factory("--connect-timeout", "1")
    for _ in range(2):
        with connect(timeout=15) as s:
            assert read_line(s, timeout=15) == SES_GREETING
    assert ses.connections == 2
    assert proxy.named("upstream_connect_failed")


def test_flt07_silent_upstream_idle_timeout(dns, upstream_factory, proxy_factory):
    silent = upstream_factory("silent", "127.0.0.2")
    proxy = proxy_factory("--idle-timeout", "1")
    with connect() as client:
        t = time.monotonic()
        assert recv_until_closed(client, timeout=10)[0] == b""
        assert time.monotonic() - t >= 0.5
    assert proxy.wait_event("conn_close")["reason"] == "idle_timeout"
    wait_for(lambda: silent.connections == 1 and silent.open == 0, timeout=5,
             what="the upstream side to be closed too")


def _one_direction_can_hold():
    """Bytes the kernel may buffer in one relayed direction: the sender's
    send buffer, the proxy's receive and send buffers, the receiver's
    receive buffer (tcp_wmem and tcp_rmem maxima: 32 MiB for tcp_rmem
    since Linux 6.x), and the proxy's pipe (PUMP_PIPE_SIZE, 1 MiB)."""
    def maximum(name):
        return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
    return 2 * (maximum("tcp_rmem") + maximum("tcp_wmem")) + (1 << 20)


def test_flt08_idle_timer_fires_with_full_buffers(dns, upstream, proxy_factory):
    # 2 s: the second direction's writes (below, 1 s) end well before the
    # relay can call the session idle, even if that direction fills at once
    # (with 1 s the two raced: the relay reset the socket being written)
    proxy = proxy_factory("--idle-timeout", "2")
    client, up = relayed_pair(upstream)
    # more than both ends and the proxy can buffer, so each send stops
    blob = os.urandom(_one_direction_can_hold() + (8 << 20))
    # Neither side reads: both directions fill up and stop.
    to_up = send_all_nonblocking(client, blob, 1.0)
    to_client = send_all_nonblocking(up, blob, 1.0)
    assert 0 < to_up < len(blob) and 0 < to_client < len(blob)
    close = proxy.wait_event("conn_close", timeout=10)
    assert close["reason"] == "idle_timeout"
    for s in (client, up):
        # Whatever sits in the buffers, the stream now ends.
        assert recv_until_closed(s, timeout=10)[1] in ("eof", "reset")


def test_flt09_slowloris_cut_at_max_session(dns, upstream_factory, proxy_factory):
    upstream_factory("greet_echo", "127.0.0.2")
    proxy = proxy_factory("--max-session", "3", "--idle-timeout", "2")
    client = connect()
    t = time.monotonic()
    assert read_line(client) == SES_GREETING
    closed_at = None
    for i in range(10):  # one byte a second: never idle for 2 s
        try:
            client.sendall(b"x")
            if recv_exact(client, 1, timeout=2) != b"x":
                break
        except (ConnectionError, AssertionError, socket.timeout):
            closed_at = time.monotonic() - t
            break
        time.sleep(1)
    client.close()
    assert closed_at is not None, "a 3 s max session was still open after 10 s"
    assert 2.5 <= closed_at <= 8, closed_at
    assert proxy.wait_event("conn_close")["reason"] == "max_session"


def test_max_session_zero_disables(dns, upstream_factory, proxy_factory):
    upstream_factory("greet_echo", "127.0.0.2")
    proxy_factory("--max-session", "0", "--idle-timeout", "2")
    with connect() as client:
        assert read_line(client) == SES_GREETING
        for _ in range(4):
            client.sendall(b"y")
            assert recv_exact(client, 1, timeout=2) == b"y"
            time.sleep(1)


LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def test_flt16_clock_jump(dns, upstream_factory, proxy_factory):
    """FLT-16: the wall clock jumps a week ahead, then a month back, during a
    session; the idle timeout (CLOCK_MONOTONIC) neither fires early nor
    late. libfaketime's LD_PRELOAD reaches only a dynamic binary, so this
    runs with the sanitizer build (make asan) and is skipped otherwise."""
    if os.environ.get("SES_IT_SANITIZER") != "1":
        pytest.skip("needs the dynamic sanitizer build (make asan): "
                    "LD_PRELOAD cannot reach the static release binary")
    # World-readable: the proxy reads it again after dropping to 65534.
    spec_dir = Path(tempfile.mkdtemp(prefix="flt16-"))
    spec_dir.chmod(0o755)
    spec = spec_dir / "faketime"
    spec.write_text("+0\n")
    spec.chmod(0o644)
    env = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": str(spec),
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
           ":verify_asan_link_order=0"}
    upstream_factory("greet_echo", "127.0.0.2")
    proxy = proxy_factory("--idle-timeout", "3", env=env,
                          wait_listening=False, wait_resolved=False)
    try:
        proxy.wait_event("upstream_resolved", timeout=15)
    except AssertionError:
        if proxy.events:
            raise
        # Seen once in CI: the ASan runtime and libfaketime's constructor
        # can hang the start of the process (a tool interaction; the
        # release binary has neither). Not a verdict on the proxy.
        proxy.terminate(signal.SIGKILL)
        proxy.wait(10)
        shutil.rmtree(spec_dir, ignore_errors=True)
        pytest.skip("ASan + libfaketime hung at process start; FLT-16 not "
                    "measured in this run")
    try:
        with connect() as client:
            assert read_line(client) == SES_GREETING
            spec.write_text("+7d\n")
            # A wall-clock idle timer would see a week of silence now.
            time.sleep(1)
            client.sendall(b"x")
            assert recv_exact(client, 1, timeout=2) == b"x"
            spec.write_text("-30d\n")
            start = time.monotonic()
            how = recv_until_closed(client, timeout=10)[1]
            elapsed = time.monotonic() - start
        assert how in ("eof", "reset")
        assert 2 <= elapsed <= 6, elapsed
        close = proxy.wait_event("conn_close")
        assert close["reason"] == "idle_timeout"
        # The jump was real for the process: its log clock moved back.
        assert close["ts"] < proxy.named("conn_open")[0]["ts"]
    finally:
        shutil.rmtree(spec_dir, ignore_errors=True)


# --------------------------------------------------------------------------
# TCP urgent data: a read stops at the urgent mark, a splice cannot step
# over it. Neither may stall a session or end it early. (The urgent byte
# itself is consumed out of band, as every byte-stream relay that does not
# set SO_OOBINLINE does; SMTP has no use for it.)
# --------------------------------------------------------------------------

def _all_queued_before_connect(dns, listener_factory, proxy_factory, send):
    """The client's bytes all wait in the proxy's receive queue while its
    upstream connect hangs in a full accept queue; then the connect lands."""
    hole = listener_factory("127.0.0.5", backlog=0)
    hole.fill_queue()
    dns.set_ses(v4=["127.0.0.5"])
    proxy = proxy_factory("--connect-timeout", "10", "--idle-timeout", "30")
    client = connect()
    send(client)
    time.sleep(0.3)
    hole.pending()
    for c in hole.accepted:
        c.close()
    hole.accepted.clear()
    return proxy, client, hole.accept(timeout=10)


def test_urgent_data_does_not_stall_a_small_write(dns, listener_factory,
                                                  proxy_factory):
    def send(c):
        c.send(b"AAAA")
        c.send(b"B", socket.MSG_OOB)
        c.send(b"CCCC\r\n")
    _, client, up = _all_queued_before_connect(dns, listener_factory,
                                               proxy_factory, send)
    assert recv_exact(up, 10, timeout=5) == b"AAAACCCC\r\n"
    client.close()
    up.close()


def test_urgent_data_in_bulk_is_no_eof(dns, listener_factory, proxy_factory):
    bulk = b"X" * 20000

    def send(c):
        c.send(bulk + b"AAAA")
        c.send(b"B", socket.MSG_OOB)
        c.send(b"CCCC\r\n")
        c.shutdown(socket.SHUT_WR)
    proxy, client, up = _all_queued_before_connect(dns, listener_factory,
                                                   proxy_factory, send)
    got, how = recv_until_closed(up, timeout=10)
    assert (len(got), how) == (len(bulk) + 10, "eof")
    assert got == bulk + b"AAAACCCC\r\n"
    up.close()
    back, how = recv_until_closed(client, timeout=10)
    assert (back, how) == (b"", "eof")
    closed = proxy.wait_event("conn_close")
    assert closed["reason"] == "closed" and int(closed["bytes_in"]) == len(got)
