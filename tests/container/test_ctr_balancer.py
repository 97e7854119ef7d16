"""The image behind a load balancer (deploy/): PROXY protocol with the
image's own HEALTHCHECK, and the shallow health port, as ECS and
Kubernetes run them (hardened flags, host network, loopback only)."""

import socket
import struct

import ctr
from fakes import SES_GREETING
from helpers import connect, read_line, recv_until_closed

HEALTH = ("127.0.0.1", 18080)
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_proxy(src, sport, dst, dport):
    addrs = (socket.inet_aton(src) + socket.inet_aton(dst)
             + struct.pack("!HH", sport, dport))
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


def http_get(path):
    with connect(HEALTH) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data, _ = recv_until_closed(s, timeout=10)
    return data.split(b"\r\n", 1)[0]


def test_proxy_protocol_image_healthcheck_and_client_identity(ses, containers):
    """PROXY_PROTOCOL=1 in the environment (as deploy/ecs sets it): the
    image's HEALTHCHECK sends its own header and stays healthy; a session
    with an NLB-style v2 header is logged with the header's client; one
    without a header gets nothing."""
    c = containers.run(health="fast", env={
        "PROXY_PROTOCOL": "1", "ALLOW_CLIENTS": "127.0.0.1/32,203.0.113.0/24"})
    c.wait_health("healthy", timeout=20)
    with connect(ctr.PROXY_ADDR) as s:
        s.sendall(v2_proxy("203.0.113.7", 40001, "198.51.100.1", 1587))
        assert read_line(s) == SES_GREETING
    opened = c.wait_event("conn_open", client="203.0.113.7:40001")
    assert opened["via"].startswith("127.0.0.1:")
    with connect(ctr.PROXY_ADDR) as s:
        s.sendall(b"EHLO no-header\r\n")
        assert recv_until_closed(s, timeout=15) in ((b"", "eof"),
                                                    (b"", "reset"))
    c.wait_event("conn_rejected", reason="proxy_header_invalid")


def test_health_port_in_the_hardened_container(ses, containers):
    """HEALTH_LISTEN: /livez and /readyz answer from the read-only,
    capability-less container without opening an SES session."""
    c = containers.run(env={"HEALTH_LISTEN": f"{HEALTH[0]}:{HEALTH[1]}"})
    c.wait_event("health_listening")
    before = ses.connections
    assert http_get("/livez") == b"HTTP/1.1 200 OK"
    assert http_get("/readyz") == b"HTTP/1.1 200 OK"
    assert http_get("/nope") == b"HTTP/1.1 404 Not Found"
    assert ses.connections == before
    assert c.events("conn_open") == []
