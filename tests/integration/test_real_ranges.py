"""The allowlist against AWS's real ip-ranges.json (offline: --check makes
no connection; the SES name comes from the fixture /etc/hosts).

The file is looked up as $SHARED_DATA/aws-ip-ranges.json, by default
<repo>/../shared/data/aws-ip-ranges.json; without it these tests skip."""

import ipaddress
import json
import re

import pytest

from conftest import SHARED_DATA
from fakes import ses_name
from helpers import addr_list, parse_logfmt

REAL = SHARED_DATA / "aws-ip-ranges.json"
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]

pytestmark = pytest.mark.skipif(
    not REAL.is_file(), reason=f"real ip-ranges.json not found at {REAL} "
                               "(set SHARED_DATA to the folder holding it)")


def key(addr):
    """Compare addresses with ::ffff:a.b.c.d folded onto a.b.c.d."""
    ip = ipaddress.ip_address(str(addr))
    return getattr(ip, "ipv4_mapped", None) or ip


@pytest.fixture(scope="module")
def real_doc():
    return json.loads(REAL.read_text())


def amazon_prefixes(doc, region):
    v4 = {p["ip_prefix"] for p in doc["prefixes"]
          if p["service"] == "AMAZON" and p["region"] == region}
    v6 = {p["ipv6_prefix"] for p in doc["ipv6_prefixes"]
          if p["service"] == "AMAZON" and p["region"] == region}
    return v4, v6


def merged_ranges(prefixes):
    """Contiguous [first, last] address ranges covered by the prefixes."""
    spans = sorted((int(n.network_address), int(n.broadcast_address))
                   for n in map(ipaddress.ip_network, prefixes))
    out = []
    for lo, hi in spans:
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def boundary_cases(prefixes, version):
    """(address, expected verdict) for the first, a middle and the last
    merged range: first and last address allowed, one below and one above
    denied."""
    ranges = merged_ranges(prefixes)
    picks = [ranges[0], ranges[len(ranges) // 2], ranges[-1]]
    cases = []
    top = (1 << (32 if version == 4 else 128)) - 1
    for lo, hi in picks:
        cases += [(lo, True), (hi, True)]
        if lo > 0:
            cases.append((lo - 1, False))
        if hi < top:
            cases.append((hi + 1, False))
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [(make(n), ok) for n, ok in cases]


def check_verdicts(out, err):
    """Address -> True (usable) / False (denied) from --check's output.
    Accepts upstream_resolved/upstream_denied events (JSON or logfmt) and
    plain lines naming an address with allowed/denied."""
    verdicts = {}
    for line in (out + "\n" + err).splitlines():
        event = None
        try:
            event = json.loads(line)
        except ValueError:
            event = parse_logfmt(line)
        if isinstance(event, dict) and event.get("event"):
            if event["event"] == "upstream_denied":
                verdicts[key(addr_list([event["addr"]])[0])] = False
            elif event["event"] == "upstream_resolved":
                for a in addr_list(event.get("addrs")):
                    verdicts.setdefault(key(a), True)
            continue
        words = line.lower()
        verdict = (False if re.search(r"\b(den(y|ied)|reject|refused|blocked)", words)
                   else True if re.search(r"\b(allow(ed)?|ok|usable|accepted)\b", words)
                   else None)
        if verdict is None:
            continue
        for token in re.findall(r"[0-9A-Fa-f:.]{2,}", line):
            try:
                verdicts[key(addr_list([token])[0])] = verdict
            except ValueError:
                pass
    return verdicts


@pytest.mark.parametrize("region", REGIONS)
def test_counts_match_independent_computation(real_doc, run_proxy, region):
    v4, v6 = amazon_prefixes(real_doc, region)
    first = ipaddress.ip_network(sorted(v4)[0]).network_address
    rc, out, err = run_proxy("--check", "--region", region, "--ip-ranges", REAL,
                             hosts=[(str(first), ses_name(region))])
    assert rc == 0, out + err
    loaded = [json.loads(l) for l in err.splitlines()
              if '"allowlist_loaded"' in l]
    assert loaded, err
    assert loaded[0]["region"] == region
    assert (int(loaded[0]["v4"]), int(loaded[0]["v6"])) == (len(v4), len(v6))
    assert str(loaded[0]["sync_token"]) == str(real_doc["syncToken"])
    assert loaded[0]["create_date"] == real_doc["createDate"]
    top, entry = ignored_keys(real_doc)
    assert int(loaded[0]["ignored_top_keys"]) == top
    assert int(loaded[0]["ignored_entry_keys"]) == entry


def ignored_keys(doc):
    """Keys the relay does not know: (top level, summed over entries)."""
    top = set(doc) - {"syncToken", "createDate", "prefixes", "ipv6_prefixes"}
    known = {"region", "service", "network_border_group"}
    entry = sum(len(set(e) - known - {"ip_prefix"}) for e in doc["prefixes"])
    entry += sum(len(set(e) - known - {"ipv6_prefix"})
                 for e in doc["ipv6_prefixes"])
    return len(top), entry


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("version", [4, 6])
def test_boundaries_in_and_out(real_doc, run_proxy, region, version):
    v4, v6 = amazon_prefixes(real_doc, region)
    cases = boundary_cases(v4 if version == 4 else v6, version)
    if version == 4:
        # v4-mapped IPv6 forms are judged as the v4 address they carry.
        cases += [(ipaddress.IPv6Address(f"::ffff:{a}"), ok)
                  for a, ok in cases[:4]]
    name = ses_name(region)
    rc, out, err = run_proxy("--check", "--region", region, "--ip-ranges", REAL,
                             hosts=[(str(a), name) for a, _ in cases])
    assert rc == 0, out + err  # at least one address is usable
    verdicts = check_verdicts(out, err)
    wrong = {str(a): verdicts.get(key(a)) for a, ok in cases
             if verdicts.get(key(a)) is not ok}
    assert wrong == {}, f"addresses with a wrong or missing verdict:\n{out}\n{err}"


def test_other_regions_addresses_denied(real_doc, run_proxy):
    """eu-west-1's first and last addresses, checked for us-east-1."""
    v4, v6 = amazon_prefixes(real_doc, "eu-west-1")
    mine4, mine6 = amazon_prefixes(real_doc, "us-east-1")
    mine = [ipaddress.ip_network(p) for p in mine4 | mine6]
    candidates = []
    for lo, hi in merged_ranges(v4)[:3] + merged_ranges(v6)[:3]:
        for n in (lo, hi):
            a = ipaddress.ip_address(n)
            if not any(a in m for m in mine if m.version == a.version):
                candidates.append(a)
    assert candidates
    rc, out, err = run_proxy("--check", "--region", "us-east-1", "--ip-ranges",
                             REAL, hosts=[(str(a), ses_name()) for a in candidates])
    assert rc == 1, out + err  # nothing usable
    verdicts = check_verdicts(out, err)
    assert {str(a): verdicts.get(key(a)) for a in candidates} == \
        {str(a): False for a in candidates}
