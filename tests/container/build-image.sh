#!/usr/bin/env bash
# Build the image the way the container tests and the demo need it:
#
#   tests/container/build-image.sh        (IMAGE=ses-smtp-proxy by default)
#
# - the Docker engine and the builder base come from seed-base.sh (started
#   or seeded locally when missing; no registry is asked);
# - the build context gets an ip-ranges.json (gitignored, never committed)
#   when it has none: a copy of tests/data/aws-ip-ranges.json, the cut of
#   AWS's file kept in the repository, so the Dockerfile never downloads it;
# - `make image` runs with --add-host for the SES name, so the build's
#   --check reads /etc/hosts and never asks a real resolver.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
image=${IMAGE:-ses-smtp-proxy}
fixture=$repo/tests/data/aws-ip-ranges.json
ranges=$repo/ip-ranges.json

if [[ -f "$ranges" ]]; then
	echo "build-image: using the existing $ranges (gitignored)"
else
	echo "build-image: copying $fixture into the build context"
	cp "$fixture" "$ranges"
	chmod 0644 "$ranges"
fi

make -C "$repo" image IMAGE="$image" \
	DOCKER_BUILD_FLAGS="--add-host email-smtp.us-east-1.amazonaws.com:127.0.0.1"
