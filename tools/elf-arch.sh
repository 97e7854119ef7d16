#!/bin/sh
# Stop a build whose binary is not for the architecture it is shipped as.
#
#   tools/elf-arch.sh FILE amd64|arm64
#
# Reads the ELF header's e_machine (offset 18, little-endian: both
# targets are): 62 is x86-64, 183 is AArch64.  Exits 0 when FILE's machine
# is ARCH's, 1 (naming both) otherwise, 2 on a bad argument.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 FILE amd64|arm64" >&2; exit 2; }
case "$2" in
amd64) want=62 ;;
arm64) want=183 ;;
*) echo "elf-arch: unknown architecture $2 (amd64 or arm64)" >&2; exit 2 ;;
esac
magic=$(od -An -c -N4 "$1" | tr -d ' ')
[ "$magic" = '177ELF' ] || { echo "elf-arch: $1 is not an ELF file" >&2; exit 1; }
got=$(od -An -tu2 -j18 -N2 "$1" | tr -d ' ')
if [ "$got" != "$want" ]; then
	echo "elf-arch: $1 has ELF machine $got, not $want ($2):" \
	    "make ARCH=$2 did not build for $2" >&2
	exit 1
fi
