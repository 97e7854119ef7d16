#!/usr/bin/env bash
# The sandbox tests (probe.c + test_*.py) inside a private network and mount
# namespace whose only interface is loopback: the Landlock tests listen on
# 127.0.0.1:25/465/587/2587 and connect there, and nothing may leave.
#
#   tests/seccomp/run.sh [pytest args...]
#
# Needs root (unshare), the proxy and build/seccomp/probe (make
# seccomp-test builds both). Exits with pytest's status.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)

for f in "$repo/ses-smtp-proxy" "${SECCOMP_PROBE:-$repo/build/seccomp/probe}"; do
	if [[ ! -x "$f" ]]; then
		echo "run.sh: $f is missing: run make seccomp-test" >&2
		exit 2
	fi
done
exec "$repo/tests/netns-pytest.sh" "$here" "$@"
