#!/bin/sh
# Make the Docker engine and the builder base image available.
#
#   tests/container/seed-base.sh [--dockerd-only]
#
# 1. If `docker info` fails, start dockerd in the background (as root) and
#    wait for it, at most DOCKERD_WAIT seconds (60).
# 2. If the builder base ($BUILDER_IMAGE, debian:bookworm-slim) is not in the
#    local image store, pull it, as Docker always would (`make image` and
#    `make run` on a host with registry access).
# 3. Only when the pull fails (no registry access), or is not wanted
#    (BUILDER_PULL=0: the test suite, whose every byte stays on loopback),
#    build an equivalent with debootstrap, as root, from the Debian mirror
#    this host's apt already uses (tests/debian-mirror.sh; DEBIAN_MIRROR
#    overrides it), and `docker import` it under that name.
#
# Idempotent: a no-op when the engine answers and the image exists.
set -eu

BASE=${BUILDER_IMAGE:-debian:bookworm-slim}
SUITE=${BUILDER_SUITE:-bookworm}
PULL=${BUILDER_PULL:-1}
PULL_TIMEOUT=${BUILDER_PULL_TIMEOUT:-300}
WAIT=${DOCKERD_WAIT:-60}
LOG=${DOCKERD_LOG:-/var/log/ses-smtp-proxy-dockerd.log}

say() { echo "seed-base: $*" >&2; }

if ! command -v docker >/dev/null 2>&1; then
	say "docker is not installed (apt-get install docker.io)"
	exit 1
fi

if ! docker info >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		say "the Docker engine does not answer and starting it needs root"
		exit 1
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		say "dockerd is not installed (apt-get install docker.io)"
		exit 1
	fi
	# A dockerd that died leaves its pid file, and a new one then refuses
	# to start ("pid file found"): remove it only if no dockerd has that
	# PID.
	pidf=/var/run/docker.pid
	if [ -s "$pidf" ]; then
		old=$(cat "$pidf")
		if [ "$(cat "/proc/$old/comm" 2>/dev/null)" != dockerd ]; then
			say "removing a stale $pidf (PID $old is not a running dockerd)"
			rm -f "$pidf"
		fi
	fi
	say "the Docker engine does not answer: starting dockerd (log: $LOG)"
	# setsid: dockerd outlives this script and the make that ran it.
	setsid dockerd >"$LOG" 2>&1 </dev/null &
	i=0
	until docker info >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -gt "$((WAIT * 2))" ]; then
			say "dockerd did not answer within ${WAIT}s; its log ends with:"
			tail -20 "$LOG" >&2 || true
			exit 1
		fi
		sleep 0.5
	done
	say "dockerd is up"
fi

if [ "${1:-}" = "--dockerd-only" ] ||
    docker image inspect "$BASE" >/dev/null 2>&1; then
	exit 0
fi

if [ "$PULL" = 1 ]; then
	say "$BASE is not in the local image store: docker pull $BASE"
	if out=$(timeout "$PULL_TIMEOUT" docker pull "$BASE" 2>&1); then
		say "pulled $BASE"
		exit 0
	fi
	say "docker pull $BASE failed ($(printf '%s\n' "$out" | tail -1));" \
	    "seeding it with debootstrap instead"
else
	say "$BASE is not in the local image store and BUILDER_PULL=0:" \
	    "seeding it with debootstrap"
fi

if [ "$(id -u)" -ne 0 ]; then
	say "seeding $BASE with debootstrap needs root: run this as root," \
	    "or make the image available (docker pull $BASE, docker load)"
	exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
	say "seeding $BASE needs debootstrap (apt-get install debootstrap)"
	exit 1
fi
MIRROR=$("$(dirname "$0")/../debian-mirror.sh" "$SUITE") || exit 1

dir=$(mktemp -d /tmp/ses-smtp-proxy-base.XXXXXX)
# --one-file-system: never descend into a proc or sys that a failed
# debootstrap left mounted inside the target.
trap 'rm -rf --one-file-system "$dir"' EXIT
trap 'exit 1' INT TERM
say "seeding $BASE: debootstrap --variant=minbase $SUITE from $MIRROR"
# The Release file must verify against Debian's archive keyring: with a
# mirror given explicitly, debootstrap would otherwise only warn.
if ! debootstrap --variant=minbase --force-check-gpg \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$SUITE" "$dir/rootfs" "$MIRROR" >"$dir/debootstrap.log" 2>&1; then
	say "debootstrap failed; its log ends with:"
	tail -30 "$dir/debootstrap.log" >&2
	exit 1
fi
rm -rf "$dir/rootfs/var/cache/apt/archives/"*.deb \
    "$dir/rootfs/var/lib/apt/lists/"* 2>/dev/null || true
# A file, not a pipe: a failed tar must not import a truncated root.
if ! tar -C "$dir/rootfs" -cf "$dir/rootfs.tar" .; then
	say "tar of the debootstrapped root failed"
	exit 1
fi
docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.ses-smtp-proxy.seeded=debootstrap" \
    --message "debootstrap --variant=minbase $SUITE (tests/container/seed-base.sh)" \
    "$dir/rootfs.tar" "$BASE" >/dev/null
say "imported $BASE (seeded; docker rmi $BASE to pull the official one)"
