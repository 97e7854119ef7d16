"""How the relay uses TCP segments, checked on the segments themselves.

Delayed ACKs: accepted client sockets start in delayed-ACK mode (TCP_QUICKACK
off on the listener, after listen()), so a client's first command is
acknowledged by the reply relayed back to it, not by a bare ACK of the
proxy's own. The kernel shows each socket's delayed-ACK state in
/proc/net/tcp{,6}: after the rto and ato columns, (quick << 1) | pingpong,
where pingpong set is delayed-ACK mode. The bit is read, not inferred from
when packets go out.

FIN with the last bytes: bytes that arrive with a FIN behind them leave in
one segment with the FIN (send with MSG_MORE, then shutdown). A packet
socket on lo (this namespace only) sees every segment; a sender that corks
its bytes and shuts down makes them arrive together, so the relay sees both
in one event and the outcome does not depend on timing."""

import socket
import struct

import pytest

from fakes import SES_GREETING
from helpers import (PROXY_PORT, TCP_ESTABLISHED, TCP_LISTEN, connect,
                     read_line, recv_exact, recv_until_closed, tcp_sockets)

COL_ACKMODE = 14   # (quick << 1) | pingpong


def ack_mode(table, local_port, remote_port=None):
    """The (quick << 1) | pingpong column of the socket bound to local_port
    (and connected from remote_port, if given) in table."""
    want = TCP_ESTABLISHED if remote_port is not None else TCP_LISTEN
    for state, lport, rport, cols in tcp_sockets((table,)):
        if state == want and lport == local_port and \
                remote_port in (None, rport):
            return int(cols[COL_ACKMODE])
    raise AssertionError(f"no socket {local_port}<-{remote_port} in {table}")


@pytest.mark.parametrize("listen,addr,table", [
    ("127.0.0.1:1587", ("127.0.0.1", PROXY_PORT), "/proc/net/tcp"),
    ("[::1]:1587", ("::1", PROXY_PORT), "/proc/net/tcp6"),
], ids=["ipv4", "ipv6"])
def test_accepted_client_socket_delays_its_acks(dns, ses, proxy_factory,
                                                listen, addr, table):
    proxy_factory("--listen", listen)
    with connect(addr=addr) as c:
        # The 220 went through: the session is relayed, its socket accepted.
        assert read_line(c) == SES_GREETING
        mode = ack_mode(table, PROXY_PORT, c.getsockname()[1])
    assert mode & 1, f"accepted socket not in delayed-ACK mode: {mode:#x}"


def test_the_listener_itself_is_in_delayed_ack_mode(dns, ses, proxy_factory):
    proxy_factory()
    with connect() as c:
        assert read_line(c) == SES_GREETING
    assert ack_mode("/proc/net/tcp", PROXY_PORT) & 1


def test_a_plain_listener_accepts_in_quick_ack_mode():
    """The control: a socket accepted from a listener left as the kernel
    makes it reads 0 in the same column, so the tests above can fail."""
    plain = socket.create_server(("127.0.0.1", 0))
    try:
        port = plain.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            conn, _ = plain.accept()
            with conn:
                mode = ack_mode("/proc/net/tcp", port, c.getsockname()[1])
    finally:
        plain.close()
    assert mode & 1 == 0


# --------------------------------------------------------------------------
# A FIN rides with the last bytes
# --------------------------------------------------------------------------

ETH_P_ALL, ETH_HLEN, ETH_P_IP = 0x0003, 14, 0x0800
TCP_FIN = 0x01


class Capture:
    """The IPv4 TCP segments lo carries while open, as
    (sport, dport, flags, payload). Each is counted once: as received
    (PACKET_HOST), not again as sent."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.setblocking(False)

    def close(self):
        self.sock.close()

    def segments(self):
        """What was seen so far (the kernel queued each segment here before
        it reached the receiving socket)."""
        out = []
        while True:
            try:
                frame, addr = self.sock.recvfrom(65536)
            except BlockingIOError:
                return out
            if addr[2] == socket.PACKET_HOST:
                seg = parse_tcp(frame)
                if seg is not None:
                    out.append(seg)


def parse_tcp(frame):
    if struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
        return None
    ip = frame[ETH_HLEN:]
    ihl, total, proto = (ip[0] & 0x0F) * 4, struct.unpack_from("!H", ip, 2)[0], ip[9]
    if proto != socket.IPPROTO_TCP:
        return None
    tcp = ip[ihl:total]
    sport, dport = struct.unpack_from("!HH", tcp, 0)
    doff = (tcp[12] >> 4) * 4
    return sport, dport, tcp[13], bytes(tcp[doff:])


def send_with_fin(sock, data):
    """data and a FIN in one segment: cork, write, shut down."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def carrying(segments, sport, dport, data):
    """The flags of each segment from sport to dport that carries data."""
    return [f for s, d, f, p in segments if (s, d, p) == (sport, dport, data)]


@pytest.fixture
def session(dns, listener_factory, proxy_factory):
    """A relayed session: (client, SES's side of it), past the greeting."""
    ses_listener = listener_factory("127.0.0.2")
    proxy_factory()
    client = connect()
    upstream = ses_listener.accept()
    upstream.sendall(b"220 fake ready\r\n")
    assert read_line(client) == b"220 fake ready\r\n"
    capture = Capture()
    yield client, upstream, capture
    capture.close()
    client.close()
    upstream.close()


def test_ses_last_reply_and_fin_reach_the_client_in_one_segment(session):
    client, upstream, capture = session
    send_with_fin(upstream, b"221 bye\r\n")
    assert recv_until_closed(client) == (b"221 bye\r\n", "eof")
    segs = capture.segments()
    ses_port, relay_port = upstream.getsockname()[1], upstream.getpeername()[1]
    # The premise: SES's side sent both in one segment.
    assert [f & TCP_FIN for f in carrying(
        segs, ses_port, relay_port, b"221 bye\r\n")] == [TCP_FIN]
    sent = carrying(segs, PROXY_PORT, client.getsockname()[1], b"221 bye\r\n")
    assert len(sent) == 1 and sent[0] & TCP_FIN, \
        f"221 and FIN in separate segments: {segs}"


def test_client_last_command_and_fin_reach_ses_in_one_segment(session):
    client, upstream, capture = session
    send_with_fin(client, b"QUIT\r\n")
    assert recv_exact(upstream, 6) == b"QUIT\r\n"
    assert recv_until_closed(upstream) == (b"", "eof")
    segs = capture.segments()
    relay_port = upstream.getpeername()[1]
    sent = carrying(segs, relay_port, upstream.getsockname()[1], b"QUIT\r\n")
    assert len(sent) == 1 and sent[0] & TCP_FIN, \
        f"QUIT and FIN in separate segments: {segs}"
    # The other direction still works after the half-close.
    upstream.sendall(b"221 bye\r\n")
    assert read_line(client) == b"221 bye\r\n"


def test_bytes_without_a_fin_are_not_held_back(session):
    """A reply with no FIN behind it leaves in one segment without a FIN:
    catches a relay that takes a FIN that never came (a read-ahead misread
    as EOF) and shuts the session down early. A relay that corked every
    send would still pass: the kernel's probe timer sends corked bytes
    after about 200 ms, and telling that from "at once" would need a
    timing threshold, which no test here has."""
    client, upstream, capture = session
    upstream.sendall(b"250 ok\r\n")
    assert read_line(client) == b"250 ok\r\n"
    sent = carrying(capture.segments(), PROXY_PORT, client.getsockname()[1],
                    b"250 ok\r\n")
    assert len(sent) == 1 and not sent[0] & TCP_FIN
