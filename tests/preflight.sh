#!/bin/sh
# Prove, in a few seconds, that each tool the build and the tests use is
# installed and can do what they ask of it: swaks speaks STARTTLS, clang
# links a libFuzzer + ASan + UBSan program, valgrind runs, and so on.
#
#   tests/preflight.sh        (make preflight; make deps runs it after deps.sh)
#
# Each failure prints one line that names the Debian package to install:
#   preflight: swaks has no STARTTLS (needs Net::SSLeay): install
#   libnet-ssleay-perl     (on one line)
# A check whose tool is missing is skipped after the tool's own line.  The
# checks and tests/packages/*.txt must name the same packages: a listed
# package with no check, or a checked one in no list, fails too.
# PREFLIGHT_VERBOSE=1 adds the output of each failing check.  Exits 0 when
# everything passed, 1 otherwise.  Needs no root.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# dockerd, debootstrap and postconf live in sbin, which a user's PATH lacks.
PATH=$PATH:/usr/sbin:/sbin
started=$(date +%s)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ses-preflight.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
ma=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
checked=" "
failed=" "
nchecks=0

# check PKG WHAT FUNCTION [TOOL-PKG]: run FUNCTION quietly (output in
# $tmp/out); when it fails, say WHAT and that PKG is to be installed.
# Skipped, silently, when TOOL-PKG (the package of the tool FUNCTION runs)
# failed or was skipped: PKG then counts as failed too.
check() {
	case "$checked" in *" $1 "*) ;; *) checked="$checked$1 " ;; esac
	if [ -n "${4:-}" ]; then
		case "$failed" in *" $4 "*) failed="$failed$1 "; return 0 ;; esac
	fi
	nchecks=$((nchecks + 1))
	if ! "$3" >"$tmp/out" 2>&1; then
		echo "preflight: $2: install $1" >&2
		[ -z "${PREFLIGHT_VERBOSE:-}" ] || sed 's/^/    /' "$tmp/out" >&2
		failed="$failed$1 "
	fi
}

has() {		# has TOOL: TOOL is on PATH
	command -v "$1" >/dev/null
}

# cc_run CC FLAGS...: compile $tmp/t.c with CC into $tmp/t and run it.
cc_run() {
	_cc=$1
	shift
	"$_cc" -o "$tmp/t" "$tmp/t.c" "$@" && "$tmp/t"
}

main_c() {
	printf '#include <stdio.h>\nint main(void) { return puts("ok") < 0; }\n' \
	    >"$tmp/t.c"
}

# ---- build-packages.txt ----
c_make() { make --version; }
c_gcc() { has gcc; }
c_libc6_dev() { main_c && cc_run gcc; }
c_uapi() {
	printf '#include <linux/filter.h>\n#include <linux/seccomp.h>\n' \
	    >"$tmp/u.c" && printf '#include <asm/unistd.h>\n' >>"$tmp/u.c" &&
	    gcc -fsyntax-only "$tmp/u.c" && [ -d "/usr/include/$ma/asm" ]
}
c_musl_gcc() { has musl-gcc; }
c_musl_dev() {
	main_c && cc_run musl-gcc -static &&
	    [ -f "/usr/lib/$(uname -m)-linux-musl/rcrt1.o" ]
}
c_seccomp() {
	printf '#include <seccomp.h>\nint main(void) {\n%s\n%s\n}\n' \
	    'scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);' \
	    'int bad = c == 0; seccomp_release(c); return bad;' >"$tmp/t.c" &&
	    cc_run gcc -lseccomp
}
c_clang() { clang --version; }
c_clang_rt() {
	printf '%s\n%s\n' '#include <stddef.h>' \
	    'int LLVMFuzzerTestOneInput(const char *d, size_t n) { return 0; }' \
	    >"$tmp/t.c" &&
	    clang -fsanitize=fuzzer,address,undefined -o "$tmp/t" "$tmp/t.c" &&
	    "$tmp/t" -runs=1
}
c_symbolizer() {
	printf '%s\n%s\n' '#include <stdlib.h>' \
	    'int main(void) { char *p = malloc(1); p[1] = 0; free(p); return 0; }' \
	    >"$tmp/t.c" &&
	    clang -g -fsanitize=address -o "$tmp/t" "$tmp/t.c" &&
	    ! "$tmp/t" 2>"$tmp/asan" && grep -q "in main .*t\.c:2" "$tmp/asan"
}
c_tidy() { clang-tidy --version; }
c_cppcheck() { cppcheck --version; }
c_shellcheck() { shellcheck --version; }
c_valgrind() {
	valgrind -q --error-exitcode=99 --leak-check=full --vgdb=no \
	    --log-file="$tmp/vg.log" /bin/true || { cat "$tmp/vg.log"; false; }
}

# The aarch64 build (make ARCH=arm64): a static musl program linked with
# the cross gcc, and run by qemu.
c_cross_gcc() { has aarch64-linux-gnu-gcc && aarch64-linux-gnu-gcc --version; }
c_musl_arm64() {
	main_c && aarch64-linux-musl-gcc -static -o "$tmp/t64" "$tmp/t.c" &&
	    [ -f /usr/lib/aarch64-linux-musl/rcrt1.o ]
}
c_uapi_arm64() { [ -f /usr/include/aarch64-linux-gnu/asm/unistd.h ]; }
c_qemu() { [ "$(qemu-aarch64-static "$tmp/t64")" = ok ]; }

check make "make is missing" c_make
check gcc "gcc is missing" c_gcc
check libc6-dev "gcc cannot link a glibc program" c_libc6_dev gcc
check linux-libc-dev "no kernel UAPI headers (linux/seccomp.h, asm/)" c_uapi gcc
check musl-tools "musl-gcc is missing" c_musl_gcc
check musl-dev "musl-gcc cannot link a static program" c_musl_dev musl-tools
check libseccomp-dev "gcc cannot link <seccomp.h> with -lseccomp" c_seccomp gcc
check gcc-aarch64-linux-gnu "aarch64-linux-gnu-gcc is missing" c_cross_gcc
check musl-dev:arm64 "aarch64-linux-musl-gcc cannot link a static program" \
    c_musl_arm64 gcc-aarch64-linux-gnu
check linux-libc-dev:arm64 "no aarch64 kernel UAPI headers (asm/unistd.h)" \
    c_uapi_arm64
check qemu-user-static "qemu-aarch64-static cannot run an aarch64 program" \
    c_qemu musl-dev:arm64
check clang "clang is missing" c_clang
check libclang-rt-14-dev \
    "clang cannot link -fsanitize=fuzzer,address,undefined" c_clang_rt clang
check llvm-14 "sanitizer reports have no file:line (llvm-symbolizer-14)" \
    c_symbolizer libclang-rt-14-dev
check clang-tidy "clang-tidy is missing" c_tidy
check cppcheck "cppcheck is missing" c_cppcheck
check shellcheck "shellcheck is missing" c_shellcheck
check valgrind "valgrind cannot run /bin/true (libc6-dbg?)" c_valgrind

# ---- test-packages.txt ----
py_import() { /usr/bin/python3 -c "import $1"; }
c_hypothesis() { py_import hypothesis; }
c_pytest() { py_import pytest; }
c_yaml() { py_import yaml; }
c_aiosmtpd() { py_import aiosmtpd.controller; }
c_dnslib() { py_import dnslib.server; }
c_swaks() { swaks --support >"$tmp/swaks" 2>&1; has swaks; }
c_swaks_auth() { grep -q "^=== Basic AUTH supported" "$tmp/swaks"; }
c_ssleay() { grep -q "^=== TLS supported" "$tmp/swaks"; }
c_authsasl() { grep -q "^=== AUTH DIGEST-MD5 supported" "$tmp/swaks"; }
c_curl() {
	curl --version >"$tmp/curl" &&
	    grep -q "^Protocols:.* smtp .*smtps" "$tmp/curl" &&
	    grep -q "^Features:.* SSL" "$tmp/curl"
}
c_openssl() {
	openssl s_client -help &&
	    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -days 1 -subj /CN=preflight -keyout "$tmp/k" -out "$tmp/c"
}
c_iproute2() { ip -V && ss -V; }
c_util_linux() {
	unshare --version && setpriv --version && prlimit --version &&
	    setsid --version
}
c_strace() {
	strace -ff -qq -X raw --pidns-translation -o "$tmp/st" -- /bin/true
}
c_promtool() {
	printf '%s\n' 'groups:' '  - name: g' '    rules:' \
	    '      - alert: A' '        expr: up == 0' >"$tmp/rules.yaml" &&
	    promtool check rules "$tmp/rules.yaml"
}
c_faketime() {
	[ "$(LD_PRELOAD="/usr/lib/$ma/faketime/libfaketime.so.1" \
	    FAKETIME="@2000-01-01 00:00:00" date +%Y)" = 2000 ]
}

check python3-hypothesis "python3 cannot import hypothesis" c_hypothesis
check python3-pytest "python3 cannot import pytest" c_pytest
check python3-yaml "python3 cannot import yaml" c_yaml
check prometheus "promtool cannot check a rule file" c_promtool
check python3-aiosmtpd "python3 cannot import aiosmtpd" c_aiosmtpd
check python3-dnslib "python3 cannot import dnslib" c_dnslib
check swaks "swaks is missing" c_swaks
check swaks "swaks has no AUTH PLAIN/LOGIN" c_swaks_auth swaks
check libnet-ssleay-perl "swaks has no STARTTLS (needs Net::SSLeay)" \
    c_ssleay swaks
check libauthen-sasl-perl "swaks has no DIGEST-MD5 (needs Authen::SASL)" \
    c_authsasl swaks
check curl "curl lacks smtp, smtps or SSL" c_curl
check openssl "openssl cannot make an EC certificate or run s_client" c_openssl
check iproute2 "ip or ss is missing" c_iproute2
check util-linux "unshare, setpriv, prlimit or setsid is missing" c_util_linux
check strace "strace cannot trace /bin/true as drift.sh does" c_strace
check libfaketime "libfaketime.so.1 does not fake the clock" c_faketime

# ---- container-packages.txt ----
c_docker() { docker --version && dockerd --version; }
c_compose() { docker-compose version --short; }
c_registry() { docker-registry --version; }
c_debootstrap() { debootstrap --version; }
c_keyring() { [ -s /usr/share/keyrings/debian-archive-keyring.gpg ]; }
c_cacerts() { [ -s /etc/ssl/certs/ca-certificates.crt ]; }
c_nc() { nc -h 2>&1 | grep -q "OpenBSD netcat"; }
c_ps() { [ -n "$(ps -o user= -p $$ 2>/dev/null)" ]; }
c_binutils() { readelf --version; }
c_postfix() {
	[ -x /usr/sbin/postfix ] && postconf -m | grep -qx texthash &&
	    postconf -A | grep -qx cyrus
}
c_sasl() {
	[ -e "/usr/lib/$ma/sasl2/libplain.so.2" ] &&
	    [ -e "/usr/lib/$ma/sasl2/liblogin.so.2" ]
}
c_git() { git --version; }
c_skopeo() { skopeo copy --help | grep -q -- --preserve-digests; }
c_diffoscope() {
	printf 'a\n' >"$tmp/a" && printf 'b\n' >"$tmp/b" &&
	    ! diffoscope --text "$tmp/d" "$tmp/a" "$tmp/b" && grep -q '^+b' "$tmp/d"
}
c_jsonschema() {
	/usr/bin/python3 -c 'import jsonschema; jsonschema.Draft7Validator'
}

check docker.io "docker or dockerd is missing" c_docker
check docker-compose "docker-compose is missing" c_compose
check docker-registry "docker-registry is missing" c_registry
check debootstrap "debootstrap is missing" c_debootstrap
check debian-archive-keyring "no Debian archive keyring for debootstrap" \
    c_keyring
check ca-certificates "no CA bundle for an https mirror" c_cacerts
check netcat-openbsd "nc is not OpenBSD netcat (-z, -w)" c_nc
check procps "ps is missing" c_ps
check binutils "readelf is missing" c_binutils
check postfix "postfix lacks texthash maps or Cyrus SASL" c_postfix
check libsasl2-modules "no SASL PLAIN and LOGIN modules for Postfix" c_sasl
check git "git is missing" c_git
check skopeo "skopeo cannot copy with --preserve-digests" c_skopeo
check diffoscope-minimal "diffoscope cannot compare two files" c_diffoscope
check python3-jsonschema "python3 cannot validate a draft-07 JSON schema" \
    c_jsonschema

# ---- the lists and the checks name the same packages ----
listed=$("$here/deps.sh" --list) || exit 1
for p in $listed; do
	case "$checked" in
	*" $p "*) ;;
	*) echo "preflight: $p is in tests/packages but has no check here" >&2
	   failed="$failed$p " ;;
	esac
done
for p in $checked; do
	if ! echo "$listed" | grep -qx "$p"; then
		echo "preflight: $p is checked here but in no tests/packages list" >&2
		failed="$failed$p "
	fi
done

[ "$failed" = " " ] || exit 1
echo "preflight: $(echo "$listed" | wc -l) packages, $nchecks checks ok" \
    "($(($(date +%s) - started)) s)"
