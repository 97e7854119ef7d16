"""Bad input (INP-01, INP-02, INP-03): opaque bytes, talking before the banner, and a
flood while the upstream connect hangs."""

import hashlib
import os
import socket
import threading
import time

from fakes import SES_GREETING
from helpers import (connect, read_line, read_reply, recv_exact,
                     recv_until_closed, rss_kib, send_all_nonblocking,
                     set_rst_on_close)
from proxyproc import UNDER_VALGRIND

RSS_LIMIT_KIB = 20 * 1024


def test_inp01_random_bytes_both_ways_through_echo(dns, upstream_factory,
                                                   proxy_factory):
    """10 MiB of random bytes (NULs, CR/LF in odd places, long lines), sent
    and echoed at the same time: the relay does not parse SMTP."""
    upstream_factory("echo", "127.0.0.2")
    proxy = proxy_factory()
    data = os.urandom(10 << 20)
    with connect(timeout=30) as client:
        sender = threading.Thread(target=client.sendall, args=(data,))
        sender.start()
        echoed = recv_exact(client, len(data), timeout=60)
        sender.join(30)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
    close = proxy.wait_event("conn_close")
    assert int(close["bytes_in"]) == int(close["bytes_out"]) == len(data)


def test_inp02_pipelined_commands_before_greeting_with_ses(dns, ses, proxy_factory):
    proxy_factory()
    with connect() as client:
        client.sendall(b"EHLO early.example.com\r\nNOOP\r\nQUIT\r\n")
        assert read_line(client) == SES_GREETING
        assert read_reply(client).startswith(b"250-email-smtp.amazonaws.com")
        assert read_reply(client).startswith(b"250")
        assert read_reply(client).startswith(b"221")
        assert recv_until_closed(client) == (b"", "eof")


def test_inp02_early_bytes_reach_upstream_in_order(dns, listener_factory,
                                                   proxy_factory):
    upstream = listener_factory("127.0.0.2")
    proxy_factory()
    early = (b"EHLO early.example.com\r\nMAIL FROM:<a@example.com>\r\n"
             b"RCPT TO:<b@example.com>\r\nDATA\r\n")
    with connect() as client:
        client.sendall(early)
        up = upstream.accept()
        up.sendall(SES_GREETING)
        assert read_line(client) == SES_GREETING
        assert recv_exact(up, len(early)) == early
        up.sendall(b"250 ok\r\n")
        assert read_line(client) == b"250 ok\r\n"


def test_inp02_early_bytes_and_fin_kept_through_a_slow_connect(
        dns, listener_factory, proxy_factory):
    """The client sends its bytes and half-closes while the upstream's
    handshake is still pending (its SYN dropped by a full accept queue):
    both wait in the client socket, and once the connect completes they
    reach the upstream in order, the FIN after the bytes; the other
    direction still works after the client's half-close."""
    slow = listener_factory("127.0.0.5", backlog=0)
    slow.fill_queue()
    dns.set_ses(v4=["127.0.0.5"])
    proxy = proxy_factory("--connect-timeout", "10")
    early = b"EHLO early.example.com\r\nQUIT\r\n"
    with connect() as client:
        client.sendall(early)
        client.shutdown(socket.SHUT_WR)
        time.sleep(0.5)         # the proxy's first SYN is dropped meanwhile
        assert proxy.named("conn_close") == []
        # room in the queue: the SYN's retransmission (after ~1 s) gets in
        for _ in slow._fillers:
            slow.accept()
        up = slow.accept(timeout=10.0)
        assert recv_until_closed(up) == (early, "eof")
        up.sendall(SES_GREETING)
        assert read_line(client) == SES_GREETING
        up.close()
        assert recv_until_closed(client) == (b"", "eof")
    close = proxy.wait_event("conn_close")
    assert close["reason"] == "closed"
    assert int(close["bytes_in"]) == len(early)
    assert int(close["bytes_out"]) == len(SES_GREETING)


def test_client_reset_during_a_slow_connect_ends_the_session(
        dns, listener_factory, proxy_factory):
    """A client that resets while the upstream's handshake is pending is
    not kept waiting for: its session ends at once as client_reset, well
    before --connect-timeout, and no upstream connection is left for it."""
    slow = listener_factory("127.0.0.5", backlog=0)
    slow.fill_queue()
    dns.set_ses(v4=["127.0.0.5"])
    proxy = proxy_factory("--connect-timeout", "30")
    client = connect()
    proxy.wait_event("conn_open")
    set_rst_on_close(client)
    client.close()
    close = proxy.wait_event("conn_close", timeout=10)
    assert close["reason"] == "client_reset"
    assert int(close["bytes_in"]) == int(close["bytes_out"]) == 0
    # room in the queue again: a connect still in progress would now get
    # in with its SYN's retransmission (after ~1 s); the abandoned one
    # does not
    assert slow.pending() == len(slow._fillers)
    time.sleep(1.5)
    assert slow.pending() == 0


def test_inp03_flood_while_upstream_connect_hangs(dns, listener_factory,
                                                  proxy_factory):
    """The upstream never completes the handshake (its accept queue is full)
    while the client floods: the proxy does not read, so the client's send
    stops early and the proxy's memory stays small."""
    hole = listener_factory("127.0.0.5", backlog=0)
    hole.fill_queue()
    dns.set_ses(v4=["127.0.0.5"])
    proxy = proxy_factory("--connect-timeout", "10")
    rss0 = rss_kib(proxy.pid) if UNDER_VALGRIND else 0  # valgrind's own
    flood = bytes(100 << 20)
    with connect() as client:
        sent = send_all_nonblocking(client, flood, 3.0)
        more = send_all_nonblocking(client, memoryview(flood)[sent:], 1.0)
        rss = rss_kib(proxy.pid) - rss0
        assert sent < 32 << 20, f"{sent} bytes accepted before any upstream"
        assert more == 0, "the client could still send: someone reads"
        assert rss < RSS_LIMIT_KIB, f"proxy RSS {rss} KiB"
        assert proxy.named("conn_close") == []
