"""--proxy-protocol (issue 6, client identity behind an NLB): each new
connection starts with one HAProxy PROXY header, v1 or v2, built here by
hand. A PROXY header's source is the client (for --allow-client and the
logs); LOCAL and UNKNOWN keep the socket's own peer; a bad, late or cut
header closes the connection with nothing written and nothing sent to SES.
Without the flag a header is just bytes, relayed like any others."""

import ipaddress
import socket
import struct
import time

import pytest

from fakes import SES_GREETING
from helpers import (connect, read_line, recv_exact, recv_until_closed,
                     wait_for)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
HEADER_TIMEOUT_S = 5        # the proxy's constant
SMTP_FIRST = b"EHLO client.example.com\r\n"
PP = "--proxy-protocol"


# --------------------------------------------------------------------------
# Headers
# --------------------------------------------------------------------------

def v1(src, dst, sport, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def tlv(kind, value):
    return bytes([kind]) + struct.pack("!H", len(value)) + value


# What an NLB behind a VPC endpoint service adds: PP2_TYPE_AWS, subtype
# PP2_SUBTYPE_AWS_VPCE_ID, then the endpoint id.
AWS_VPCE = tlv(0xEA, b"\x01vpce-08d2bf15fac5001c9")


def v2_raw(ver_cmd, fam, body):
    return V2_SIG + bytes([ver_cmd, fam]) + struct.pack("!H", len(body)) + body


def v2(src, dst, sport, dport, tlvs=b""):
    """A v2 PROXY header for a TCP connection from src to dst."""
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if s.version == 4 else 0x21
    return v2_raw(0x21, fam, s.packed + d.packed
                  + struct.pack("!HH", sport, dport) + tlvs)


def v2_local(fam=0x00, block=b""):
    """v2 LOCAL, as an NLB health check sends it."""
    return v2_raw(0x20, fam, block)


def endpoint(host, port):
    """ADDR:PORT as the proxy logs it, IPv6 in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sock_endpoint(sock):
    host, port = sock.getsockname()[:2]
    return endpoint(host, port)


def send_and_expect_silent_close(client, data, timeout=HEADER_TIMEOUT_S + 10):
    """Send data (it may be refused half way: the proxy can close first),
    then the proxy must close without having written a byte."""
    try:
        client.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    rest, how = recv_until_closed(client, timeout=timeout)
    assert rest == b"", rest
    assert how in ("eof", "reset"), how


def relayed_upstream(listener, client):
    """The upstream side of the client's session: the test plays SES and
    passes its greeting on."""
    up = listener.accept()
    up.sendall(SES_GREETING)
    assert read_line(client) == SES_GREETING
    return up


def upstream_bytes_after_close(up, client):
    """Everything the upstream got once the client has closed; then the
    upstream closes too, which ends the session."""
    client.shutdown(socket.SHUT_WR)
    data, how = recv_until_closed(up, timeout=10)
    assert how == "eof", how
    up.close()
    return data


# --------------------------------------------------------------------------
# The header names the client
# --------------------------------------------------------------------------

CLIENTS = {
    "v1-tcp4": (v1("203.0.113.7", "198.51.100.1", 40001, 1587),
                "203.0.113.7:40001"),
    "v1-tcp6": (v1("2001:db8::7", "2001:db8::1", 40002, 1587),
                "[2001:db8::7]:40002"),
    "v1-tcp6-v4mapped": (v1("::ffff:203.0.113.9", "::ffff:198.51.100.1",
                            40003, 1587), "203.0.113.9:40003"),
    "v2-tcp4": (v2("203.0.113.7", "198.51.100.1", 40004, 1587),
                "203.0.113.7:40004"),
    "v2-tcp6": (v2("2001:db8::7", "2001:db8::1", 65535, 1587),
                "[2001:db8::7]:65535"),
    "v2-tcp4-aws-vpce": (v2("203.0.113.7", "198.51.100.1", 40005, 1587,
                            AWS_VPCE + tlv(0x04, b"")),
                         "203.0.113.7:40005"),
    "v2-tcp4-1024-bytes": (v2("203.0.113.7", "198.51.100.1", 40006, 1587,
                              tlv(0x04, bytes(1024 - 28 - 3))),
                           "203.0.113.7:40006"),
}


@pytest.mark.parametrize("kind", list(CLIENTS))
def test_header_source_is_the_client_and_never_reaches_ses(
        dns, listener_factory, proxy_factory, kind):
    """Header and first SMTP bytes in one segment: the upstream gets exactly
    the SMTP bytes (none lost, none of the header), and the logs name the
    header's source as client and the socket's peer as via."""
    header, client_ep = CLIENTS[kind]
    if kind == "v2-tcp4-1024-bytes":
        assert len(header) == 1024
    upstream = listener_factory("127.0.0.2")
    proxy = proxy_factory(PP)
    with connect() as client:
        client.sendall(header + SMTP_FIRST)
        up = relayed_upstream(upstream, client)
        assert recv_exact(up, len(SMTP_FIRST)) == SMTP_FIRST
        up.sendall(b"250 ok\r\n")
        assert read_line(client) == b"250 ok\r\n"
        client.sendall(b"QUIT\r\n")
        assert upstream_bytes_after_close(up, client) == b"QUIT\r\n"
        via = sock_endpoint(client)
    opened = proxy.wait_event("conn_open")
    assert opened["client"] == client_ep
    assert opened["via"] == via
    closed = proxy.wait_event("conn_close")
    assert closed["conn"] == opened["conn"]
    assert closed["client"] == client_ep


@pytest.mark.parametrize("kind", ["v1-tcp4", "v2-tcp6"])
def test_header_in_pieces_then_data(dns, listener_factory, proxy_factory,
                                    kind):
    """The header arrives a byte at a time, the SMTP bytes after a pause:
    the proxy waits for the rest of the header and loses nothing."""
    header, client_ep = CLIENTS[kind]
    upstream = listener_factory("127.0.0.2")
    proxy = proxy_factory(PP)
    with connect() as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(header)):
            client.send(header[i:i + 1])
            time.sleep(0.005)
        time.sleep(0.2)
        client.sendall(SMTP_FIRST)
        up = relayed_upstream(upstream, client)
        assert upstream_bytes_after_close(up, client) == SMTP_FIRST
    assert proxy.wait_event("conn_open")["client"] == client_ep


def test_header_on_an_ipv6_listener(dns, ses, proxy_factory):
    """via in brackets for an IPv6 peer; an IPv4 source from the header."""
    proxy = proxy_factory(PP, "--listen", "[::1]:1587")
    with connect(("::1", 1587)) as client:
        client.sendall(v2("192.0.2.44", "192.0.2.1", 1234, 1587))
        assert read_line(client) == SES_GREETING
        via = sock_endpoint(client)
    opened = proxy.wait_event("conn_open")
    assert opened["client"] == "192.0.2.44:1234"
    assert opened["via"] == via and via.startswith("[::1]:")


# --------------------------------------------------------------------------
# --allow-client judges the header's source, not the socket's
# --------------------------------------------------------------------------

@pytest.mark.parametrize("make", [v1, v2], ids=["v1", "v2"])
def test_allowed_source_in_header_admitted_from_unlisted_socket(
        dns, ses, proxy_factory, make):
    proxy = proxy_factory(PP, "--allow-client", "203.0.113.0/24")
    with connect() as client:           # from 127.0.0.1: not in the list
        client.sendall(make("203.0.113.7", "198.51.100.1", 5555, 1587))
        assert read_line(client) == SES_GREETING
    assert ses.connections == 1
    assert proxy.wait_event("conn_open")["client"] == "203.0.113.7:5555"
    assert proxy.named("conn_rejected") == []


@pytest.mark.parametrize("make", [v1, v2], ids=["v1", "v2"])
def test_denied_source_in_header_refused_from_listed_socket(
        dns, ses, proxy_factory, make):
    """The socket's peer (127.0.0.1) is allowed, the header's source is
    not: 554 and close, SES untouched."""
    proxy = proxy_factory(PP, "--allow-client", "127.0.0.0/8",
                          "--allow-client", "203.0.113.0/24")
    with connect() as client:
        client.sendall(make("198.51.100.7", "198.51.100.1", 6666, 1587)
                       + SMTP_FIRST)
        line = read_line(client)
        rest, how = recv_until_closed(client, timeout=5)
    assert line.startswith(b"554 5.7.1 Access denied"), line
    assert rest == b"" and how in ("eof", "reset")
    rejected = proxy.wait_event("conn_rejected")
    assert rejected["reason"] == "access_denied"
    assert rejected["client"] == "198.51.100.7:6666"
    assert ses.connections == 0


def test_ipv6_source_judged_against_ipv6_prefixes(dns, ses, proxy_factory):
    proxy = proxy_factory(PP, "--allow-client", "2001:db8:1::/48")
    with connect() as client:
        client.sendall(v1("2001:db8:1::5", "2001:db8::1", 7, 1587))
        assert read_line(client) == SES_GREETING
    with connect() as client:
        client.sendall(v2("2001:db8:2::5", "2001:db8::1", 8, 1587))
        assert read_line(client).startswith(b"554 5.7.1")
    assert ses.connections == 1
    assert proxy.wait_event("conn_rejected")["client"] == "[2001:db8:2::5]:8"


# --------------------------------------------------------------------------
# LOCAL and UNKNOWN: the socket's own peer is the client
# --------------------------------------------------------------------------

LOCALS = {
    "v2-local": v2_local(),
    "v2-local-with-block": v2_local(0x11, bytes(range(12)) + AWS_VPCE),
    "v2-proxy-unspec": v2_raw(0x21, 0x00, b""),
    "v1-unknown": b"PROXY UNKNOWN\r\n",
    "v1-unknown-with-addresses":
        b"PROXY UNKNOWN 203.0.113.7 198.51.100.1 1 2\r\n",
}


@pytest.mark.parametrize("kind", list(LOCALS))
def test_local_and_unknown_keep_the_socket_peer(dns, ses, proxy_factory,
                                                kind):
    proxy = proxy_factory(PP, "--allow-client", "127.0.0.5/32")
    with connect(source="127.0.0.5") as client:
        client.sendall(LOCALS[kind] + b"NOOP\r\n")
        assert read_line(client) == SES_GREETING
        assert read_line(client).startswith(b"250")
        peer = sock_endpoint(client)
    opened = proxy.wait_event("conn_open")
    assert opened["client"] == peer
    assert opened.get("via", peer) == peer
    assert ses.connections == 1


@pytest.mark.parametrize("kind", ["v2-local", "v1-unknown"])
def test_local_from_a_denied_socket_is_denied(dns, ses, proxy_factory, kind):
    """LOCAL does not bypass --allow-client: the socket's peer is judged."""
    proxy = proxy_factory(PP, "--allow-client", "127.0.0.5/32")
    with connect() as client:           # from 127.0.0.1
        client.sendall(LOCALS[kind])
        assert read_line(client).startswith(b"554 5.7.1")
    assert proxy.wait_event("conn_rejected")["reason"] == "access_denied"
    assert ses.connections == 0


# --------------------------------------------------------------------------
# Bad, late or cut headers
# --------------------------------------------------------------------------

INVALID = {
    "plain-smtp": SMTP_FIRST,
    "http": b"GET / HTTP/1.0\r\n\r\n",
    "lowercase": b"proxy TCP4 203.0.113.7 198.51.100.1 1 2\r\n",
    "v1-double-space": b"PROXY TCP4  203.0.113.7 198.51.100.1 1 2\r\n",
    "v1-port-leading-zero": b"PROXY TCP4 203.0.113.7 198.51.100.1 01 2\r\n",
    "v1-port-65536": b"PROXY TCP4 203.0.113.7 198.51.100.1 65536 2\r\n",
    "v1-tcp4-with-ipv6": b"PROXY TCP4 2001:db8::7 2001:db8::1 1 2\r\n",
    "v1-no-cr": b"PROXY TCP4 203.0.113.7 198.51.100.1 1 2\n" + SMTP_FIRST,
    "v1-over-107-bytes": b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
    "v2-bad-signature": b"\r\n\r\n\x00\r\nQUIX\n" + bytes(40),
    "v2-version-1": v2_raw(0x11, 0x11, bytes(12)),
    "v2-command-2": v2_raw(0x22, 0x11, bytes(12)),
    "v2-af-unix": v2_raw(0x21, 0x31, bytes(216)),
    "v2-udp": v2_raw(0x21, 0x12, bytes(12)),
    "v2-short-for-tcp6": v2_raw(0x21, 0x21, bytes(12)),
    "v2-over-1024-bytes": v2("203.0.113.7", "198.51.100.1", 1, 2,
                             tlv(0x04, bytes(1024 - 28 - 2))),
    "v2-truncated-tlv": v2("203.0.113.7", "198.51.100.1", 1, 2, b"\xea\x00"),
    "v2-tlv-past-end": v2("203.0.113.7", "198.51.100.1", 1, 2,
                          b"\xea\x00\x09\x01vpce"),
}


@pytest.mark.parametrize("kind", list(INVALID))
def test_invalid_header_closed_silently_without_ses(dns, ses, proxy_factory,
                                                   kind):
    proxy = proxy_factory(PP)
    t = time.monotonic()
    with connect() as client:
        send_and_expect_silent_close(client, INVALID[kind])
    # At once, not at the header timeout (bound kept loose).
    assert time.monotonic() - t < HEADER_TIMEOUT_S - 1
    rejected = proxy.wait_event("conn_rejected")
    assert rejected["reason"] == "proxy_header_invalid"
    assert rejected["level"] == "warn"
    assert str(rejected["client"]).startswith("127.0.0.1:")
    assert ses.connections == 0
    assert proxy.named("conn_open") == []


@pytest.mark.parametrize("sent", [b"", b"PROXY TCP4 203.0.113.7 19",
                                  V2_SIG + b"\x21\x11\x00"],
                         ids=["nothing", "v1-prefix", "v2-prefix"])
def test_no_complete_header_in_time_closed_silently(dns, ses, proxy_factory,
                                                    sent):
    proxy = proxy_factory(PP)
    t = time.monotonic()
    with connect() as client:
        send_and_expect_silent_close(client, sent,
                                     timeout=HEADER_TIMEOUT_S + 10)
    elapsed = time.monotonic() - t
    assert 1 < elapsed < HEADER_TIMEOUT_S + 10, elapsed
    rejected = proxy.wait_event("conn_rejected")
    assert rejected["reason"] == "proxy_header_timeout"
    assert ses.connections == 0
    assert proxy.named("conn_open") == []


@pytest.mark.parametrize("sent", [b"PROXY TCP6 2001:db8::", V2_SIG[:7]],
                         ids=["v1-prefix", "v2-prefix"])
def test_closed_mid_header(dns, ses, proxy_factory, sent):
    """The client half-closes before the header is complete: the proxy
    closes too, at once, writing nothing."""
    proxy = proxy_factory(PP)
    t = time.monotonic()
    with connect() as client:
        client.sendall(sent)
        client.shutdown(socket.SHUT_WR)
        rest, how = recv_until_closed(client, timeout=HEADER_TIMEOUT_S + 10)
    assert rest == b"" and how in ("eof", "reset")
    assert time.monotonic() - t < HEADER_TIMEOUT_S - 1
    rejected = proxy.wait_event("conn_rejected")
    assert rejected["reason"] == "proxy_header_invalid"
    assert ses.connections == 0


def test_closed_before_any_byte(dns, ses, proxy_factory):
    """A bare connect and half-close (a TCP probe): closed at once, SES
    untouched, no session. Whether it is logged is not specified."""
    proxy = proxy_factory(PP)
    t = time.monotonic()
    with connect() as client:
        client.shutdown(socket.SHUT_WR)
        rest, how = recv_until_closed(client, timeout=HEADER_TIMEOUT_S + 10)
    assert rest == b"" and how in ("eof", "reset")
    assert time.monotonic() - t < HEADER_TIMEOUT_S - 1
    assert ses.connections == 0
    assert proxy.named("conn_open") == []
    # (sandbox_disabled: the ASan and valgrind builds say so at error level)
    assert [e for e in proxy.events if e.get("level") == "error"
            and e.get("event") != "sandbox_disabled"] == []


def test_invalid_header_rejections_are_rate_limited(dns, ses, proxy_factory):
    """Many bad headers in a burst: at most one conn_rejected line a second,
    and the next line carries how many were left out."""
    proxy = proxy_factory(PP)
    burst = 20
    t = time.monotonic()
    for _ in range(burst):
        with connect() as client:
            send_and_expect_silent_close(client, b"GET / HTTP/1.0\r\n\r\n")
    burst_s = time.monotonic() - t
    time.sleep(1.2)
    with connect() as client:
        send_and_expect_silent_close(client, b"GET / HTTP/1.0\r\n\r\n")

    def total():
        lines = proxy.named("conn_rejected", reason="proxy_header_invalid")
        return sum(1 + int(e.get("suppressed", 0)) for e in lines)
    wait_for(lambda: total() == burst + 1, timeout=5,
             what=f"{burst + 1} rejections counted")
    lines = proxy.named("conn_rejected", reason="proxy_header_invalid")
    assert 2 <= len(lines) <= int(burst_s) + 3, (lines, burst_s)
    assert ses.connections == 0


def test_valid_session_after_rejections(dns, ses, proxy_factory):
    """A bad header costs only its own connection."""
    proxy = proxy_factory(PP)
    with connect() as client:
        send_and_expect_silent_close(client, b"PROXY TCP9\r\n")
    with connect() as client:
        client.sendall(v2("203.0.113.7", "198.51.100.1", 9, 1587))
        assert read_line(client) == SES_GREETING
    assert ses.connections == 1
    assert proxy.wait_event("conn_open")["client"] == "203.0.113.7:9"


# --------------------------------------------------------------------------
# Without --proxy-protocol the proxy is byte-transparent
# --------------------------------------------------------------------------

@pytest.mark.parametrize("header", [
    v1("203.0.113.7", "198.51.100.1", 40001, 1587),
    v2("203.0.113.7", "198.51.100.1", 40004, 1587, AWS_VPCE)],
    ids=["v1", "v2"])
def test_without_flag_header_is_relayed_as_data(dns, listener_factory,
                                                proxy_factory, header):
    upstream = listener_factory("127.0.0.2")
    proxy = proxy_factory()
    with connect() as client:
        client.sendall(header + SMTP_FIRST)
        up = relayed_upstream(upstream, client)
        assert upstream_bytes_after_close(up, client) == header + SMTP_FIRST
        peer = sock_endpoint(client)
    opened = proxy.wait_event("conn_open")
    assert opened["client"] == peer
    assert "via" not in opened


def test_proxy_protocol_from_environment(dns, ses, proxy_factory):
    proxy = proxy_factory(env={"PROXY_PROTOCOL": "1"})
    with connect() as client:
        client.sendall(v1("203.0.113.7", "198.51.100.1", 1, 1587))
        assert read_line(client) == SES_GREETING
    assert proxy.wait_event("conn_open")["client"] == "203.0.113.7:1"
