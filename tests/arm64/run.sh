#!/usr/bin/env bash
# make arm64-test: the aarch64 build's tests on this amd64 machine, after
# `make ARCH=arm64 all unit build/arm64/nosandbox/ses-smtp-proxy` (the unit
# tests ran there under qemu-aarch64-static).
#
#   tests/arm64/run.sh [pytest args for the integration suite...]
#
# 1. tests/arm64: the binary's ELF hardening, --print-seccomp, pointer
#    authentication, all through qemu-aarch64-static.
# 2. tests/seccomp: the BPF evaluator proved against the kernel on the
#    x86_64 filter (test_bpf_eval.py), then the aarch64 filter row by row
#    through it (test_filter_aarch64.py).  qemu-user cannot load a filter.
# 3. The integration suite against build/arm64/nosandbox/ses-smtp-proxy,
#    each proxy process under qemu-aarch64-static (SES_IT_WRAPPER), the
#    sandbox compiled out as for ASan (SES_IT_SANITIZER skips the sandbox
#    tests).  By default -m "not slow" and four deselected, ~520 tests in
#    about 3 minutes: the slow ones (load, soak, staleness with its amd64
#    shortclock binary) take many minutes under emulation and add no
#    architecture-dependent code; and these fail for qemu-user itself:
#    test_privilege (it reads every task of the proxy in /proc, and qemu's
#    own host thread, which guest setresuid/capset never reach, keeps uid
#    0 and its capabilities), the two test_workers tests of the process
#    tree and of RLIMIT_NPROC (qemu starts a host thread per process, so
#    the "single-threaded" check sees two tasks and a worker dies in
#    qemu_thread_create), and test_flt16_clock_jump (libfaketime preloads
#    into qemu, not into the static guest).  Pass pytest arguments to
#    choose otherwise.
# Needs root (the netns runners).  Exits non-zero if any part failed.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd -- "$here/../.." && pwd)
qemu=$(command -v qemu-aarch64-static) ||
	{ echo "arm64/run.sh: qemu-aarch64-static is missing (make deps)" >&2; exit 2; }
for f in build/arm64/ses-smtp-proxy build/arm64/nosandbox/ses-smtp-proxy \
    build/arm64/seccomp_bpf.c build/seccomp/probe; do
	if [[ ! -e "$repo/$f" ]]; then
		echo "arm64/run.sh: $f is missing: run make arm64-test" >&2
		exit 2
	fi
done

rc=0
start=$SECONDS
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$here" || rc=1
"$repo/tests/seccomp/run.sh" -q test_bpf_eval.py test_filter_aarch64.py || rc=1
if [[ $# -eq 0 ]]; then
	set -- -q -m "not slow" -k "not test_privilege and \
not test_workers_process_tree_and_sandbox and \
not test_workers_failed_fork_stops_the_started_ones and \
not test_flt16_clock_jump"
fi
SES_SMTP_PROXY_BIN=$repo/build/arm64/nosandbox/ses-smtp-proxy \
SES_IT_SANITIZER=1 SES_IT_WRAPPER=$qemu SES_IT_WRAPPER_EXE=$qemu \
	"$repo/tests/integration/run.sh" "$@" || rc=1
echo "arm64/run.sh: $((SECONDS - start)) s, $([[ $rc -eq 0 ]] && echo ok || echo FAIL)"
exit $rc
