"""The cut of AWS's ip-ranges.json in tests/data/: in AWS's format, its
provenance in tests/data/README.md true of it, and reproducible from the
full file with tests/data/cut-ranges.py."""

import hashlib
import json
import os
import re
import runpy
from pathlib import Path

import pytest

from deploylib import REPO

DATA = REPO / "tests" / "data"
FIXTURE = DATA / "aws-ip-ranges.json"
FULL = Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data")) \
    / "aws-ip-ranges.json"
KEYS = {"prefixes": "ip_prefix", "ipv6_prefixes": "ipv6_prefix"}


def readme_rows():
    """field -> value of the README's table."""
    text = (DATA / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| ([^|]+?) \| (.+?) \|$", text, re.M))


def numbers(text):
    """The whole numbers in text ("2,600,669" is one; the 4 of IPv4 none)."""
    return [int(n.replace(",", ""))
            for n in re.findall(r"(?<!\w)\d[\d,]*(?!\w)", text)]


def describe(raw):
    """(bytes, IPv4 entries, IPv6 entries, regions, services) of a file."""
    doc = json.loads(raw)
    entries = doc["prefixes"] + doc["ipv6_prefixes"]
    return (len(raw), len(doc["prefixes"]), len(doc["ipv6_prefixes"]),
            len({e["region"] for e in entries}),
            len({e["service"] for e in entries}))


def test_fixture_is_in_aws_format():
    doc = json.loads(FIXTURE.read_bytes())
    assert list(doc) == ["syncToken", "createDate", "prefixes",
                         "ipv6_prefixes"]
    for family, key in KEYS.items():
        assert doc[family], family
        for e in doc[family]:
            assert set(e) == {key, "region", "service",
                              "network_border_group"}, e
    regions = {e["region"] for e in doc["prefixes"] + doc["ipv6_prefixes"]}
    assert "GLOBAL" in regions
    assert FIXTURE.stat().st_size < 300_000


def test_readme_describes_the_fixture():
    rows = readme_rows()
    doc = json.loads(FIXTURE.read_bytes())
    assert rows["syncToken"] == f"`{doc['syncToken']}`"
    assert rows["createDate"].startswith(f"`{doc['createDate']}`")
    assert numbers(rows["this cut"]) == list(describe(FIXTURE.read_bytes()))
    assert "https://ip-ranges.amazonaws.com/ip-ranges.json" in rows["source"]


def test_cut_of_the_full_file_is_the_fixture():
    """Runs where the full file the README names is present."""
    if not FULL.is_file():
        pytest.skip(f"no full ip-ranges.json at {FULL} (set SHARED_DATA)")
    raw = FULL.read_bytes()
    sha = re.search(r"sha256 `([0-9a-f]{64})`", readme_rows()["source file"])
    if hashlib.sha256(raw).hexdigest() != sha.group(1):
        pytest.skip(f"{FULL} is another version than the one cut")
    assert numbers(readme_rows()["source file"])[:3] == \
        list(describe(raw)[:3])
    cut = runpy.run_path(str(DATA / "cut-ranges.py"))["cut"]
    assert json.dumps(cut(json.loads(raw)), indent=2).encode() == \
        FIXTURE.read_bytes()
