#!/usr/bin/env bash
# Container tests: build the image, then test it with the real Docker engine.
#
#   tests/container/run.sh [pytest args...]
#
# Needs root. Installs the missing packages (tests/deps.sh), starts dockerd
# when it does not answer, seeds the builder base when it is absent, builds
# the image offline-first (build-image.sh), then runs pytest on
# tests/container/. Containers use --network host, which joins dockerd's
# network namespace: pytest must run in that same namespace (the root one),
# where every test byte still stays on 127.0.0.0/8 (the fake SES listens on
# 127.0.0.2:587 and 127.0.0.3:587, the proxy on 127.0.0.1:11587).
#
# Exits with pytest's status.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
image=${IMAGE:-ses-smtp-proxy}
started=$SECONDS

if [[ $(id -u) -ne 0 ]]; then
	echo "run.sh: must run as root (dockerd, debootstrap, apt-get)" >&2
	exit 2
fi

"$here/../deps.sh"

# Every test byte stays on loopback: the builder base is never pulled here,
# it is seeded with debootstrap when absent (seed-base.sh).
export BUILDER_PULL=0
IMAGE=$image "$here/build-image.sh"

# --network host means dockerd's namespace: ours must be the same one.
dockerd_pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [[ -z "$dockerd_pid" || ! -e /proc/$dockerd_pid/ns/net ]]; then
	echo "run.sh: cannot find dockerd's PID (/var/run/docker.pid)" >&2
	exit 2
fi
ours=$(readlink /proc/self/ns/net)
theirs=$(readlink "/proc/$dockerd_pid/ns/net")
if [[ "$ours" != "$theirs" ]]; then
	echo "run.sh: this shell is not in dockerd's network namespace;" \
		"run it from the root namespace" >&2
	exit 2
fi

size=$(docker image inspect -f '{{.Size}}' "$image")
echo "run.sh: image $image is $size bytes ($((size / 1024)) KiB);" \
	"built in $((SECONDS - started)) s"

cd "$here"
export PYTHONDONTWRITEBYTECODE=1 SES_CTR_IMAGE="$image"
rc=0
/usr/bin/python3 -m pytest -p no:cacheprovider "$@" || rc=$?
echo "run.sh: container tests took $((SECONDS - started)) s in all (exit $rc)"
exit "$rc"
