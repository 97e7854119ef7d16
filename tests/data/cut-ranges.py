#!/usr/bin/python3
"""Cut tests/data/aws-ip-ranges.json from AWS's full ip-ranges.json.

    tests/data/cut-ranges.py FULL.json > tests/data/aws-ip-ranges.json

The cut keeps syncToken, createDate, the key order of AWS's file, its
entries in their order and with all their keys, and its layout (json.dumps
with indent=2, no final newline, which reproduces AWS's file byte for
byte). Entries kept, in each family (prefixes, ipv6_prefixes):

- every entry of FULL_REGIONS, whatever the service;
- in SAMPLED_REGIONS, per (region, service), the 1st, 9th, 17th ...
  entry in file order (every STRIDE-th);
- in every other region, the first AMAZON entry;
- the AMAZON entry of any prefix kept under another service of the same
  region (in AWS's file every EC2 prefix is also listed as AMAZON).

The same input always gives the same bytes; README.md beside this script
records the input's syncToken and createDate."""

import collections
import json
import sys

FULL_REGIONS = {"us-gov-west-1"}
SAMPLED_REGIONS = {"us-east-1", "eu-west-1", "ap-southeast-2", "GLOBAL"}
STRIDE = 8
FAMILIES = (("prefixes", "ip_prefix"), ("ipv6_prefixes", "ipv6_prefix"))


def picked(entries):
    """Indexes of the entries kept by the first three rules."""
    seen = collections.Counter()
    keep = set()
    for i, e in enumerate(entries):
        region, service = e["region"], e["service"]
        n = seen[region, service]
        seen[region, service] += 1
        if (region in FULL_REGIONS
                or (region in SAMPLED_REGIONS and n % STRIDE == 0)
                or (service == "AMAZON" and n == 0)):
            keep.add(i)
    return keep


def cut_family(entries, key):
    """The kept entries, in file order, with their AMAZON twins."""
    keep = picked(entries)
    kept_prefixes = {(entries[i][key], entries[i]["region"]) for i in keep}
    for i, e in enumerate(entries):
        if e["service"] == "AMAZON" and (e[key], e["region"]) in kept_prefixes:
            keep.add(i)
    return [e for i, e in enumerate(entries) if i in keep]


def cut(doc):
    out = {}
    for k, v in doc.items():
        family = dict(FAMILIES).get(k)
        out[k] = cut_family(v, family) if family else v
    return out


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: cut-ranges.py FULL-ip-ranges.json > CUT.json")
    with open(argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    sys.stdout.write(json.dumps(cut(doc), indent=2))


if __name__ == "__main__":
    main(sys.argv)
