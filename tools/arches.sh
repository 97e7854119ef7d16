#!/bin/sh
# The image architectures this tree can build, one a line: amd64, and arm64
# when `make ARCH=arm64` cross-compiles, which its dry run shows by naming
# an aarch64 toolchain (compiler or musl).  make reproduce and the
# container tests build, or skip with this reason, what it prints.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
echo amd64
if make -s -n -B --no-print-directory -C "$repo" ARCH=arm64 ses-smtp-proxy \
    2>/dev/null | grep -q aarch64; then
	echo arm64
fi
