"""Self-tests of the fake world, without the proxy: if these fail, the
other results mean nothing."""

import base64
import socket
import subprocess

import pytest
from dnslib import QTYPE, RCODE, DNSRecord, EDNS0

from fakes import SES_GREETING, TEST_PASSWORD, TEST_USER, ses_name
from helpers import connect, read_line, read_reply, recv_until_closed

MESSAGE = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: harness\r\n"
           b"\r\nline one\r\n..leading dot line\r\nlast line\r\n")


def dns_query(name, qtype="A", edns=None, timeout=2.0):
    q = DNSRecord.question(name, qtype)
    if edns:
        q.add_ar(EDNS0(udp_len=edns))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q.pack(), ("127.0.0.53", 53))
        return DNSRecord.parse(s.recv(65535))
    except socket.timeout:
        return None
    finally:
        s.close()


def test_fake_ses_greets_like_ses_and_counts_connections(ses):
    with connect(("127.0.0.2", 587)) as s:
        assert read_line(s) == SES_GREETING
    with connect(("127.0.0.2", 587)) as s:
        read_line(s)
        s.sendall(b"EHLO t\r\n")
        assert b"STARTTLS" in read_reply(s)
        s.sendall(b"MAIL FROM:<a@example.com>\r\n")
        assert read_reply(s).startswith(b"530")
        s.sendall(b"AUTH PLAIN " + base64.b64encode(
            f"\0{TEST_USER}\0{TEST_PASSWORD}".encode()) + b"\r\n")
        assert read_reply(s)[:1] == b"5"
    assert ses.connections == 2


def test_fake_ses_delivers_with_swaks_tls_verify(ses, certs, tmp_path):
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE[:-2])  # swaks ends the last line itself
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.2:587", "--tls", "--tls-verify",
         "--tls-ca-path", str(certs.ca), "--tls-sni", ses_name(),
         "--auth", "PLAIN", "--auth-user", TEST_USER,
         "--auth-password", TEST_PASSWORD, "--from", "a@example.com",
         "--to", "b@example.com", "--data", f"@{msg}"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [m.data for m in ses.messages] == [MESSAGE]
    assert ses.messages[0].user == TEST_USER


def test_fake_ses_rejects_wrong_password(ses, certs):
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.2:587", "--tls", "--tls-verify",
         "--tls-ca-path", str(certs.ca), "--tls-sni", ses_name(),
         "--auth", "LOGIN", "--auth-user", TEST_USER,
         "--auth-password", "wrong", "--from", "a@example.com",
         "--to", "b@example.com"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert ses.messages == []


def test_fake_dns_cname_chain_and_modes(dns):
    dns.set_ses(v4=["127.0.0.2", "127.0.0.3"], v6=["::1"], ttl=7)
    r = dns_query(ses_name())
    assert [(QTYPE[rr.rtype], rr.ttl) for rr in r.rr] == [
        ("CNAME", 7), ("A", 7), ("A", 7)]
    assert [str(rr.rdata) for rr in r.rr][1:] == ["127.0.0.2", "127.0.0.3"]
    assert [str(rr.rdata) for rr in dns_query(ses_name(), "AAAA").rr][1:] == ["::1"]
    dns.set_mode("drop")
    assert dns_query(ses_name(), timeout=0.5) is None
    dns.set_mode("nxdomain")
    assert dns_query(ses_name()).header.rcode == RCODE.NXDOMAIN
    dns.set_mode("servfail")
    assert dns_query(ses_name()).header.rcode == RCODE.SERVFAIL
    dns.set_mode("empty")
    r = dns_query(ses_name())
    assert r.header.rcode == RCODE.NOERROR and not r.rr
    assert dns.query_count(ses_name()) == 6


def test_fake_dns_truncates_and_hooks(dns):
    many = [f"127.0.1.{i}" for i in range(1, 71)]
    dns.set_ses(v4=many, ttl=60)
    r = dns_query(ses_name())
    assert r.header.tc == 1 and 0 < len(r.rr) < 71
    r = dns_query(ses_name(), edns=4096)
    assert r.header.tc == 0 and len(r.rr) == 71
    dns.set_hook(lambda q, t, n: (["127.0.0.9"], []) if n % 2 else None)
    dns.set_ses(v4=["127.0.0.2"], ttl=60)
    answers = [str(dns_query(ses_name()).rr[-1].rdata) for _ in range(4)]
    # The hook counts from the queries made since reset (two above).
    assert answers == ["127.0.0.2", "127.0.0.9", "127.0.0.2", "127.0.0.9"]


@pytest.mark.parametrize("kind,expect", [("close", "eof"), ("rst", "reset"),
                                         ("silent", "timeout")])
def test_raw_upstreams(upstream_factory, kind, expect):
    up = upstream_factory(kind, "127.0.0.3")
    try:
        with connect(("127.0.0.3", 587)) as s:
            if kind == "silent":  # it reads what it gets, and says nothing
                s.sendall(b"x")
            data, how = recv_until_closed(s, timeout=1.0)
    except ConnectionResetError:  # the RST beat connect() to it
        data, how = b"", "reset"
    assert (data, how) == (b"", expect)
    assert up.connections == 1


def test_echo_upstream_and_blackhole_listener(upstream_factory, listener_factory):
    upstream_factory("greet_echo", "127.0.0.3")
    with connect(("127.0.0.3", 587)) as s:
        assert read_line(s) == SES_GREETING
        s.sendall(b"ping\r\n")
        assert read_line(s) == b"ping\r\n"
        s.shutdown(socket.SHUT_WR)
        assert recv_until_closed(s, 2) == (b"", "eof")
    hole = listener_factory("127.0.0.4", backlog=0)
    hole.fill_queue()
    with pytest.raises(socket.timeout):
        connect(("127.0.0.4", 587), timeout=0.5)


def test_fake_dns_spoils(dns):
    dns.set_spoil("wrong_id")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    query = DNSRecord.question(ses_name())
    s.sendto(query.pack(), ("127.0.0.53", 53))
    assert DNSRecord.parse(s.recv(4096)).header.id != query.header.id
    dns.set_spoil("wrong_qname")
    assert str(dns_query(ses_name()).q.qname).startswith(ses_name() + ".evil")
    dns.set_spoil("not_response")
    assert dns_query(ses_name()).header.qr == 0
    dns.set_spoil("unrelated_owner")
    assert {str(rr.rname) for rr in dns_query(ses_name()).rr} == {"evil.example.com."}
    dns.set_spoil("pointer_loop")
    s.sendto(query.pack(), ("127.0.0.53", 53))
    raw = s.recv(4096)
    with pytest.raises(Exception):
        DNSRecord.parse(raw)
    dns.set_spoil("other_port")
    s.connect(("127.0.0.53", 53))  # a connected socket never sees it
    s.send(query.pack())
    with pytest.raises(socket.timeout):
        s.recv(4096)
    s.close()
    assert not dns.errors
