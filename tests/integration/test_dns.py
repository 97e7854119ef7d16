"""Resolution of the SES name: CNAME chains, TTLs, answers that change,
a resolver that goes away (FLT-14), DNS faults (EGR-10) and /etc/hosts."""

import ipaddress
import time

import pytest

from fakes import SES_GREETING, ses_name
from helpers import (connect, addr_list, host_of, read_line, recv_until_closed,
                     wait_for)

IP = ipaddress.ip_address
SES = ses_name()


def denied_count(event):
    d = event.get("denied", 0)
    return len(d) if isinstance(d, list) else int(d)


def resolved_addrs(event):
    return set(addr_list(event["addrs"]))


def greeting_from_proxy():
    with connect() as s:
        return read_line(s)


def expect_421_440(timeout=5.0):
    """Connect, expect `421 4.4.0 ...` and then the end of the stream."""
    with connect(timeout=timeout) as s:
        line = read_line(s, timeout)
        rest, how = recv_until_closed(s, timeout)
    assert line.startswith(b"421 4.4.0"), line
    assert (rest, how) in ((b"", "eof"), (b"", "reset"))
    return line


def test_cname_chain_followed_addrs_and_ttl_logged(dns, ses_factory, proxy_factory):
    dns.set_ses(v4=["127.0.0.2", "127.0.0.3"], v6=["::1"], ttl=7)
    servers = [ses_factory(h) for h in ("127.0.0.2", "127.0.0.3", "::1")]
    proxy = proxy_factory()
    event = proxy.named("upstream_resolved")[0]
    assert event["host"] == SES
    assert event["source"] == "dns"
    assert resolved_addrs(event) == {IP("127.0.0.2"), IP("127.0.0.3"), IP("::1")}
    assert denied_count(event) == 0
    assert int(event["ttl"]) == 7
    # Round robin over the validated set: 6 sessions reach all three.
    for _ in range(6):
        assert greeting_from_proxy() == SES_GREETING
    assert [s.connections for s in servers] == [2, 2, 2]


@pytest.mark.parametrize("ttl,clamped", [(0, 2), (1, 2), (86400, 300)])
def test_ttl_clamped(dns, ses, proxy_factory, ttl, clamped):
    dns.set_ses(v4=["127.0.0.2"], ttl=ttl)
    proxy = proxy_factory()
    assert int(proxy.named("upstream_resolved")[0]["ttl"]) == clamped


def test_ttl_300_no_query_before_expiry(dns, ses, proxy_factory):
    proxy_factory()
    before = dns.query_count(SES)
    time.sleep(3)
    assert dns.query_count(SES) == before


def test_ttl_0_requeried_every_few_seconds_not_in_a_loop(dns, ses, proxy_factory):
    dns.set_ses(v4=["127.0.0.2"], ttl=0)
    proxy_factory()
    start = dns.query_count(SES)
    t0 = time.monotonic()
    wait_for(lambda: dns.query_count(SES) > start, timeout=10,
             what="re-resolution after a TTL clamped to 2 s")
    time.sleep(max(0.0, 6 - (time.monotonic() - t0)))
    # About 3 rounds of A+AAAA in 6 s; a resolver spinning on TTL 0 does more.
    assert dns.query_count(SES) - start <= 16


def test_new_answer_followed_while_running(dns, ses_factory, proxy_factory):
    old, new = ses_factory("127.0.0.2"), ses_factory("127.0.0.3")
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy = proxy_factory()
    assert greeting_from_proxy() == SES_GREETING
    mark = proxy.mark()
    dns.set_ses(v4=["127.0.0.3"], ttl=2)
    proxy.wait_event("upstream_resolved", start=mark, timeout=15,
                     pred=lambda e: resolved_addrs(e) == {IP("127.0.0.3")})
    for _ in range(3):
        assert greeting_from_proxy() == SES_GREETING
    assert (old.connections, new.connections) == (1, 3)


def test_flt14_resolver_down_sessions_unaffected(dns, upstream_factory,
                                                 proxy_factory):
    """The resolver stops answering: an open session keeps exchanging bytes
    with no added delay, new sessions use the last good set, and service
    follows DNS again once it is back."""
    echo = upstream_factory("greet_echo", "127.0.0.2")
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy = proxy_factory()
    session = connect()
    assert read_line(session) == SES_GREETING
    mark = proxy.mark()
    dns.set_mode("drop")
    rtts = []
    failed_at = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        t = time.monotonic()
        session.sendall(b"PING %d\r\n" % len(rtts))
        assert read_line(session, timeout=5) == b"PING %d\r\n" % len(rtts)
        rtts.append(time.monotonic() - t)
        if failed_at is None and proxy.named("upstream_resolve_failed"):
            failed_at = len(rtts)
        if failed_at is not None and len(rtts) > failed_at + 20:
            break
        time.sleep(0.05)
    failures = [e for e in proxy.events[mark:]
                if e["event"] == "upstream_resolve_failed"]
    assert failures, "the resolver outage was never noticed"
    assert failures[0]["host"] == SES and "retry_s" in failures[0]
    assert max(rtts) < 0.5, f"relay stalled during resolution: {max(rtts):.3f}s"
    # New sessions during the outage still reach the last good address.
    for _ in range(2):
        assert greeting_from_proxy() == SES_GREETING
    assert echo.connections == 3
    session.close()
    # Back to normal: a new answer is taken up again.
    ses3 = upstream_factory("greet_echo", "127.0.0.3")
    mark = proxy.mark()
    dns.set_ses(v4=["127.0.0.3"], ttl=2)
    dns.set_mode("answer")
    proxy.wait_event("upstream_resolved", start=mark, timeout=60,
                     pred=lambda e: resolved_addrs(e) == {IP("127.0.0.3")})
    assert greeting_from_proxy() == SES_GREETING
    assert ses3.connections == 1


@pytest.mark.parametrize("fault", ["nxdomain", "servfail", "empty", "drop",
                                   "cname_only"])
def test_egr10_dns_fault_at_startup_gives_421(dns, ses, proxy_factory, fault):
    if fault == "cname_only":
        dns.set_cname_only()
    else:
        dns.set_mode(fault)
    proxy = proxy_factory(wait_resolved=False)
    failed = proxy.wait_event("upstream_resolve_failed", timeout=10)
    assert failed["host"] == SES and failed["error"]
    t = time.monotonic()
    expect_421_440()
    assert time.monotonic() - t < 3
    assert proxy.wait_event("conn_close")["reason"] == "no_upstream"
    assert ses.connections == 0
    assert proxy.named("upstream_resolved") == []


@pytest.mark.parametrize("fault", ["nxdomain", "servfail", "drop"])
def test_egr10_check_exits_1_on_dns_fault(dns, run_proxy, fault):
    dns.set_mode(fault)
    rc, out, err = run_proxy("--check")
    assert rc == 1, out + err


def test_egr10_more_than_64_a_records(dns, ses, proxy_factory):
    """70 A records, one good (first) and 69 outside the allowlist: no
    crash, nothing outside the allowlist dialled."""
    bad = [f"127.0.1.{i}" for i in range(1, 70)]
    dns.set_ses(v4=["127.0.0.2"] + bad, ttl=60)
    proxy = proxy_factory(wait_resolved=False)
    wait_for(lambda: proxy.named("upstream_resolved")
             or proxy.named("upstream_resolve_failed"), timeout=10,
             what="a resolution outcome")
    with connect() as s:
        line = read_line(s)
    assert line == SES_GREETING or line.startswith(b"421 4.4.0"), line
    assert proxy.alive()
    assert proxy.named("upstream_connect_failed") == []
    for e in proxy.named("upstream_resolved"):
        assert resolved_addrs(e) <= {IP("127.0.0.2")}
    assert ses.connections == (1 if line == SES_GREETING else 0)


@pytest.mark.parametrize("source", ["dns", "hosts"])
def test_first_answer_all_denied_is_the_all_denied_alarm(dns, ses,
                                                         proxy_factory,
                                                         source):
    """The first answer after startup holds only denied addresses: the
    runbook's page (upstream_all_denied, error, kept 0) fires, not an
    upstream_resolved line with an empty set."""
    hosts = [("127.0.1.7", SES)] if source == "hosts" else ()
    dns.set_ses(v4=["127.0.1.7"], ttl=2)
    proxy = proxy_factory(hosts=hosts, wait_resolved=False)
    alarm = proxy.wait_event("upstream_all_denied", timeout=10)
    assert alarm["level"] == "error"
    assert (int(alarm["kept"]), int(alarm["denied"])) == (0, 1)
    assert alarm["host"] == SES
    assert proxy.named("upstream_resolved") == []
    expect_421_440()
    assert ses.connections == 0


def test_hosts_entry_used_instead_of_dns(dns, ses_factory, proxy_factory):
    via_dns, via_hosts = ses_factory("127.0.0.2"), ses_factory("127.0.0.3")
    proxy = proxy_factory(hosts=[("127.0.0.3", SES)])
    event = proxy.named("upstream_resolved")[0]
    assert event["source"] == "hosts"
    assert resolved_addrs(event) == {IP("127.0.0.3")}
    assert greeting_from_proxy() == SES_GREETING
    assert (via_dns.connections, via_hosts.connections) == (0, 1)
    assert dns.query_count(SES) == 0


def test_hosts_entry_is_checked_against_allowlist(dns, ses, proxy_factory,
                                                  listener_factory):
    bad = listener_factory("127.0.1.5")
    proxy = proxy_factory(hosts=[("127.0.1.5", SES)], wait_resolved=False)
    denied = proxy.wait_event("upstream_denied")
    assert host_of(denied["addr"]) == IP("127.0.1.5")
    expect_421_440()
    assert bad.pending() == 0 and ses.connections == 0


def test_fips_name(dns, ses, proxy_factory):
    dns.set_ses(v4=["127.0.0.2"], fips=True)
    proxy = proxy_factory("--fips")
    assert proxy.named("upstream_resolved")[0]["host"] == ses_name(fips=True)
    assert greeting_from_proxy() == SES_GREETING
    assert dns.query_count(SES) == 0


def test_fips_from_env(dns, ses, proxy_factory):
    dns.set_ses(v4=["127.0.0.2"], fips=True)
    proxy = proxy_factory(env={"SES_FIPS": "1"})
    assert proxy.named("upstream_resolved")[0]["host"] == ses_name(fips=True)


def test_other_region_resolves_its_own_name(dns, ses_factory, proxy_factory):
    eu = ses_factory("127.0.2.1")
    dns.set_ses(v4=["127.0.2.1"], region="eu-west-1")
    proxy = proxy_factory("--region", "eu-west-1")
    assert proxy.named("upstream_resolved")[0]["host"] == ses_name("eu-west-1")
    assert greeting_from_proxy() == SES_GREETING
    assert eu.connections == 1


@pytest.mark.parametrize("spoil", ["wrong_id", "wrong_qname", "not_response",
                                   "unrelated_owner", "pointer_loop",
                                   "other_port"])
def test_inp07_hostile_answers_never_used(dns, ses, proxy_factory, spoil):
    """Answers that name a good address (127.0.0.2) but fail the checks a
    stub resolver must make (ID, QR flag, question, owner names, source
    port, sane compression) are dropped: the address is never dialled."""
    dns.set_spoil(spoil)
    proxy = proxy_factory(wait_resolved=False)
    proxy.wait_event("upstream_resolve_failed", timeout=10)
    expect_421_440()
    assert ses.connections == 0
    assert proxy.named("upstream_resolved") == []
    assert proxy.alive()


def test_refusing_first_nameserver_falls_over_to_the_next(dns, ses,
                                                          proxy_factory):
    """resolv.conf lists a nameserver where nothing listens (an ICMP port
    unreachable: ECONNREFUSED) before the working one: the query moves on
    to the second nameserver after the timeout instead of giving up."""
    proxy = proxy_factory(resolv="nameserver 127.0.0.9\n"
                                 "nameserver 127.0.0.53\n"
                                 "options timeout:1 attempts:1\n")
    assert proxy.wait_event("upstream_resolved")["addrs"] == "127.0.0.2"
    assert not proxy.named("upstream_resolve_failed")
    with connect() as c:
        assert read_line(c) == SES_GREETING
