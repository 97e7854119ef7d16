#!/bin/sh
# Install what the build and the tests need on Debian 12, only when missing.
#
#   tests/deps.sh            install every package of tests/packages/*.txt
#   tests/deps.sh --list     print those names, one a line, and exit
#
# The lists are the one record of the project's Debian packages (one name a
# line, `#` starts a comment).  Packages are installed with
# --no-install-recommends, as on a minimal machine, so anything a tool only
# recommends is named in a list; tests/preflight.sh proves that each tool can
# then do what the tests ask.  Runs as root (apt-get); a no-op when
# everything is already installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(sed -e 's/#.*//' "$here"/packages/*.txt | tr -s '[:space:]' '\n' |
    grep -v '^$')
if [ "${1:-}" = "--list" ]; then
	echo "$pkgs"
	exit 0
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "tests/deps.sh: missing packages:$missing (run as root)" >&2
	exit 1
fi
echo "tests/deps.sh: installing$missing"
# A multiarch name (musl-dev:arm64) needs its architecture known to dpkg
# before apt-get update reads the indexes.
for a in $(echo "$pkgs" | sed -n 's/^[^:]*:\([a-z0-9]*\)$/\1/p' | sort -u); do
	dpkg --print-foreign-architectures | grep -qx "$a" ||
	    dpkg --add-architecture "$a"
done
export DEBIAN_FRONTEND=noninteractive
# Use-Pty=0: no pseudo-terminal for dpkg's log (a chroot may have no
# /dev/pts: tests/fresh/run.sh).
apt="apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0"
$apt update -qq
# shellcheck disable=SC2086
$apt install -y -qq --no-install-recommends $missing >/dev/null
