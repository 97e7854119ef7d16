"""Load (LOAD-02, LOAD-03, LOAD-05, LOAD-06, LOAD-07) and client admission
(--max-conns, --allow-client). Counts are bounded and small enough for 2
cores."""

import hashlib
import os
import socket
import threading
import time

from fakes import SES_GREETING
from helpers import (close_wait_count, connect, fd_count, read_line,
                     recv_exact, recv_until_closed, rss_kib,
                     send_all_nonblocking, set_rst_on_close, wait_for)
from proxyproc import UNDER_VALGRIND

RSS_LIMIT_KIB = 20 * 1024


def refused_with(prefix, **kw):
    with connect(**kw) as c:
        line = read_line(c)
        rest, how = recv_until_closed(c, timeout=5)
    assert line.startswith(prefix), line
    assert rest == b"" and how in ("eof", "reset")


# --------------------------------------------------------------------------
# Admission
# --------------------------------------------------------------------------

def test_load02_max_conns(dns, ses, proxy_factory):
    proxy = proxy_factory("--max-conns", "5")
    held = [connect() for _ in range(5)]
    for c in held:
        assert read_line(c) == SES_GREETING
    for _ in range(50):
        refused_with(b"421 4.3.2")
    assert ses.connections == 5
    rejected = proxy.named("conn_rejected")
    assert rejected and all(e["reason"] == "max_conns" for e in rejected)
    # Rate-limited logging: logged plus suppressed never exceeds 50.
    assert sum(1 + int(e.get("suppressed", 0)) for e in rejected) <= 50
    for c in held:
        c.close()
    proxy.wait_count("conn_close", 5)
    # Service recovers.
    again = [connect() for _ in range(5)]
    for c in again:
        assert read_line(c) == SES_GREETING
        c.close()
    assert ses.connections == 10


def test_allow_client_denies_others_without_touching_ses(dns, ses, proxy_factory):
    proxy = proxy_factory("--allow-client", "127.0.0.5/32")
    refused_with(b"554 5.7.1")
    assert ses.connections == 0
    rejected = proxy.wait_event("conn_rejected")
    assert rejected["reason"] == "access_denied"
    assert str(rejected["client"]).startswith("127.0.0.1")
    with connect(source="127.0.0.5") as c:
        assert read_line(c) == SES_GREETING
    assert ses.connections == 1


def test_allow_clients_from_env_and_ipv6_client(dns, ses, proxy_factory):
    proxy_factory("--listen", "[::1]:1587",
                  env={"ALLOW_CLIENTS": "127.0.0.0/8"})
    refused_with(b"554 5.7.1", addr=("::1", 1587))
    assert ses.connections == 0


# --------------------------------------------------------------------------
# Churn and fd leaks
# --------------------------------------------------------------------------

def test_load03_churn_leaves_no_fds_or_close_wait(dns, upstream_factory,
                                                  proxy_factory):
    up = upstream_factory("greet_echo", "127.0.0.2")
    proxy = proxy_factory()
    with connect() as c:
        assert read_line(c) == SES_GREETING
    proxy.wait_count("conn_close", 1)
    wait_for(lambda: up.open == 0, timeout=5, what="warm-up closed")
    base_fds = fd_count(proxy.pid)
    cycles = 2000
    for i in range(cycles):
        c = connect()
        if i % 4 < 2:  # half read the greeting first, half close at once
            assert read_line(c) == SES_GREETING
        if i % 2:  # half of them end with a reset
            set_rst_on_close(c)
        c.close()
    proxy.wait_count("conn_close", cycles + 1, timeout=60)
    wait_for(lambda: fd_count(proxy.pid) == base_fds, timeout=10,
             what=f"proxy fds back to {base_fds} (now {fd_count(proxy.pid)})")
    wait_for(lambda: close_wait_count() == 0, timeout=10,
             what="no CLOSE_WAIT sockets on 1587/587")
    wait_for(lambda: up.open == 0, timeout=10,
             what="every upstream connection closed")
    reasons = {e["reason"] for e in proxy.named("conn_close")}
    assert reasons <= {"closed", "client_reset"}, reasons
    assert proxy.alive()


# --------------------------------------------------------------------------
# Volume
# --------------------------------------------------------------------------

def _pump(sock, data):
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def _drain(sock, out):
    h, n = hashlib.sha256(), 0
    sock.settimeout(60)
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    out.append((n, h.digest()))


def test_load05_64mib_each_way_at_once(dns, listener_factory, proxy_factory):
    upstream = listener_factory("127.0.0.2")
    proxy = proxy_factory()
    up_data, down_data = os.urandom(64 << 20), os.urandom(64 << 20)
    client = connect(timeout=60)
    up = upstream.accept()
    at_up, at_client = [], []
    threads = [threading.Thread(target=_pump, args=(client, up_data)),
               threading.Thread(target=_pump, args=(up, down_data)),
               threading.Thread(target=_drain, args=(up, at_up)),
               threading.Thread(target=_drain, args=(client, at_client))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert at_up == [(len(up_data), hashlib.sha256(up_data).digest())]
    assert at_client == [(len(down_data), hashlib.sha256(down_data).digest())]
    client.close()
    up.close()
    close = proxy.wait_event("conn_close")
    assert close["reason"] == "closed"
    assert int(close["bytes_in"]) == int(close["bytes_out"]) == 64 << 20


def test_load06_backpressure_slow_reader(dns, listener_factory, proxy_factory):
    """The upstream reads 1 KiB every 0.1 s while the client writes as fast
    as it can: the client is soon blocked, the proxy's memory stays small;
    once the reader speeds up everything arrives intact."""
    upstream = listener_factory("127.0.0.2")
    proxy = proxy_factory("--idle-timeout", "30")
    rss0 = rss_kib(proxy.pid) if UNDER_VALGRIND else 0  # valgrind's own
    blob = os.urandom(96 << 20)
    client = connect(timeout=60)
    up = upstream.accept()
    stop, got = threading.Event(), []

    def slow_reader():
        while not stop.is_set():
            got.append(up.recv(1024))
            time.sleep(0.1)
    reader = threading.Thread(target=slow_reader)
    reader.start()
    sent = send_all_nonblocking(client, blob, 3.0)
    later = send_all_nonblocking(client, memoryview(blob)[sent:], 1.0)
    rss = rss_kib(proxy.pid) - rss0
    stop.set()
    reader.join(5)
    assert sent < len(blob), "the writer was never blocked"
    assert later <= 1 << 20, f"{later} bytes taken in 1 s by a 10 KiB/s reader"
    assert rss < RSS_LIMIT_KIB, f"proxy RSS {rss} KiB"
    # Speed up: everything arrives, in order.
    rest = []
    drainer = threading.Thread(target=_drain, args=(up, rest))
    drainer.start()
    _pump(client, memoryview(blob)[sent + later:])
    drainer.join(90)
    slow = b"".join(got)
    assert rest and rest[0][0] + len(slow) == len(blob)
    assert slow == blob[:len(slow)]
    assert rest[0][1] == hashlib.sha256(blob[len(slow):]).digest()
    client.close()
    up.close()


def test_load07_many_tiny_writes_keep_order(dns, listener_factory, proxy_factory):
    upstream = listener_factory("127.0.0.2")
    proxy_factory()
    count = 100_000
    expected = bytes(i % 251 for i in range(count))
    client = connect(timeout=30)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = upstream.accept()
    received = []
    reader = threading.Thread(
        target=lambda: received.append(recv_exact(up, count, timeout=60)))
    reader.start()
    for i in range(count):
        client.send(expected[i:i + 1])
    reader.join(60)
    assert received and received[0] == expected
    client.close()
    up.close()
