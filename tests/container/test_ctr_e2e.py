"""The core end-to-end tests again, through the hardened container (bare,
the proxy as PID 1): real SMTP clients deliver through it to the fake SES
with TLS verified against the SES name end to end, and what SES stores is
byte for byte what the client sent. Also: only allowlisted upstreams are
dialled, upstream failover, and the sandbox state of the process."""

import pytest

import ctr
from clients import MESSAGE, curl, other_ca, s_client, swaks
from fakes import SES_GREETING, TEST_USER, Listener
from helpers import connect, read_line, read_reply, recv_until_closed

SERVER = ctr.LISTEN


@pytest.fixture
def proxy(ses, containers):
    """The hardened container, bare, SES name -> 127.0.0.2 via --add-host."""
    c = containers.run(health="none")
    return c


def test_greeting_is_ses_greeting_and_name_comes_from_hosts(proxy, ses):
    with connect(ctr.PROXY_ADDR) as s:
        assert read_line(s) == SES_GREETING
        s.sendall(b"EHLO client.example.com\r\n")
        ehlo = read_reply(s)
        assert ehlo.startswith(b"250-email-smtp.amazonaws.com\r\n")
        assert b"250-STARTTLS\r\n" in ehlo
        s.sendall(b"QUIT\r\n")
        assert read_line(s).startswith(b"221")
    resolved = proxy.events("upstream_resolved")
    assert [(e["source"], e["addrs"]) for e in resolved] == [("hosts", "127.0.0.2")]
    assert ses.connections == 1
    close = proxy.wait_event("conn_close")
    assert close["reason"] == "closed" and close["upstream"].startswith("127.0.0.2")


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth_delivers_byte_identical(proxy, ses, certs,
                                                     tmp_path, mech):
    out = swaks(SERVER, certs.ca, tmp_path, mech)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "TLS started" in out.stdout
    assert [(m.data, m.user, m.rcpt_tos) for m in ses.messages] == [
        (MESSAGE, TEST_USER, ["b@example.com"])]
    assert proxy.wait_event("conn_close")["reason"] == "closed"


def test_swaks_with_another_ca_fails_verification(proxy, ses, tmp_path):
    out = swaks(SERVER, other_ca(tmp_path))
    assert out.returncode != 0
    assert ses.messages == []


def test_curl_ssl_reqd_delivers_byte_identical(proxy, ses, certs, tmp_path):
    """curl verifies the SES name: the URL names SES, --resolve points it at
    the container's listener."""
    out = curl(ctr.LISTEN_PORT, certs.ca, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [(m.data, m.user) for m in ses.messages] == [(MESSAGE, TEST_USER)]


def test_openssl_s_client_verifies_ses_name_and_delivers(proxy, ses, certs):
    out = s_client(SERVER, certs.ca)
    text = out.stdout.decode(errors="replace")
    assert out.returncode == 0, text + out.stderr.decode(errors="replace")
    assert "Verification: OK" in text or "Verify return code: 0 (ok)" in text
    assert "235 " in text and "221 " in text
    assert [(m.data, m.user) for m in ses.messages] == [(MESSAGE, TEST_USER)]
    assert proxy.wait_event("conn_close")["reason"] == "closed"


def test_s_client_refuses_another_hostname(proxy, ses, certs):
    out = s_client(SERVER, certs.ca, name="proxy.example.com", deliver=False)
    assert out.returncode != 0
    assert b"hostname mismatch" in out.stdout + out.stderr


def test_two_upstreams_share_sessions_and_fail_over(ses_factory, containers):
    """--add-host twice: both addresses are used; with one down, sessions
    still reach SES through the other."""
    ses2, ses3 = ses_factory("127.0.0.2"), ses_factory("127.0.0.3")
    c = containers.run(hosts=("127.0.0.2", "127.0.0.3"), health="none")
    assert set(c.events("upstream_resolved")[-1]["addrs"].split(",")) == \
        {"127.0.0.2", "127.0.0.3"}
    for _ in range(4):
        with connect(ctr.PROXY_ADDR) as s:
            assert read_line(s) == SES_GREETING
    assert ses2.connections >= 1 and ses3.connections >= 1
    ses2.stop()
    before = ses3.connections
    for _ in range(3):
        with connect(ctr.PROXY_ADDR) as s:
            assert read_line(s) == SES_GREETING
    assert ses3.connections == before + 3


def test_upstream_outside_the_allowlist_is_never_dialled(containers):
    """The SES name given a loopback address that no AMAZON prefix covers:
    the client gets 421 and nothing connects to that address."""
    lst = Listener("127.0.1.1", 587)
    try:
        c = containers.run(hosts=("127.0.1.1",), health="none", wait=False)
        c.wait_event("listening", timeout=15)
        alarm = c.wait_event("upstream_all_denied", timeout=15)
        assert alarm["level"] == "error" and alarm["kept"] == 0
        assert c.events("upstream_denied")[0]["addr"] == "127.0.1.1"
        with connect(ctr.PROXY_ADDR) as s:
            data, _ = recv_until_closed(s, timeout=10)
        assert data.startswith(b"421 ")
        assert lst.pending() == 0
        assert c.wait_event("conn_close")["reason"] == "no_upstream"
    finally:
        lst.close()


def test_process_runs_unprivileged_and_sandboxed(proxy):
    """The proxy in the hardened container: uid/gid 65534, no capability
    in any set, NO_NEW_PRIVS, seccomp filtering."""
    st = ctr.proc_status(proxy.pid())
    assert st["Uid"].split() == ["65534"] * 4
    assert st["Gid"].split() == ["65534"] * 4
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[cap], 16) == 0, f"{cap}={st[cap]}"
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    ready = proxy.events("sandbox_ready")[0]
    assert ready["uid"] == 65534 and ready["seccomp"] == "filter"
    assert proxy.events("landlock")[0]["net"] == "connect_tcp_587_only"


def test_dns_is_never_asked_when_add_host_names_ses(ses, containers):
    """The SES name comes from the container's /etc/hosts (--add-host):
    the proxy sends no DNS query to the resolver Docker copied in."""
    c = containers.run(health="none", env={"STATS_INTERVAL": "1"})
    with connect(ctr.PROXY_ADDR) as s:
        assert read_line(s) == SES_GREETING
    stats = c.wait_event("stats", count=3, timeout=15)
    assert stats["dns_queries"] == 0
    assert stats["accepted"] == 1 and stats["upstreams"] == 1
    assert c.events("upstream_resolve_failed") == []
