#!/usr/bin/env bash
# Run pytest on the test folder DIR inside a private network and mount
# namespace whose only interface is loopback, so that no test byte can leave
# the machine whatever address a test uses.
#
#   tests/netns-pytest.sh DIR [pytest args...]
#
# Needs root (unshare). Exits with pytest's status.
set -euo pipefail

if [[ "${SES_NETNS_PID:-}" != "$$" ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "netns-pytest.sh: must run as root (it uses unshare)" >&2
		exit 2
	fi
	# exec keeps the PID, which tells the re-executed script where it is.
	export SES_NETNS_PID=$$
	exec unshare --net --mount --propagation private -- \
		bash "${BASH_SOURCE[0]}" "$@"
fi

ip link set lo up
if [[ $(ip -o link show | wc -l) -ne 1 ]]; then
	echo "netns-pytest.sh: the test namespace has interfaces other than lo" >&2
	exit 2
fi

cd "$1"
shift
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m pytest -p no:cacheprovider "$@"
