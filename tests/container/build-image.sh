#!/usr/bin/env bash
# Build the image the way the container tests and the demo need it:
#
#   tests/container/build-image.sh        (IMAGE=ses-smtp-proxy by default)
#
# - the Docker engine and the builder base come from seed-base.sh (started
#   or seeded locally when missing; no registry is asked);
# - the build context gets an ip-ranges.json (gitignored, never committed)
#   when it has none: a copy of $SHARED_DATA/aws-ip-ranges.json (default
#   ../shared/data beside the repo), else a small fixture in AWS's format
#   whose prefixes are documentation addresses, so the Dockerfile never
#   downloads the file;
# - `make image` runs with --add-host for the SES name, so the build's
#   --check reads /etc/hosts and never asks a real resolver.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
image=${IMAGE:-ses-smtp-proxy}
shared=${SHARED_DATA:-$repo/../shared/data}
ranges=$repo/ip-ranges.json

if [[ -f "$ranges" ]]; then
	echo "build-image: using the existing $ranges (gitignored)"
elif [[ -f "$shared/aws-ip-ranges.json" ]]; then
	echo "build-image: copying $shared/aws-ip-ranges.json into the build context"
	cp "$shared/aws-ip-ranges.json" "$ranges"
	chmod 0644 "$ranges"
else
	echo "build-image: no AWS ranges file: writing a fixture into the build context"
	/usr/bin/python3 - "$ranges" <<'EOF'
import datetime, json, sys
now = datetime.datetime.now(datetime.timezone.utc)
pfx = [("198.51.100.0/24", "us-east-1", "AMAZON"),
       ("198.51.100.0/24", "us-east-1", "EC2"),
       ("203.0.113.0/24", "eu-west-1", "AMAZON")]
pfx6 = [("2001:db8:1::/48", "us-east-1", "AMAZON")]
doc = {"syncToken": str(int(now.timestamp())),
       "createDate": now.strftime("%Y-%m-%d-%H-%M-%S"),
       "prefixes": [{"ip_prefix": p, "region": r, "service": s,
                     "network_border_group": r} for p, r, s in pfx],
       "ipv6_prefixes": [{"ipv6_prefix": p, "region": r, "service": s,
                          "network_border_group": r} for p, r, s in pfx6]}
with open(sys.argv[1], "w") as f:
    json.dump(doc, f, indent=2)
EOF
	chmod 0644 "$ranges"
fi

make -C "$repo" image IMAGE="$image" \
	DOCKER_BUILD_FLAGS="--add-host email-smtp.us-east-1.amazonaws.com:127.0.0.1"
