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

if [[ "${SES_IT_NETNS:-}" != "$$" ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "run.sh: must run as root (it uses unshare)" >&2
		exit 2
	fi
	if [[ ! -x "$repo/ses-smtp-proxy" ]]; then
		echo "run.sh: $repo/ses-smtp-proxy is missing: run make first" >&2
		exit 2
	fi
	# exec keeps the PID, which tells the re-executed script where it is.
	export SES_IT_NETNS=$$
	exec unshare --net --mount --propagation private -- \
		bash "$here/run.sh" "$@"
fi

ip link set lo up
if [[ $(ip -o link show | wc -l) -ne 1 ]]; then
	echo "run.sh: the test namespace has interfaces other than lo" >&2
	exit 2
fi

cd "$here"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m pytest -p no:cacheprovider "$@"
