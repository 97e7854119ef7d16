#!/usr/bin/env bash
# Drift check (STYLE.md section 7, after Firecracker's
# test_seccomp_no_redundant_rules.py): run the whole integration suite with
# every process under strace, then compare each call the proxy made after
# loading its filter with that filter's table in seccomp.c (drift.py): the
# relay's, or with --workers the supervisor's; forked workers and
# supervisors are followed. An unlisted call, arguments no row allows, or a
# SIGSYS death fails; a row the suite never uses is a warning.
#
#   tests/seccomp/drift.sh [pytest args for the integration suite...]
#
# Needs root, strace, the proxy and build/seccomp/probe. The traces are
# removed when the check passes (unless DRIFT_KEEP=1) and kept, with the
# path printed, when it fails.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
binary=${SES_SMTP_PROXY_BIN:-$repo/ses-smtp-proxy}
probe=${SECCOMP_PROBE:-$repo/build/seccomp/probe}

if [[ $(id -u) -ne 0 ]]; then
	echo "drift.sh: must run as root (the integration suite uses unshare)" >&2
	exit 2
fi
for f in "$binary" "$probe"; do
	if [[ ! -x "$f" ]]; then
		echo "drift.sh: $f is missing: run make seccomp-test" >&2
		exit 2
	fi
done
command -v strace >/dev/null || { echo "drift.sh: strace is missing" >&2; exit 2; }

out=$(mktemp -d /tmp/ses-drift.XXXXXX)
"$probe" --list >"$out/table"
mkdir "$out/trace"

# -ff: one file per process, so each proxy's calls can be read in order.
# -X raw: constants as numbers, which drift.py compares with the masks.
# -qq hides normal exits; "+++ killed by SIGSYS +++" is still printed.
# --pidns-translation: a fork's return value also in strace's PID namespace
# (the proxy runs as PID 1 in some tests), which names the child's file.
echo "drift.sh: integration suite under strace (a few minutes)"
suite=0
strace -ff -qq -X raw --pidns-translation -o "$out/trace/t" -- \
	"$repo/tests/integration/run.sh" -q "$@" >"$out/suite.log" 2>&1 || suite=$?
tail -n 3 "$out/suite.log"

check=0
/usr/bin/python3 "$here/drift.py" --binary "$binary" --table "$out/table" \
	"$out/trace" || check=$?

if [[ $suite -ne 0 ]]; then
	echo "drift.sh: FAIL: the integration suite failed under strace" \
		"(exit $suite): see $out/suite.log" >&2
fi
if [[ $suite -ne 0 || $check -ne 0 ]]; then
	echo "drift.sh: traces kept in $out" >&2
	exit 1
fi
if [[ "${DRIFT_KEEP:-0}" == 1 ]]; then
	echo "drift.sh: traces kept in $out"
else
	rm -rf "$out"
fi
