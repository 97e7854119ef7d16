#!/bin/sh
# Install what the build and the tests need on Debian 12, only when missing.
# Runs as root (apt-get); a no-op when everything is already installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
pkgs="gcc make musl-tools musl-dev libseccomp-dev clang libclang-rt-14-dev
    clang-tidy cppcheck shellcheck python3-hypothesis valgrind"
if [ -f "$here/integration/packages.txt" ]; then
	pkgs="$pkgs $(grep -v '^#' "$here/integration/packages.txt" | tr '\n' ' ')"
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
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
