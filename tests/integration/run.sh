#!/usr/bin/env bash
# Run the integration suite inside a private network and mount namespace
# whose only interface is loopback, so that no test byte can leave the
# machine whatever address the proxy is fed.
#
#   tests/integration/run.sh [pytest args...]
#
# Needs root (unshare). Exits with pytest's status.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)

if [[ ! -x "$repo/ses-smtp-proxy" ]]; then
	echo "run.sh: $repo/ses-smtp-proxy is missing: run make first" >&2
	exit 2
fi
exec "$repo/tests/netns-pytest.sh" "$here" "$@"
