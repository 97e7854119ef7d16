# ses-smtp-proxy: one static-pie musl binary.
#
# Debian's musl-gcc specs cannot produce a static-pie (they add a dynamic
# loader), so objects are compiled with musl-gcc and linked by hand with
# musl's rcrt1.o and gcc's crtbeginS.o/crtendS.o.
#
# ARCH=amd64 (the default) builds ./ses-smtp-proxy in build/; ARCH=arm64
# cross-builds the aarch64 binary build/arm64/ses-smtp-proxy, its objects
# and filter in build/arm64/, with gcc-aarch64-linux-gnu and musl-dev:arm64
# (the same recipes; aarch64-linux-musl-gcc is musl-gcc's twin).  Its unit
# tests run under qemu-aarch64-static: `make ARCH=arm64 unit`.

# The one version: the binary's --version, the image label (make image
# passes it to the Dockerfile, whose builder checks the binary against it).
VERSION	:= $(shell cat VERSION)
ARCH	?= amd64
ifeq ($(ARCH),amd64)
B	:= build
BIN	:= ses-smtp-proxy
CC	= musl-gcc
LDCC	:= gcc
MUSL	?= /usr/lib/x86_64-linux-musl
ASMINC	:= /usr/include/x86_64-linux-gnu/asm
SECCOMP_ARCH := x86_64
ARCH_HARDEN := -fcf-protection
RUN	:=
LIBC_AGAIN :=
else ifeq ($(ARCH),arm64)
B	:= build/arm64
BIN	:= build/arm64/ses-smtp-proxy
CC	= aarch64-linux-musl-gcc
LDCC	:= aarch64-linux-gnu-gcc
MUSL	?= /usr/lib/aarch64-linux-musl
ASMINC	:= /usr/include/aarch64-linux-gnu/asm
SECCOMP_ARCH := aarch64
# Pointer authentication and BTI landing pads: -fcf-protection's twin.
ARCH_HARDEN := -mbranch-protection=standard
RUN	:= qemu-aarch64-static
# libgcc's outline atomics (relay.c's shared counter) find LSE through
# musl's __getauxval: libc once more after libgcc.
LIBC_AGAIN := -lc
else
$(error ARCH=$(ARCH): amd64 or arm64)
endif
KINC	= $(B)/kinc

WARN	= -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
	  -Wstrict-prototypes -Wpointer-arith -Wvla
HARDEN	= -fPIE -fstack-protector-strong -fstack-clash-protection \
	  $(ARCH_HARDEN)
CFLAGS	?= -O2 -g
# No build directory in the binary: its bytes are the same in every clone.
CFLAGS	+= -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) \
	   -DVERSION='"$(VERSION)"' -isystem $(KINC) \
	   -ffile-prefix-map=$(CURDIR)=.
LDHARD	= -Wl,-z,relro,-z,now,-z,noexecstack

SRCS	= log.c metrics.c fds.c cidr.c json.c allowlist.c config.c dns.c resolvconf.c loop.c \
	  deadline.c listener.c \
	  upstream.c upstream_set.c pump.c relay.c privdrop.c landlock.c seccomp.c health.c \
	  healthport.c healthreq.c proxyproto.c workers.c staleness.c readfile.c
OBJS	= $(SRCS:%.c=$(B)/%.o) $(B)/seccomp_bpf.o
UNIT	= $(patsubst tests/unit/%.c,$(B)/tests/%,$(filter-out \
	  tests/unit/harness.c tests/unit/cidr_oracle.c,$(wildcard tests/unit/*.c)))

all: $(BIN)

# musl ships no kernel headers; point at the host's UAPI headers only (for
# arm64, linux-libc-dev:arm64's asm/ beside the shared linux/).
$(KINC)/.stamp:
	mkdir -p $(KINC)
	ln -sfn /usr/include/linux $(KINC)/linux
	ln -sfn /usr/include/asm-generic $(KINC)/asm-generic
	ln -sfn $(ASMINC) $(KINC)/asm
	touch $@

$(B)/%.o: %.c $(wildcard *.h) $(KINC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The seccomp table compiled to BPF by libseccomp (host glibc), then
# embedded in the musl binary as C source.  The generator runs on the host
# for either architecture: it takes each row's syscall number for
# SECCOMP_ARCH from libseccomp, by name.
build/seccomp-gen: tools/seccomp-gen.c seccomp.c seccomp.h log.c log.h pump.h
	@mkdir -p build
	gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -iquote . -o $@ \
	    tools/seccomp-gen.c seccomp.c log.c -lseccomp

$(B)/seccomp_bpf.c: build/seccomp-gen
	@mkdir -p $(B)
	build/seccomp-gen $(SECCOMP_ARCH) $@ $(B)/seccomp.pfc

$(B)/seccomp_bpf.o: $(B)/seccomp_bpf.c $(KINC)/.stamp
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/proxy.o $(B)/shortclock/proxy.o: VERSION

LINK	= $(LDCC) -static-pie -nostdlib $(LDHARD) -o $@ \
	    $(MUSL)/rcrt1.o $(MUSL)/crti.o \
	    $$($(LDCC) -print-file-name=crtbeginS.o) \
	    $^ -L$(MUSL) -lc $$($(LDCC) -print-libgcc-file-name) $(LIBC_AGAIN) \
	    $$($(LDCC) -print-file-name=crtendS.o) $(MUSL)/crtn.o

$(BIN): $(B)/proxy.o $(OBJS)
	$(LINK)

# A test build with short clocks, never shipped (the release binary has no
# switch for these): the kept SES address set expires after 6 s instead of
# 24 h, and the ip-ranges file's age is judged every second instead of every
# hour.  tests/integration/test_staleness.py runs it.
SHORT_DEFS	= -DUPSTREAM_STALE_MAX=6 -DSTALENESS_CHECK_S=1
SHORT_OBJS	= $(SRCS:%.c=$(B)/shortclock/%.o) $(B)/seccomp_bpf.o

$(B)/shortclock/%.o: %.c $(wildcard *.h) $(KINC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SHORT_DEFS) -c -o $@ $<

$(B)/shortclock/ses-smtp-proxy: $(B)/shortclock/proxy.o $(SHORT_OBJS)
	$(LINK)

shortclock: $(B)/shortclock/ses-smtp-proxy

# The files the release binary is made of besides its source, one
# "role path" a line: tools/sbom.sh names the Debian package of each.
toolchain-files:
	@echo "compiler $$(command -v $(LDCC))"
	@echo "musl $(MUSL)/libc.a"
	@echo "libgcc $$($(LDCC) -print-libgcc-file-name)"
	@echo "libseccomp $$(gcc -print-file-name=libseccomp.so)"

# Unit tests: each tests/unit/test_X.c links every module except main().
# RUN is empty on amd64; qemu-aarch64-static runs the arm64 ones.
$(B)/tests/%: tests/unit/%.c tests/unit/harness.c tests/unit/harness.h $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I. -static -o $@ $< tests/unit/harness.c $(OBJS)

unit: $(UNIT)
	@fail=0; for t in $(UNIT); do echo "== $$t"; $(RUN) $$t || fail=1; \
	    done; exit $$fail

# The binary for the integration suite under qemu-user (make arm64-test),
# which cannot install seccomp filters: proxy.c with SANDBOX_OFF, as for
# the ASan and valgrind builds, and the binary says so when it starts.
$(B)/nosandbox/proxy.o: proxy.c $(wildcard *.h) VERSION $(KINC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSANDBOX_OFF -c -o $@ $<

$(B)/nosandbox/ses-smtp-proxy: $(B)/nosandbox/proxy.o $(OBJS)
	$(LINK)

# libFuzzer targets: clang, glibc, ASan+UBSan; the parsers only.
FUZZ_CC		= clang
FUZZ_FLAGS	= -std=c11 -D_GNU_SOURCE -g -O1 -I. \
		  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SRCS	= log.c cidr.c json.c allowlist.c config.c dns.c resolvconf.c \
		  proxyproto.c healthreq.c readfile.c
FUZZ		= allowlist dns resolvconf config proxyproto healthreq
FUZZ_SECONDS	?= 60

build/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_check.h $(FUZZ_SRCS) $(wildcard *.h)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRCS)

# Each target for FUZZ_SECONDS on a scratch copy of its seed corpus.
fuzz: $(FUZZ:%=build/fuzz/%)
	@set -e; for f in $(FUZZ); do \
	    rm -rf build/fuzz/corpus-$$f; \
	    cp -r tests/fuzz/corpus/$$f build/fuzz/corpus-$$f; \
	    echo "== fuzz $$f ($(FUZZ_SECONDS) s)"; \
	    build/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	        -print_final_stats=1 -artifact_prefix=build/fuzz/$$f- \
	        build/fuzz/corpus-$$f > build/fuzz/$$f.log 2>&1 || \
	        { tail -40 build/fuzz/$$f.log; exit 1; }; \
	    grep -E "^stat::number_of_executed_units" build/fuzz/$$f.log; \
	done

# ASan+UBSan build (clang, glibc) for the integration suite.  Landlock and
# seccomp are compiled out (the filter is made for musl's syscalls, and
# LeakSanitizer reads /proc at exit); the binary says so when it starts.
# Leak checking is off: it needs ptrace, which the drop to --user and
# RLIMIT_NPROC 0 rule out; valgrind covers leaks.
ASAN_FLAGS	= -std=c11 -D_GNU_SOURCE -DSANDBOX_OFF -DVERSION='"$(VERSION)"' \
		  -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror \
		  -fsanitize=address,undefined -fno-sanitize-recover=all

build/asan/ses-smtp-proxy: proxy.c VERSION $(SRCS) build/seccomp_bpf.c $(wildcard *.h)
	@mkdir -p build/asan
	clang $(ASAN_FLAGS) -I. -o $@ proxy.c $(SRCS) build/seccomp_bpf.c

asan: build/asan/ses-smtp-proxy
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
	    SES_SMTP_PROXY_BIN=$(CURDIR)/build/asan/ses-smtp-proxy \
	    SES_IT_SANITIZER=1 tests/integration/run.sh -q

# The same suite with every proxy process under valgrind memcheck
# (tests/valgrind/run.sh): memory errors, definite/indirect leaks and
# descriptors left open at a normal exit fail the test that started it.
# glibc, no sanitizer, -O1 -g; the sandbox is compiled out as for ASan
# (seccomp would kill valgrind's own syscalls) and the binary says so.
VG_FLAGS	= -std=c11 -D_GNU_SOURCE -DSANDBOX_OFF -DVERSION='"$(VERSION)"' \
		  -g -O1 -Wall -Wextra -Werror

build/valgrind/ses-smtp-proxy: proxy.c VERSION $(SRCS) build/seccomp_bpf.c $(wildcard *.h)
	@mkdir -p build/valgrind
	gcc $(VG_FLAGS) -I. -o $@ proxy.c $(SRCS) build/seccomp_bpf.c

valgrind: build/valgrind/ses-smtp-proxy
	tests/valgrind/run.sh -q

# Run the image against real SES with the documented hardened line.
REGION		?= us-east-1

run: image
	-docker rm -f $(IMAGE) >/dev/null 2>&1
	docker run -d --name $(IMAGE) --read-only --cap-drop=ALL \
	    --security-opt no-new-privileges -p 1587:1587 \
	    --restart unless-stopped -e SES_REGION=$(REGION) $(IMAGE)
	@echo "ses-smtp-proxy is running, relaying to email-smtp.$(REGION).amazonaws.com:587"
	@echo "  try it:    telnet localhost 1587   (SES answers 220 ...; type QUIT)"
	@echo "  its logs:  docker logs -f $(IMAGE)"
	@echo "  stop it:   docker rm -f $(IMAGE)"

# Debian packages (tests/packages/*.txt), then proof that each tool works.
deps:
	tests/deps.sh
	tests/preflight.sh

preflight:
	tests/preflight.sh

# The package lists suffice on a fresh Debian 12 root (tests/fresh/run.sh).
fresh-check:
	tests/fresh/run.sh

test: deps all shortclock unit
	$(MAKE) fresh-check
	$(MAKE) diff-cidr analyze
	$(MAKE) deploy-test
	$(MAKE) fuzz FUZZ_SECONDS=60
	$(MAKE) seccomp-test
	$(MAKE) arm64-test
	tests/integration/run.sh
	$(MAKE) asan
	$(MAKE) valgrind
	tests/container/run.sh

# ---- tests/seccomp (sandbox tests) ----
# The probe enters the proxy's sandbox with the real seccomp.o and embedded
# filter, then makes one syscall (tests/seccomp/probe.c).  seccomp-test runs
# the probe tests, the golden and SECURITY.md checks, then the drift check
# (the integration suite under strace); drift runs the last one alone.
PROBE_OBJS	= build/seccomp.o build/seccomp_bpf.o build/landlock.o build/log.o

build/seccomp/probe: tests/seccomp/probe.c $(PROBE_OBJS) $(wildcard *.h) \
	    $(KINC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I. -static -o $@ tests/seccomp/probe.c $(PROBE_OBJS)

seccomp-test: ses-smtp-proxy build/seccomp/probe
	tests/seccomp/run.sh
	tests/seccomp/drift.sh

drift: ses-smtp-proxy build/seccomp/probe
	tests/seccomp/drift.sh

# Copy --print-seccomp into SECURITY.md between its markers.
security-table: ses-smtp-proxy
	./ses-smtp-proxy --print-seccomp > build/seccomp-table.md
	sed -i -e '/<!-- seccomp-table:begin -->/,/<!-- seccomp-table:end -->/{' \
	    -e '/<!-- seccomp-table:begin -->/r build/seccomp-table.md' \
	    -e '/<!--/!d' -e '}' SECURITY.md

# Accept a reviewed change of the filters (SBX-07), both architectures.
seccomp-golden:
	$(MAKE) ARCH=amd64 build/seccomp_bpf.c
	$(MAKE) ARCH=arm64 build/arm64/seccomp_bpf.c
	cp build/seccomp.pfc tests/seccomp/filter.pfc.golden
	cp build/arm64/seccomp.pfc tests/seccomp/filter-aarch64.pfc.golden

.PHONY: seccomp-test drift seccomp-golden security-table
# ---- end tests/seccomp ----

# ---- arm64: the aarch64 build's tests on this amd64 machine
# (tests/arm64/run.sh): unit tests under qemu-aarch64-static, ELF hardening
# and --print-seccomp, the aarch64 filter through the BPF evaluator
# (proved against the kernel on the x86_64 filter), the integration suite
# against the sandbox-off aarch64 build under qemu-user.
arm64:
	$(MAKE) ARCH=arm64 all

arm64-test: build/seccomp/probe
	$(MAKE) ARCH=arm64 all unit build/arm64/nosandbox/ses-smtp-proxy
	tests/arm64/run.sh

.PHONY: arm64 arm64-test
# ---- end arm64 ----

# ---- assurance: static analysis, differential test of cidr.c ----
analyze: all
	tests/analyze.sh

# Not a unit test (UNIT filters it out): a stdin filter for diff_cidr.py.
build/tests/cidr_oracle: tests/unit/cidr_oracle.c build/cidr.o cidr.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I. -static -o $@ $< build/cidr.o

diff-cidr: build/tests/cidr_oracle
	/usr/bin/python3 tests/unit/diff_cidr.py build/tests/cidr_oracle

.PHONY: analyze diff-cidr

# ---- deploy/ (ECS and Kubernetes files): file checks, no cloud, no network
# The binary's --help is the reference for the variables and defaults.
deploy-test: ses-smtp-proxy
	/usr/bin/python3 -m pytest -q tests/deploy

.PHONY: deploy-test

# ---- benchmark against HAProxy, nginx and socat (a measurement, not a test)
bench:
	bench/run.sh

bench-smoke:
	bench/run.sh --smoke

.PHONY: bench bench-smoke

# ---- container (Dockerfile, image tests, demo) ----
IMAGE		?= ses-smtp-proxy
# The image's architecture: amd64 or arm64 (make ARCH=arm64 cross-builds).
ARCH		?= amd64
# Extra docker build flags; the tests add --add-host so that the build's
# --check never asks a real resolver for the SES name.
DOCKER_BUILD_FLAGS ?=
# Every file of the image is dated the last commit's time (0 outside git).
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
endif
export SOURCE_DATE_EPOCH

# The image for ARCH, its SBOM (build/sbom-ARCH.spdx.json) and its OCI
# manifest in build/oci (tools/image.sh).
image:
	tests/container/seed-base.sh
	tools/image.sh --build-arg VERSION=$(VERSION) $(DOCKER_BUILD_FLAGS) \
	    -- $(ARCH) $(IMAGE)

# The multi-arch index of the ARCHES images in build/oci (after make image
# of each), then pushed as $(REGISTRY)/ses-smtp-proxy:$(VERSION) with its
# digests unchanged (SKOPEO_FLAGS=--dest-tls-verify=false: a plain-HTTP
# registry, as the tests' one on loopback).
ARCHES		?= amd64 arm64
SKOPEO_FLAGS	?=
index:
	/usr/bin/python3 tools/oci.py index build/oci $(VERSION) $(ARCHES)

push: index
	@test -n "$(REGISTRY)" || { echo "make push: set REGISTRY=HOST[:PORT]" >&2; exit 2; }
	skopeo copy --all --preserve-digests $(SKOPEO_FLAGS) oci:build/oci:$(VERSION) \
	    docker://$(REGISTRY)/ses-smtp-proxy:$(VERSION)

# Two builds of the last commit from two clones, compared (tools/reproduce.sh).
reproduce:
	tests/container/seed-base.sh
	tools/reproduce.sh

container-test:
	tests/container/run.sh

demo:
	tests/container/demo.sh

.PHONY: image index push reproduce container-test demo toolchain-files
# ---- end container ----

clean:
	rm -rf build ses-smtp-proxy

.PHONY: all shortclock unit fuzz asan valgrind run deps preflight fresh-check test \
	clean
