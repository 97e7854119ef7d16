#!/bin/sh
# The image architectures, one a line, from their one list (ARCHES in
# tools/oci.py): make reproduce builds and compares each.
set -eu
cd "$(dirname "$0")"
/usr/bin/python3 -c 'from oci import ARCHES; print(*ARCHES, sep="\n")'
