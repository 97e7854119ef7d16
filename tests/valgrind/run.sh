#!/usr/bin/env bash
# make valgrind: the whole integration suite with every proxy process run
# under valgrind memcheck, in the suite's loopback-only network namespace.
#
#   tests/valgrind/run.sh [pytest args...]
#
# The binary (SES_SMTP_PROXY_BIN, default build/valgrind/ses-smtp-proxy) is
# a glibc -O1 -g build with Landlock and seccomp compiled out, like the
# ASan one (a seccomp filter made for musl would kill valgrind's own
# calls), so the suite runs with SES_IT_SANITIZER=1 (sandbox-off tests)
# and SES_IT_VALGRIND=1 (the few timing tests that valgrind's slowdown
# breaks are skipped, each with its reason). Each proxy process writes its
# own log; the suite's fixtures fail the test whose proxy logged a memory
# error, or (after a normal exit only) a definite or indirect leak or a
# descriptor left open (tests/integration/vglog.py). A sweep of every log
# at the end catches anything the fixtures did not see.
#
# Needs root. The logs are removed when the run passes (unless
# VALGRIND_KEEP=1) and kept, with the path printed, when it fails.
# VALGRIND_FLAGS adds options (e.g. --track-origins=yes).
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
binary=${SES_SMTP_PROXY_BIN:-$repo/build/valgrind/ses-smtp-proxy}

if [[ ! -x "$binary" ]]; then
	echo "valgrind/run.sh: $binary is missing: run make valgrind" >&2
	exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind/run.sh: valgrind is missing" >&2; exit 2; }

# valgrind execs its tool binary: /proc/PID/exe of a proxy under it.
case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac
tool=
for d in /usr/libexec/valgrind /usr/lib/x86_64-linux-gnu/valgrind \
	/usr/lib/aarch64-linux-gnu/valgrind /usr/lib/valgrind; do
	if [[ -x "$d/memcheck-$arch-linux" ]]; then
		tool=$d/memcheck-$arch-linux
		break
	fi
done
[[ -n "$tool" ]] || { echo "valgrind/run.sh: no memcheck-$arch-linux found" >&2; exit 2; }

# A test that starts the proxy as another uid runs valgrind as that uid,
# and valgrind must open the binary: a checkout may sit in a 0700
# directory (mktemp -d), so run a copy from a world-readable one.
bindir=$(mktemp -d /tmp/ses-valgrind-bin.XXXXXX)
trap 'rm -rf "$bindir"' EXIT
chmod 755 "$bindir"
install -m 755 "$binary" "$bindir/ses-smtp-proxy"
binary=$bindir/ses-smtp-proxy

# Written by the proxy after it left root too (65534, or the uid a test
# starts it as): valgrind opens the log before the program runs, but a
# non-root start opens it as that user.
logs=$(mktemp -d /tmp/ses-valgrind.XXXXXX)
chmod 1777 "$logs"

# --vgdb=no: no FIFOs in /tmp; valgrind's exit code 99 on any error.
export SES_SMTP_PROXY_BIN=$binary
export SES_IT_SANITIZER=1 SES_IT_VALGRIND=1
export SES_IT_WRAPPER="valgrind --tool=memcheck --error-exitcode=99 \
--leak-check=full --show-leak-kinds=definite,indirect \
--errors-for-leak-kinds=definite,indirect --track-fds=yes --vgdb=no \
--num-callers=30 ${VALGRIND_FLAGS:-} --log-file=$logs/{id}.log"
export SES_IT_WRAPPER_EXE=$tool
export SES_IT_WRAPPER_LOG="$logs/{id}.log"

start=$SECONDS
suite=0
"$repo/tests/netns-pytest.sh" "$repo/tests/integration" "$@" || suite=$?

shopt -s nullglob
all=("$logs"/*.log)
sweep=0
/usr/bin/python3 "$repo/tests/integration/vglog.py" "${all[@]}" || sweep=$?
echo "valgrind/run.sh: ${#all[@]} proxy processes ran under valgrind;" \
	"$((SECONDS - start)) s"
if [[ ${#all[@]} -eq 0 ]]; then
	echo "valgrind/run.sh: FAIL: no valgrind log at all" >&2
	sweep=1
fi
if [[ $suite -ne 0 || $sweep -ne 0 ]]; then
	echo "valgrind/run.sh: FAIL (suite exit $suite, log sweep exit $sweep);" \
		"logs kept in $logs" >&2
	exit 1
fi
if [[ "${VALGRIND_KEEP:-0}" == 1 ]]; then
	echo "valgrind/run.sh: logs kept in $logs"
else
	rm -rf "$logs"
fi
