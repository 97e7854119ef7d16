#!/usr/bin/python3
"""Differential test of cidr.c's matcher against Python's ipaddress.

    /usr/bin/python3 tests/unit/diff_cidr.py [ORACLE]

ORACLE (default build/tests/cidr_oracle) reads "PREFIX ADDR" lines and
prints "P A M": cidr_parse's verdict (0, -1 malformed, -2 host bits set),
cidr_addr_parse's (0, -1) and cidr_contains (1/0).  Hypothesis generates the
cases; the expected answer comes from ipaddress plus the module's documented
rules, modelled explicitly here:

  * v4-mapped: ::ffff:a.b.c.d IS a.b.c.d (address and prefix).  A prefix
    ::ffff:a.b.c.d/N is the IPv4 prefix a.b.c.d/(N-96) when N >= 96, and
    malformed (-1, not -2) when N < 96.  Hence an IPv6 prefix never
    contains a v4-mapped address (::/0 does not contain ::ffff:1.2.3.4),
    unlike ipaddress.
  * the prefix length is strict decimal: 1 to 3 digits, no leading zero,
    at most 32 (IPv4 text) or 128 (IPv6 text); no netmask form.
  * no zone ids (%eth0), no brackets.
  * carried IPv4 (cidr_addr_carried): NAT64 64:ff9b::/96 (low 32 bits),
    6to4 (ipaddress's sixtofour), Teredo (ipaddress's teredo client),
    IPv4-compatible ::/96 but :: and ::1 (low 32 bits); "x" for the
    local-use NAT64
    prefix 64:ff9b:1::/48.
  * --allow-cidr limits (cidr_unsafe): shorter than /8 or /16; a network
    that overlaps an unspecified, loopback, link-local or multicast
    network of ipaddress's, or holds an AWS instance service address; one
    that overlaps 64:ff9b:1::/48; or the IPv4 range carried by its part in
    a carrier range (from the first and last addresses of that part,
    through the carried-address model) unsafe by the same rules.
"""
import ipaddress
import os
import subprocess
import sys

# Hypothesis makes a .hypothesis/ directory even without a database.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", "build/.hypothesis")

from hypothesis import HealthCheck, given, settings, strategies as st

ORACLE = sys.argv[1] if len(sys.argv) > 1 else "build/tests/cidr_oracle"
V4, V6 = ipaddress.IPv4Address, ipaddress.IPv6Address
MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def unmap(a):
    if isinstance(a, V6) and a.ipv4_mapped is not None:
        return a.ipv4_mapped
    return a


def model_addr(text):
    """The address cidr_addr_parse should give, or None."""
    if "%" in text or not text or len(text) >= 48:
        return None
    try:
        return unmap(ipaddress.ip_address(text))
    except ValueError:
        return None


def model_prefix(text):
    """(verdict, network or None) that cidr_parse should give."""
    atext, slash, ltext = text.partition("/")
    a = model_addr(atext)
    if a is None:
        return -1, None
    v6text = ":" in atext
    mx = 128 if v6text else 32
    if not slash:
        ln = mx
    elif (not ltext or len(ltext) > 3 or not ltext.isascii()
          or not ltext.isdigit() or (len(ltext) > 1 and ltext[0] == "0")
          or int(ltext) > mx):
        return -1, None
    else:
        ln = int(ltext)
    if v6text and isinstance(a, V4):        # a v4-mapped prefix
        if ln < 96:
            return -1, None
        ln -= 96
    try:
        return 0, ipaddress.ip_network((a, ln), strict=True)
    except ValueError:
        return -2, None


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
COMPAT = ipaddress.IPv6Network("::/96")
SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
TEREDO = ipaddress.IPv6Network("2001::/32")
CARRIERS = [NAT64, NAT64_LOCAL, COMPAT, SIXTOFOUR, TEREDO]
AWS_INSTANCE = [ipaddress.ip_address(a) for a in
                ("fd00:ec2::254", "fd00:ec2::253", "fd00:ec2::123")]


def carried(a):
    """The IPv4 address an IPv6 address carries, "x" (unknown) or None."""
    if not isinstance(a, V6):
        return None
    if a in NAT64 or (a in COMPAT and not (a.is_unspecified or
                                           a.is_loopback)):
        return V4(int(a) & 0xffffffff)
    if a in NAT64_LOCAL:
        return "x"
    if a.sixtofour is not None:
        return a.sixtofour
    if a.teredo is not None:
        return a.teredo[1]
    return None


def special_nets(version):
    """Networks of the addresses that ipaddress calls unspecified,
    loopback, link-local or multicast (found by probing its predicates)."""
    if version == 4:
        cands = ["0.0.0.0/32", "127.0.0.0/8", "169.254.0.0/16",
                 "224.0.0.0/4"]
        pred = ["is_unspecified", "is_loopback", "is_link_local",
                "is_multicast"]
    else:
        cands = ["::/128", "::1/128", "fe80::/10", "ff00::/8"]
        pred = ["is_unspecified", "is_loopback", "is_link_local",
                "is_multicast"]
    nets = [ipaddress.ip_network(c) for c in cands]
    # The model's networks are ipaddress's: both ends of each satisfy its
    # predicate, and the addresses just outside do not.
    for n, attr in zip(nets, pred):
        def p(x, attr=attr):
            return getattr(x, attr)
        assert p(n.network_address) and p(n.broadcast_address)
        for out in (int(n.network_address) - 1, int(n.broadcast_address) + 1):
            if 0 <= out < 2 ** n.max_prefixlen:
                assert not p(type(n.network_address)(out)), (n, out)
    return nets


SPECIAL = {4: special_nets(4), 6: special_nets(6)}


def unsafe(net):
    if net.prefixlen < (8 if net.version == 4 else 16):
        return 1
    if any(net.overlaps(s) for s in SPECIAL[net.version]):
        return 1
    if net.version == 4:
        return 0
    if any(a in net for a in AWS_INSTANCE):
        return 1
    for k in CARRIERS:
        if not net.overlaps(k):
            continue
        if k == NAT64_LOCAL:
            return 1
        part = net if net.prefixlen >= k.prefixlen else k
        ends = sorted(int(carried(x)) for x in (part.network_address,
                                                 part.broadcast_address))
        v4 = list(ipaddress.summarize_address_range(V4(ends[0]),
                                                    V4(ends[1])))
        assert len(v4) == 1, (net, k, v4)
        if unsafe(v4[0]):
            return 1
    return 0


def expected(ptext, atext):
    p, net = model_prefix(ptext)
    a = model_addr(atext)
    m = int(net is not None and a is not None and a.version == net.version
            and a in net)
    c = carried(a) if a is not None else None
    return (p, 0 if a is not None else -1, m, "-" if c is None else str(c),
            "-" if net is None else str(unsafe(net)))


# ---- strategies -------------------------------------------------------

def texts_of(a):
    """Textual forms of address ${a} that both sides must accept."""
    forms = [str(a)]
    if isinstance(a, V6):
        forms += [a.exploded, str(a).upper()]
        hi = int(a) >> 32
        forms.append(str(V6(hi << 32)).rstrip(":") + ":" +
                     str(V4(int(a) & 0xffffffff))
                     if hi else "::" + str(V4(int(a) & 0xffffffff)))
    else:
        forms.append("::ffff:" + str(a))                    # v4-mapped
        forms.append(str(V6((0xffff << 32) | int(a))))     # ::ffff:hex
    return st.sampled_from(forms)


# IPv4 addresses with a bias towards the special ranges and their edges.
v4special = st.sampled_from([0, 0x7f000000, 0xa9fea9fe, 0xa9fe0000,
                             0xe0000000, 0xefffffff, 0x0a000000])
v4addr = st.one_of(
    st.integers(0, 2**32 - 1),
    st.tuples(v4special, st.integers(-2**16, 2**16)).map(
        lambda t: (t[0] + t[1]) % 2**32),
).map(V4)


def under(prefix, bits):
    """Addresses of ${prefix} (an int of its network address) with the
    low ${bits} bits random."""
    return st.integers(0, 2**bits - 1).map(lambda x: prefix | x)


V6INT = lambda t: int(ipaddress.IPv6Address(t))
v6addr = st.one_of(
    st.integers(0, 2**128 - 1),
    st.integers(0, 2**32 - 1).map(lambda x: (0xffff << 32) | x),  # mapped
    st.integers(0, 2**32 - 1),                                   # ::a.b.c.d
    st.sampled_from([0, 1, 2**128 - 1, (0xffff << 32) - 1,
                     (0xffff << 32), (0x1_0000 << 32)]),
    under(V6INT("64:ff9b::"), 32),                               # NAT64
    v4addr.map(lambda a: V6INT("64:ff9b::") | int(a)),
    under(V6INT("64:ff9b:1::"), 80),                             # local
    under(V6INT("64:ff9b::"), 96),
    under(V6INT("2002::"), 112),                                 # 6to4
    v4addr.map(lambda a: V6INT("2002::") | int(a) << 80),
    under(V6INT("2001::"), 96),                                  # Teredo
    v4addr.map(lambda a: V6INT("2001::") | (int(a) ^ 0xffffffff)),
    under(V6INT("fd00:ec2::"), 12),                              # AWS
    under(V6INT("fe80::"), 118),
    under(V6INT("ff00::"), 120),
).map(V6)


@st.composite
def net_and_addr(draw):
    """A network, then an address at or near its edges, or anywhere."""
    v6 = draw(st.booleans())
    bits = 128 if v6 else 32
    base = draw(v6addr if v6 else v4addr)
    ln = draw(st.one_of(st.sampled_from([0, 1, bits - 1, bits, 96, 95, 97,
                                         104, 8, 16, 24, 64, 4, 7, 10, 15,
                                         17, 32, 33, 48, 49, 112, 120]),
                        st.integers(0, bits)).filter(lambda x: x <= bits))
    net = ipaddress.ip_network((base, ln), strict=False)
    first, last = int(net.network_address), int(net.broadcast_address)
    cls = V6 if v6 else V4
    pick = draw(st.sampled_from(["first", "last", "first-1", "last+1",
                                 "inside", "any", "any-other-family"]))
    if pick == "any-other-family":
        a = draw(v4addr if v6 else v6addr)
    elif pick == "any":
        a = draw(v6addr if v6 else v4addr)
    else:
        x = {"first": first, "last": last, "first-1": first - 1,
             "last+1": last + 1,
             "inside": draw(st.integers(first, last))}[pick]
        a = cls(x % (2 ** bits))
    # The prefix text: canonical, or with host bits (a random address of
    # the network), or a v4 prefix written v4-mapped (len + 96), or bare.
    how = draw(st.sampled_from(["net", "hostbits", "mapped", "bare"]))
    if how == "net":
        addr_texts = texts_of(net.network_address)
        suffix = "/%d" % ln
    elif how == "hostbits":
        addr_texts = texts_of(cls(draw(st.integers(first, last))))
        suffix = "/%d" % ln
    elif how == "mapped" and not v6:
        addr_texts = st.just("::ffff:" + str(net.network_address))
        suffix = "/%d" % (ln + 96)
    else:
        addr_texts = texts_of(net.network_address)
        suffix = ""
    atext = draw(addr_texts)
    # A v4 text with a v6-style suffix beyond 32 is malformed; keep the
    # suffix consistent with the family the text is written in.
    if ":" not in atext and suffix and int(suffix[1:]) > 32:
        suffix = "/32"
    return atext + suffix, draw(texts_of(a))


junk = st.text(alphabet="0123456789abcdefABCDEF:./x%", max_size=24)


def run_oracle(cases):
    inp = "".join("%s %s\n" % c for c in cases)
    out = subprocess.run([ORACLE], input=inp, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [tuple(int(x) for x in line.split()[:3]) +
            tuple(line.split()[3:]) for line in out.splitlines()]


BATCH = []


def check(ptext, atext):
    if " " in ptext or " " in atext or "\n" in ptext + atext:
        return
    BATCH.append((ptext, atext))


@settings(max_examples=2000, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(net_and_addr())
def gen_pairs(pa):
    check(*pa)


@settings(max_examples=1000, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.one_of(junk, junk.map(lambda s: s + "/" + "24")), junk)
def gen_junk(p, a):
    check(p, a)


FIXED = [
    ("64:ff9b::/96", "64:ff9b::a9fe:a9fe"), ("2002::/16", "2002:a9fe:a9fe::1"),
    ("2001::/32", "2001::5601:5601"), ("::/96", "::a9fe:a9fe"),
    ("64:ff9b:1::/48", "64:ff9b:1::1"), ("fd00:ec2::/32", "fd00:ec2::254"),
    ("2001::f5ff:ff00/120", "2001::f5ff:ff01"), ("64::/16", "64::1"),
    ("64:ff9b::a00:0/104", "64:ff9b::a00:1"), ("10.0.0.0/8", "10.0.0.1"),
    ("10.0.0.0/7", "10.0.0.1"), ("2600::/15", "2600::1"),
    ("2600::/16", "2600::1"), ("fec0::/16", "fec0::1"),
    ("febf:ffff::/32", "febf:ffff::1"), ("240.0.0.0/8", "240.0.0.1"),
    ("223.255.255.0/24", "223.255.255.1"), ("169.253.0.0/16", "169.253.0.1"),
    ("0.0.0.0/0", "255.255.255.255"), ("0.0.0.0/0", "::ffff:0.0.0.0"),
    ("::/0", "::ffff:1.2.3.4"), ("::/0", "::1"), ("::/0", "1.2.3.4"),
    ("::ffff:0:0/96", "9.9.9.9"), ("::ffff:0:0/95", "9.9.9.9"),
    ("::ffff:10.0.0.0/104", "10.255.255.255"),
    ("::ffff:10.0.0.0/104", "11.0.0.0"), ("10.0.0.0/8", "::ffff:a00:1"),
    ("10.0.0.0/08", "10.0.0.1"), ("10.0.0.0/33", "10.0.0.1"),
    ("1.2.3.4/32", "1.2.3.4"), ("1.2.3.4/32", "1.2.3.5"),
    ("::1/128", "::1"), ("::1/128", "::2"), ("::/129", "::"),
    ("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2001:db8::/32", "2001:db9::"), ("2001:db8::/32", "2001:db7:ffff::"),
    ("1.2.3.0/24", "01.2.3.4"), ("fe80::/10", "fe80::1%eth0"),
]


def main():
    gen_pairs()
    gen_junk()
    cases = FIXED + BATCH
    got = run_oracle(cases)
    if len(got) != len(cases):
        print("oracle answered %d of %d lines" % (len(got), len(cases)))
        return 1
    bad = 0
    for (p, a), g in zip(cases, got):
        want = expected(p, a)
        if g != want:
            bad += 1
            if bad <= 20:
                print("MISMATCH %-44s %-42s C=%s model=%s" % (p, a, g, want))
    kinds = {}
    for (p, a) in cases:
        e = expected(p, a)
        e = e[:3] + (e[3] if e[3] in "-x" else "v4", e[4])   # C: its kind
        kinds[e] = kinds.get(e, 0) + 1
    print("diff_cidr: %d cases, %d mismatches; verdicts %s" %
          (len(cases), bad, dict(sorted(kinds.items()))))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
