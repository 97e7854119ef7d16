"""Accepted client sockets start in delayed-ACK mode (TCP_QUICKACK off on
the listener, after listen()): a client's first command is acknowledged
by the reply relayed back to it, not by a bare ACK of the proxy's own.

The kernel shows each socket's delayed-ACK state in /proc/net/tcp{,6}:
after the rto and ato columns, (quick << 1) | pingpong, where pingpong set
is delayed-ACK mode. No timing is involved: the bit is read, not inferred
from when packets go out (bench/ counts the segments)."""

import socket
from pathlib import Path

import pytest

from fakes import SES_GREETING
from helpers import PROXY_PORT, connect, read_line

# /proc/net/tcp columns: sl local rem st tx:rx tr:when retrnsmt uid timeout
# inode refcnt sk rto ato quick|pingpong cwnd ssthresh
COL_STATE, COL_ACKMODE = 3, 14
ESTABLISHED, LISTEN = "01", "0A"


def ack_mode(table, local_port, remote_port=None):
    """The (quick << 1) | pingpong column of the socket bound to local_port
    (and connected from remote_port, if given) in table."""
    want = ESTABLISHED if remote_port is not None else LISTEN
    for line in Path(table).read_text().splitlines()[1:]:
        cols = line.split()
        lport = int(cols[1].rsplit(":", 1)[1], 16)
        rport = int(cols[2].rsplit(":", 1)[1], 16)
        if cols[COL_STATE] != want or lport != local_port:
            continue
        if remote_port is None or rport == remote_port:
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
