#!/bin/bash
# Static analysis of every top-level C file and every shell script.
#
#   tests/analyze.sh            run all four tools, exit 1 on any finding
#   tests/analyze.sh gcc|cppcheck|tidy|shellcheck ...   run only those
#
# Independent of the Makefile except that `make` must have produced
# build/kinc and build/seccomp_bpf.c (it is run here when they are missing).
# Run as root on Debian 12: a missing tool is installed (tests/deps.sh).
# Each tool's full output is kept in build/analyze/TOOL.log.
set -u
cd "$(dirname "$0")/.." || exit 2

VERSION_DEF='-DVERSION="analyze"'
OUT=build/analyze
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(gcc cppcheck tidy shellcheck)

# The tools come from tests/packages/build-packages.txt (a no-op when installed).
tests/deps.sh || exit 2

if [ ! -e build/kinc/.stamp ] || [ ! -e build/seccomp_bpf.c ]; then
	make -s all >/dev/null || { echo "analyze: make failed" >&2; exit 2; }
fi
mkdir -p "$OUT"

mapfile -t CSRC < <(ls ./*.c)
CSRC=("${CSRC[@]#./}")
fail=0

report() {	# report TOOL RC SECONDS
	if [ "$2" -eq 0 ]; then
		printf '== %-10s ok (%ss)\n' "$1" "$3"
	else
		printf '== %-10s FINDINGS (%ss), see %s/%s.log\n' "$1" "$3" \
		    "$OUT" "$1"
		fail=1
	fi
}

# gcc -fanalyzer, host gcc and glibc headers (the analyzer models glibc's
# functions); every warning is an error.
run_gcc() {
	local f rc=0
	for f in "${CSRC[@]}"; do
		gcc -std=c11 -D_GNU_SOURCE "$VERSION_DEF" -fanalyzer -Wall \
		    -Wextra -Werror -c -I. -o /dev/null "$f" || rc=1
	done
	# tools/seccomp-gen.c includes <seccomp.h> (libseccomp) and
	# "seccomp.h" (ours): -iquote keeps the two apart.
	gcc -std=c11 -D_GNU_SOURCE -fanalyzer -Wall -Wextra -Werror -c \
	    -iquote . -o /dev/null tools/seccomp-gen.c || rc=1
	return "$rc"
}

# cppcheck: warning, portability and performance (not style); suppressions
# only inline (--inline-suppr), each next to the line it covers with a reason.
run_cppcheck() {
	cppcheck -q --enable=warning,portability,performance \
	    --error-exitcode=1 --inline-suppr -D_GNU_SOURCE "$VERSION_DEF" \
	    --std=c11 -I. "${CSRC[@]}" tools/seccomp-gen.c
}

# clang-tidy.  Enabled: bugprone-*, cert-*, clang-analyzer-* (the path-
# sensitive static analyzer).  Excluded, and why:
#  - bugprone-easily-swappable-parameters: a style heuristic about
#    adjacent parameters of the same type; it would flag most of the API.
#  - cert-err33-c: demands a check of every snprintf/fprintf/write return;
#    the code truncates deliberately and logs best-effort to stderr, where
#    a failure cannot be reported anywhere.
#  - clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling:
#    flags every memcpy/memset/snprintf and asks for the Annex K *_s
#    functions, which neither musl nor glibc provides.
#  - bugprone-implicit-widening-of-multiplication-result: every product it
#    flags is of bounded operands (seconds from config ranges times 1000,
#    compile-time sizes); the bounds are checked where the values enter.
#  - clang-analyzer-valist.Uninitialized: clang 14 reports vsnprintf after
#    a va_start in the same function (a known false positive of the checker).
# Project headers (./*.h) are checked too, system headers are not.
TIDY_CHECKS='-*,bugprone-*,cert-*,clang-analyzer-*'
TIDY_CHECKS+=',-bugprone-easily-swappable-parameters,-cert-err33-c'
TIDY_CHECKS+=',-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling'
TIDY_CHECKS+=',-bugprone-implicit-widening-of-multiplication-result'
TIDY_CHECKS+=',-clang-analyzer-valist.Uninitialized'
run_tidy() {
	clang-tidy -quiet -checks="$TIDY_CHECKS" -warnings-as-errors='*' \
	    -header-filter="^$PWD/[^/]*\\.h\$" "${CSRC[@]}" -- \
	    -std=c11 -D_GNU_SOURCE "$VERSION_DEF" -I.
}

# Shell scripts: every *.sh in the repository, tests/*/run.sh and .ci/run.
run_shellcheck() {
	local scripts
	mapfile -t scripts < <( { git ls-files -co --exclude-standard \
	    '*.sh' '.ci/run' 2>/dev/null ||
	    find . -name '*.sh' -not -path './build/*'; printf '%s\n' tests/*/run.sh; } |
	    sed 's|^\./||' | sort -u)
	shellcheck -x "${scripts[@]}"
}

for step in "${STEPS[@]}"; do
	start=$SECONDS
	case "$step" in
	gcc)		run_gcc ;;
	cppcheck)	run_cppcheck ;;
	tidy)		run_tidy ;;
	shellcheck)	run_shellcheck ;;
	*) echo "analyze: unknown step $step" >&2; exit 2 ;;
	esac >"$OUT/$step.log" 2>&1
	rc=$?
	report "$step" "$rc" "$((SECONDS - start))"
	# The findings only (not the notes of each path); all in the log.
	[ "$rc" -eq 0 ] || grep -E '(error|warning): |^In .* line [0-9]+:' \
	    "$OUT/$step.log" | head -80
done
exit "$fail"
