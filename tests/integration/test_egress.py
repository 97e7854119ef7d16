"""Egress control: only addresses in AMAZON/<region> (plus --allow-cidr)
are ever dialled, and only on port 587 (EGR-02, EGR-03, EGR-04, EGR-05,
EGR-06, EGR-08).

Every address a buggy proxy might dial has a listener here that counts
connections: the loopback ones directly, the private/link-local ones after
the lo_aliases fixture put them on lo (inside this test namespace only)."""

import ipaddress
import time

import pytest

from fakes import SES_GREETING, ses_name
from helpers import (DEFAULT_V6, addr_list, connect, first_line, host_of,
                     port_of, read_line, write_allowlist)

IP = ipaddress.ip_address
SES = ses_name()

# Denied answers, each with the listener that would catch a connection to it
# (None: no local listener is possible, e.g. multicast).
BAD_ANSWERS = [
    ("10.0.0.1", "10.0.0.1"),
    ("172.16.0.1", "172.16.0.1"),
    ("192.168.1.1", "192.168.1.1"),
    ("169.254.169.254", "169.254.169.254"),
    ("100.64.0.1", "100.64.0.1"),
    ("0.0.0.0", "127.0.0.1"),  # connect(0.0.0.0) reaches the local host
    ("224.0.0.1", None),
    ("255.255.255.255", None),
    ("127.0.1.5", "127.0.1.5"),  # loopback, but outside the fixture prefixes
    ("fe80::1", "fe80::1%lo"),
    ("fc00::1", "fc00::1"),
    ("::ffff:10.0.0.1", "10.0.0.1"),
    ("::ffff:127.0.1.5", "127.0.1.5"),
    ("64:ff9b::a00:1", "64:ff9b::a00:1"),
    ("::", "::1"),  # connect(::) reaches the local host
]
TRAPS = sorted({t for _, t in BAD_ANSWERS if t})


def set_answer(dns, addrs, ttl=300):
    dns.set_ses(v4=[a for a in addrs if ":" not in a],
                v6=[a for a in addrs if ":" in a], ttl=ttl)


def same_addr(a, b):
    """Equal, treating ::ffff:a.b.c.d as a.b.c.d."""
    a, b = IP(str(a)), IP(str(b))
    a = getattr(a, "ipv4_mapped", None) or a
    b = getattr(b, "ipv4_mapped", None) or b
    return a == b


@pytest.fixture
def traps(lo_aliases, listener_factory):
    return {t: listener_factory(t) for t in TRAPS}


def trapped(traps):
    return {t: n for t, lst in traps.items() if (n := lst.pending())}


@pytest.mark.parametrize("bad", [b for b, _ in BAD_ANSWERS])
def test_egr02_disallowed_address_never_dialled(dns, ses, traps, proxy_factory,
                                                bad):
    set_answer(dns, [bad])
    proxy = proxy_factory(wait_resolved=False)
    denied = proxy.wait_event("upstream_denied", timeout=10)
    assert denied["host"] == SES
    assert same_addr(host_of(denied["addr"]), bad)
    assert denied["reason"]
    assert first_line().startswith(b"421 4.4.0")
    assert proxy.wait_event("conn_close")["reason"] == "no_upstream"
    assert proxy.named("upstream_connect_failed") == []
    assert trapped(traps) == {}
    assert ses.connections == 0


@pytest.mark.parametrize("bad", ["127.0.2.5",    # AMAZON, but eu-west-1
                                 "127.0.3.5",    # us-east-1, but S3
                                 "127.0.5.5"])   # AMAZON, but GLOBAL
def test_egr03_wrong_region_or_service_denied(dns, ses, listener_factory,
                                              proxy_factory, bad):
    trap = listener_factory(bad)
    set_answer(dns, [bad, "127.0.0.2"])
    proxy = proxy_factory()
    denied = proxy.wait_event("upstream_denied")
    assert same_addr(host_of(denied["addr"]), bad)
    for _ in range(3):
        assert first_line() == SES_GREETING
    assert trap.pending() == 0 and ses.connections == 3


@pytest.mark.parametrize("bad", ["2001:db8:2::5", "2001:db8:3::5"])
def test_egr03_wrong_region_or_service_denied_v6(dns, ses, proxy_factory, bad):
    set_answer(dns, [bad, "127.0.0.2"])
    proxy = proxy_factory()
    assert same_addr(host_of(proxy.wait_event("upstream_denied")["addr"]), bad)
    assert first_line() == SES_GREETING
    assert proxy.named("upstream_connect_failed") == []


def test_v4_mapped_form_of_an_allowed_address_is_that_address(dns, ses,
                                                              proxy_factory):
    set_answer(dns, ["::ffff:127.0.0.2"])
    proxy = proxy_factory()
    assert first_line() == SES_GREETING
    assert ses.connections == 1
    assert proxy.named("upstream_denied") == []


@pytest.mark.parametrize("order", [("bad", "good"), ("good", "bad")])
def test_egr04_mixed_answer_only_good_dialled(dns, ses, listener_factory,
                                              proxy_factory, order):
    trap = listener_factory("127.0.1.5")
    addr = {"bad": "127.0.1.5", "good": "127.0.0.2"}
    set_answer(dns, [addr[o] for o in order])
    proxy = proxy_factory()
    assert same_addr(host_of(proxy.wait_event("upstream_denied")["addr"]),
                     "127.0.1.5")
    resolved = proxy.named("upstream_resolved")[0]
    assert set(addr_list(resolved["addrs"])) == {IP("127.0.0.2")}
    for _ in range(4):
        assert first_line() == SES_GREETING
    assert trap.pending() == 0 and ses.connections == 4


def test_egr04_all_bad_answer_ends_the_session(dns, ses, listener_factory,
                                               proxy_factory):
    traps = [listener_factory(a) for a in ("127.0.1.5", "127.0.1.6")]
    set_answer(dns, ["127.0.1.5", "127.0.1.6"])
    proxy = proxy_factory(wait_resolved=False)
    proxy.wait_count("upstream_denied", 2)
    assert first_line().startswith(b"421 4.4.0")
    assert [t.pending() for t in traps] == [0, 0] and ses.connections == 0


def test_egr05_rebinding_connected_peer_is_the_validated_one(
        dns, ses, listener_factory, proxy_factory):
    """DNS alternates a good and a bad answer on every A query (TTL 2 s).
    Whatever the timing, nothing but the validated address is dialled."""
    trap = listener_factory("127.0.1.5")
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    dns.set_hook(lambda q, t, n: (["127.0.1.5"], []) if t == "A" and n % 2
                 else None)
    proxy = proxy_factory()
    lines = []
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline:
        lines.append(first_line())
        time.sleep(0.1)
    assert proxy.named("upstream_denied"), "the bad answer was never seen"
    assert SES_GREETING in lines
    assert all(l == SES_GREETING or l.startswith(b"421 4.4.0") for l in lines)
    assert trap.pending() == 0
    proxy.wait_count("conn_close", len(lines))
    for close in proxy.named("conn_close"):
        if close["reason"] != "no_upstream":
            assert same_addr(host_of(close["upstream"]), "127.0.0.2")
    assert ses.connections == lines.count(SES_GREETING)


def test_egr06_allow_cidr_opens_an_extra_network(dns, ses_factory, lo_aliases,
                                                 listener_factory, proxy_factory):
    """10.0.0.0/29 stands for an SES VPC endpoint subnet: denied by
    default, dialled once the operator allows it; its neighbours stay out."""
    endpoint = ses_factory("10.0.0.1")
    outside = listener_factory("10.0.0.9")
    set_answer(dns, ["10.0.0.1", "10.0.0.9"])
    proxy = proxy_factory("--allow-cidr", "10.0.0.0/29")
    assert first_line() == SES_GREETING
    assert first_line() == SES_GREETING
    assert endpoint.connections == 2 and outside.pending() == 0
    denied = proxy.named("upstream_denied")
    assert [same_addr(host_of(d["addr"]), "10.0.0.9") for d in denied] == [True]
    loaded = proxy.named("allowlist_loaded")[0]
    assert "allow_cidrs" in loaded


def test_egr06_allow_cidr_off_by_default(dns, ses_factory, lo_aliases,
                                         proxy_factory):
    endpoint = ses_factory("10.0.0.1")
    set_answer(dns, ["10.0.0.1"])
    proxy_factory(wait_resolved=False)
    assert first_line().startswith(b"421 4.4.0")
    assert endpoint.connections == 0


def test_egr06_allow_cidrs_from_env(dns, ses_factory, lo_aliases,
                                    proxy_factory):
    a, b = ses_factory("10.0.0.1"), ses_factory("10.0.0.17")
    set_answer(dns, ["10.0.0.1", "10.0.0.17"])
    proxy_factory(env={"SES_ALLOW_CIDRS": "10.0.0.0/29,10.0.0.16/30"})
    for _ in range(4):
        assert first_line() == SES_GREETING
    assert (a.connections, b.connections) == (2, 2)


# Prefixes --allow-cidr must refuse: too wide, or holding an unspecified,
# loopback, link-local, multicast or instance metadata address, directly
# or as the IPv4 address that NAT64, 6to4, Teredo or IPv4-compatible
# addresses carry.
UNSAFE_ALLOW_CIDRS = [
    "0.0.0.0/0", "10.0.0.0/7", "169.254.0.0/16", "169.254.169.254/32",
    "127.0.0.0/8", "127.0.1.0/29", "224.0.0.0/4", "0.0.0.0/32",
    "::ffff:0:0/96", "::ffff:169.254.169.254/128", "::/0", "2600::/15",
    "::/128", "::1/128", "fe80::/64", "ff02::/16", "fd00:ec2::/32",
    "fd00:ec2::254/128", "64:ff9b::/96", "64::/16", "64:ff9b::a9fe:0/112",
    "64:ff9b::a9fe:a9fe/128", "64:ff9b:1::/64", "2002::/16",
    "2002:a9fe::/32", "2002:a9fe:a9fe::/48", "2001::/32",
    "2001::5601:5601/128", "::a9fe:a9fe/128",
]


@pytest.mark.parametrize("cidr", UNSAFE_ALLOW_CIDRS)
def test_egr06_allow_cidr_refuses_unsafe_prefixes(dns, run_proxy, cidr):
    rc, out, err = run_proxy("--check", "--allow-cidr", cidr)
    assert rc == 2, (rc, out, err)
    assert "--allow-cidr" in err and f'"{cidr}"' in err, err


@pytest.mark.parametrize("cidrs", ["10.0.0.0/29,0.0.0.0/0",
                                   "64:ff9b::/96", "2002:a9fe::/32"])
def test_egr06_allow_cidrs_env_refuses_unsafe_prefixes(dns, run_proxy, cidrs):
    rc, out, err = run_proxy("--check", env={"SES_ALLOW_CIDRS": cidrs})
    assert rc == 2, (rc, out, err)
    assert "SES_ALLOW_CIDRS" in err and cidrs.split(",")[-1] in err, err


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "10.0.0.0/29",
                                  "2600:1f18::/32", "64:ff9b::a00:0/104",
                                  "2002:a00::/24", "::ffff:10.0.0.0/104"])
def test_egr06_allow_cidr_accepts_ordinary_prefixes(dns, run_proxy, cidr):
    rc, out, err = run_proxy("--check", "--allow-cidr", cidr)
    assert rc == 0, (rc, out, err)


# Addresses that carry 169.254.169.254 (the instance metadata service):
# NAT64, local-use NAT64 (where it carries an unknown address), 6to4,
# Teredo (the client address inverted) and IPv4-compatible.
CARRIERS_OF_METADATA = ["64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe",
                        "2002:a9fe:a9fe::1", "2001::5601:5601",
                        "::a9fe:a9fe"]


@pytest.fixture
def carrier_allowlist(tmp_path):
    """AMAZON us-east-1 also lists the whole NAT64, local-use NAT64, 6to4,
    Teredo and IPv4-compatible ranges: the broadest list that contains
    the addresses above (--allow-cidr refuses every such prefix)."""
    return write_allowlist(tmp_path / "carriers.json", v6=DEFAULT_V6 + [
        (p, "us-east-1", "AMAZON") for p in
        ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32",
         "::/96")])


@pytest.mark.parametrize("bad", CARRIERS_OF_METADATA)
def test_carried_ipv4_address_is_judged(dns, ses, lo_aliases, listener_factory,
                                        proxy_factory, carrier_allowlist, bad):
    """An IPv6 answer that carries an IPv4 address is dialled only if that
    IPv4 address is allowed as well, whatever list holds the IPv6 one."""
    trap = listener_factory(bad)
    set_answer(dns, [bad])
    proxy = proxy_factory("--ip-ranges", carrier_allowlist,
                          wait_resolved=False)
    denied = proxy.wait_event("upstream_denied", timeout=10)
    assert same_addr(host_of(denied["addr"]), bad)
    assert first_line().startswith(b"421 4.4.0")
    assert trap.pending() == 0 and ses.connections == 0
    assert proxy.named("upstream_connect_failed") == []


def test_carried_allowed_ipv4_address_is_dialled(dns, ses_factory, lo_aliases,
                                                 proxy_factory,
                                                 carrier_allowlist):
    """The control: 64:ff9b::7f00:2 carries 127.0.0.2, which AMAZON
    us-east-1 of the fixture holds, so it is dialled."""
    nat64 = ses_factory("64:ff9b::7f00:2")
    set_answer(dns, ["64:ff9b::7f00:2"])
    proxy = proxy_factory("--ip-ranges", carrier_allowlist)
    assert first_line() == SES_GREETING
    assert nat64.connections == 1
    assert proxy.named("upstream_denied") == []


def test_egr08_only_port_587_is_dialled(dns, ses, listener_factory, proxy_factory):
    others = [listener_factory("127.0.0.2", port) for port in (25, 465, 2587)]
    proxy = proxy_factory()
    for _ in range(3):
        assert first_line() == SES_GREETING
    assert [o.pending() for o in others] == [0, 0, 0]
    assert ses.connections == 3
    for close in proxy.wait_count("conn_close", 3):
        assert port_of(close["upstream"]) in (None, 587)


def test_all_denied_answer_keeps_the_last_validated_set(dns, ses,
                                                        proxy_factory):
    """A later answer with only denied addresses (spoofed, or SES moved to
    ranges newer than the file) does not empty the set: the last validated
    addresses stay in use, and the denial is logged. Nothing denied is
    ever dialled."""
    dns.set_ses(v4=["127.0.0.2"], ttl=2)
    proxy = proxy_factory()
    with connect() as c:
        assert read_line(c) == SES_GREETING
    dns.set_ses(v4=["127.0.1.7"], ttl=2)
    kept = proxy.wait_event("upstream_all_denied", timeout=10)
    assert int(kept["kept"]) == 1 and int(kept["denied"]) == 1
    assert proxy.named("upstream_denied", addr="127.0.1.7")
    with connect() as c:
        assert read_line(c) == SES_GREETING
    assert all(e["upstream"] == "127.0.0.2" for e in proxy.named("conn_close"))
