#!/bin/sh
# tests/fresh/run.sh runs this in the fresh root, in private PID and mount
# namespaces, as /src/tests/fresh/inside.sh: /proc for this PID namespace,
# then the project's tests/deps.sh (its output shown only when it fails),
# then tests/preflight.sh, whose status is this script's.
set -eu

mount -t proc proc /proc
if ! /src/tests/deps.sh >/tmp/deps.log 2>&1; then
	tail -30 /tmp/deps.log >&2
	echo "fresh-check: tests/deps.sh failed in the fresh root" >&2
	exit 1
fi
exec /src/tests/preflight.sh
