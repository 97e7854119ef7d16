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


def expected(ptext, atext):
    p, net = model_prefix(ptext)
    a = model_addr(atext)
    m = int(net is not None and a is not None and a.version == net.version
            and a in net)
    return p, 0 if a is not None else -1, m


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


v4addr = st.integers(0, 2**32 - 1).map(V4)
v6addr = st.one_of(
    st.integers(0, 2**128 - 1),
    st.integers(0, 2**32 - 1).map(lambda x: (0xffff << 32) | x),  # mapped
    st.integers(0, 2**32 - 1),                                   # ::a.b.c.d
    st.sampled_from([0, 1, 2**128 - 1, (0xffff << 32) - 1,
                     (0xffff << 32), (0x1_0000 << 32)]),
).map(V6)


@st.composite
def net_and_addr(draw):
    """A network, then an address at or near its edges, or anywhere."""
    v6 = draw(st.booleans())
    bits = 128 if v6 else 32
    base = draw(v6addr if v6 else v4addr)
    ln = draw(st.one_of(st.sampled_from([0, 1, bits - 1, bits, 96, 95, 97,
                                         104, 8, 16, 24, 64]),
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
    return [tuple(int(x) for x in line.split()) for line in
            out.splitlines()]


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
        kinds[e] = kinds.get(e, 0) + 1
    print("diff_cidr: %d cases, %d mismatches; verdicts %s" %
          (len(cases), bad, dict(sorted(kinds.items()))))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
