#!/bin/sh
# make fresh-check: prove that tests/packages/*.txt name every package the
# build and the tests need, on a fresh Debian machine rather than this one.
#
#   tests/fresh/run.sh        (FRESH_SUITE=bookworm, FRESH_TIMEOUT=1800 s)
#
# 1. A minimal root: debootstrap --variant=minbase $FRESH_SUITE from the
#    mirror this host's apt uses (tests/debian-mirror.sh).  The pristine root
#    is cached as build/fresh/SUITE-minbase.tar; delete it to start over.
# 2. The project's own tests/deps.sh installs the lists into that root, with
#    --no-install-recommends as on any machine: the same code path, fresh
#    each run.  The .deb files are kept in build/fresh/debs-SUITE (the last
#    run's set) so that a second run downloads only what changed; apt checks
#    them against the new index as it would its own cache.
# 3. tests/preflight.sh runs in the root (tests/fresh/inside.sh does 2 and
#    3): a package missing from a list fails here with the preflight's
#    one-line message naming it, even where this host has the package.
#
# The root gets a policy-rc.d that forbids starting services (postfix,
# docker).  It runs in its own PID and mount namespaces: /proc is mounted
# there and goes, with every process left in the root, when the run ends,
# however it ends; the root itself is removed with --one-file-system.
# Needs root and debootstrap (make deps).  The mirror is the only host
# outside this machine that is contacted.  Exits 0 when the preflight
# passes in the root, 1 when it or the install fails, 2 on a usage error.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
SUITE=${FRESH_SUITE:-bookworm}
LIMIT=${FRESH_TIMEOUT:-1800}
cache=$repo/build/fresh
base=$cache/$SUITE-minbase.tar
debs=$cache/debs-$SUITE
started=$(date +%s)

say() { echo "fresh-check: $*"; }
elapsed() { echo "$(($(date +%s) - started)) s"; }

if [ "$(id -u)" -ne 0 ]; then
	say "must run as root (debootstrap, chroot, unshare)" >&2
	exit 2
fi
if ! command -v debootstrap >/dev/null 2>&1; then
	say "debootstrap is missing: install debootstrap (make deps)" >&2
	exit 2
fi
mirror=$("$repo/tests/debian-mirror.sh" "$SUITE") || exit 2

mkdir -p "$cache" "$debs"
work=$(mktemp -d "$cache/root.XXXXXX")
root=$work/root
child=""
# --one-file-system: never descend into a mount left inside the root.
trap 'rm -rf --one-file-system "$work"' EXIT
# A signal stops the namespace's processes first (unshare --kill-child).
trap 'if [ -n "$child" ]; then kill "$child" 2>/dev/null; wait "$child"; fi
    exit 1' INT TERM

# in_ns CMD...: run CMD in new PID and mount namespaces; every process in
# them is killed when CMD exits, times out or this script is stopped.
in_ns() {
	timeout --kill-after=30 "$LIMIT" unshare --pid --fork --kill-child \
	    --mount --propagation private -- "$@" &
	child=$!
	wait "$child"
	set -- $?
	child=""
	return "$1"
}

if [ -s "$base" ]; then
	mkdir "$root"
	tar -C "$root" -xf "$base"
	say "minbase $SUITE root from $base"
else
	say "debootstrap --variant=minbase $SUITE from $mirror"
	if ! in_ns debootstrap --variant=minbase --force-check-gpg \
	    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
	    "$SUITE" "$root" "$mirror" \
	    >"$work/debootstrap.log" 2>&1; then
		say "debootstrap failed; its log ends with:" >&2
		tail -20 "$work/debootstrap.log" >&2
		exit 1
	fi
	rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/archives/"*.deb
	tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
	say "debootstrap took $(elapsed); cached as $base"
fi

# No service starts in the root (invoke-rc.d asks policy-rc.d first).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# The root is thrown away: dpkg need not fsync what it unpacks.
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/ses-fresh-check"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/src/tests/fresh"
cp -R "$repo/tests/deps.sh" "$repo/tests/preflight.sh" \
    "$repo/tests/packages" "$root/src/tests/"
cp "$here/inside.sh" "$root/src/tests/fresh/"
find "$debs" -name '*.deb' -exec ln -t "$root/var/cache/apt/archives" {} +

say "tests/deps.sh, then tests/preflight.sh, in the fresh root"
rc=0
in_ns chroot "$root" env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LC_ALL=C.UTF-8 /src/tests/fresh/inside.sh ||
    rc=$?

# Keep this run's .deb files, and only these, for the next run.
rm -rf "$debs.new"
mkdir "$debs.new"
find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' \
    -exec ln -t "$debs.new" {} +
rm -rf "$debs"
mv "$debs.new" "$debs"

if [ "$rc" -ne 0 ]; then
	say "FAIL (exit $rc) after $(elapsed); see the lines above" >&2
	exit 1
fi
say "ok: tests/packages/*.txt suffice on a fresh $SUITE ($(elapsed))"
