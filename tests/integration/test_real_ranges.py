"""The allowlist against AWS's real ip-ranges.json (offline: --check makes
no connection; the SES name comes from the fixture /etc/hosts).

Every test runs on tests/data/aws-ip-ranges.json, a cut of AWS's file kept
in the repository (tests/data/README.md), and fails if it is missing. When
the full file is at $SHARED_DATA/aws-ip-ranges.json (by default
<repo>/../shared/data/), each test runs on it as well."""

import datetime
import ipaddress
import json
import re

import pytest

from conftest import RANGES_FIXTURE, SHARED_DATA
from fakes import ses_name
from helpers import addr_list, parse_logfmt

FULL = SHARED_DATA / "aws-ip-ranges.json"
SOURCES = [RANGES_FIXTURE] + ([FULL] if FULL.is_file() else [])
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]


@pytest.fixture(scope="module", params=SOURCES,
                ids=["fixture", "full"][:len(SOURCES)])
def real(request):
    """The path of the real file this run of the module reads."""
    assert request.param.is_file(), (
        f"{request.param} is missing: it is part of the repository "
        "(tests/data/README.md says how to regenerate it)")
    return request.param


def key(addr):
    """Compare addresses with ::ffff:a.b.c.d folded onto a.b.c.d."""
    ip = ipaddress.ip_address(str(addr))
    return getattr(ip, "ipv4_mapped", None) or ip


@pytest.fixture(scope="module")
def real_doc(real):
    return json.loads(real.read_text())


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
def test_counts_match_independent_computation(real, real_doc, run_proxy,
                                             region):
    v4, v6 = amazon_prefixes(real_doc, region)
    first = ipaddress.ip_network(sorted(v4)[0]).network_address
    rc, out, err = run_proxy("--check", "--region", region, "--ip-ranges", real,
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


def age_days(create_date, now):
    """Whole days since createDate (UTC), as the relay counts them."""
    created = datetime.datetime.strptime(create_date, "%Y-%m-%d-%H-%M-%S")
    created = created.replace(tzinfo=datetime.timezone.utc)
    return max((now - created) // datetime.timedelta(days=1), 0)


def test_age_logged_and_in_stats(real, real_doc, proxy_factory):
    """The file's age in whole days is in every stats line, and a file over
    30 days old (the fixture always is) logs allowlist_stale at startup."""
    v4, _ = amazon_prefixes(real_doc, "us-east-1")
    first = ipaddress.ip_network(sorted(v4)[0]).network_address
    now = datetime.datetime.now
    before = age_days(real_doc["createDate"], now(datetime.timezone.utc))
    proxy = proxy_factory("--ip-ranges", real, "--stats-interval", "1",
                          hosts=[(str(first), ses_name())])
    stats = proxy.wait_event("stats", timeout=5)
    after = age_days(real_doc["createDate"], now(datetime.timezone.utc))
    assert int(stats["allowlist_age_days"]) in (before, after)
    stale = proxy.named("allowlist_stale")
    if before >= 30:
        assert len(stale) == 1, proxy.log_text()
        assert stale[0]["create_date"] == real_doc["createDate"]
        assert int(stale[0]["age_days"]) in (before, after)
    elif after < 30:
        assert stale == []


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
def test_boundaries_in_and_out(real, real_doc, run_proxy, region, version):
    v4, v6 = amazon_prefixes(real_doc, region)
    cases = boundary_cases(v4 if version == 4 else v6, version)
    if version == 4:
        # v4-mapped IPv6 forms are judged as the v4 address they carry.
        cases += [(ipaddress.IPv6Address(f"::ffff:{a}"), ok)
                  for a, ok in cases[:4]]
    name = ses_name(region)
    rc, out, err = run_proxy("--check", "--region", region, "--ip-ranges", real,
                             hosts=[(str(a), name) for a, _ in cases])
    assert rc == 0, out + err  # at least one address is usable
    verdicts = check_verdicts(out, err)
    wrong = {str(a): verdicts.get(key(a)) for a, ok in cases
             if verdicts.get(key(a)) is not ok}
    assert wrong == {}, f"addresses with a wrong or missing verdict:\n{out}\n{err}"


def test_other_regions_addresses_denied(real, real_doc, run_proxy):
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
                             real, hosts=[(str(a), ses_name()) for a in candidates])
    assert rc == 1, out + err  # nothing usable
    verdicts = check_verdicts(out, err)
    assert {str(a): verdicts.get(key(a)) for a in candidates} == \
        {str(a): False for a in candidates}
