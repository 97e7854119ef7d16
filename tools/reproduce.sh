#!/bin/sh
# Build the last commit twice and compare (make reproduce):
#
#   tools/reproduce.sh
#
# Each build is a `git clone` of this repository's HEAD in its own
# temporary directory (so uncommitted changes are not in it), with the same
# ip-ranges.json (this tree's, else tests/data/aws-ip-ranges.json) and
# SOURCE_DATE_EPOCH = the last commit's time; the second starts later, with
# another umask and TZ.  Each makes the host binary (make ses-smtp-proxy:
# the clone's path must not reach it) and, for every architecture
# tools/arches.sh names, the image (make image: its build stage runs again
# from source, on the cached toolchain).  Compared, byte for byte: the host
# binaries; per architecture the image's binary, layer, config (the image
# ID), manifest and SBOM; then the multi-arch index.  A difference is shown
# by diffoscope.  Exits 0 when all are equal, 1 otherwise.
# REPRODUCE_KEEP=1 keeps the clones and the images.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
epoch=$(git -C "$repo" log -1 --format=%ct)
arches=$("$repo/tools/arches.sh" | paste -sd" ")
ranges=$repo/ip-ranges.json
[ -f "$ranges" ] || ranges=$repo/tests/data/aws-ip-ranges.json
# The build's --check resolves the SES name through /etc/hosts, never a
# real resolver.
hosts="--add-host email-smtp.us-east-1.amazonaws.com:127.0.0.1"
tmp=$(mktemp -d /tmp/ses-smtp-proxy-reproduce.XXXXXX)
say() { echo "reproduce: $*" >&2; }
cleanup() {
	[ "${REPRODUCE_KEEP:-0}" = 1 ] && { say "kept $tmp"; return; }
	for side in a b; do
		for arch in $arches; do
			docker rmi "ses-smtp-proxy-repro-$side:$arch" \
			    "ses-smtp-proxy-repro-$side-build:$arch" \
			    >/dev/null 2>&1 || true
		done
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# build SIDE UMASK TZ: clone, then make the binary and the images.
build() {
	dir=$tmp/$1/ses-smtp-proxy
	mkdir -p "$tmp/$1"
	git clone -q --no-hardlinks "$repo" "$dir"
	cp "$ranges" "$dir/ip-ranges.json"
	say "build $1 in $dir at $(date -u +%H:%M:%S), umask $2, TZ=$3"
	(
		umask "$2"
		export TZ="$3" SOURCE_DATE_EPOCH="$epoch"
		make -s -C "$dir" ses-smtp-proxy
		for arch in $arches; do
			make -s -C "$dir" image ARCH="$arch" \
			    IMAGE="ses-smtp-proxy-repro-$1:$arch" \
			    DOCKER_BUILD_FLAGS="$hosts --build-arg REBUILD=$1-$(date +%s)"
		done
		make -s -C "$dir" index ARCHES="$arches"
	) >"$tmp/$1.log" 2>&1 || { tail -30 "$tmp/$1.log" >&2; say "build $1 failed"; exit 1; }
	# The image's files, from the archive docker loaded.
	for arch in $arches; do
		mkdir -p "$tmp/$1/$arch"
		tar -C "$tmp/$1/$arch" -xf "$dir/build/image-$arch.tar"
		tar -C "$tmp/$1/$arch" -xf "$tmp/$1/$arch"/*/layer.tar \
		    ses-smtp-proxy
	done
}

differ=0
# same WHAT A B: compare two files; on a difference diffoscope shows it.
same() {
	if cmp -s "$2" "$3"; then
		say "same $1: sha256 $(sha256sum "$2" | cut -d' ' -f1)"
	else
		say "DIFFERENT $1: $2 $3"
		diffoscope --text - "$2" "$3" | head -200 || true
		differ=1
	fi
}
# blob CLONE FILE: the blob that build/oci/FILE (tools/oci.py's descriptor
# of one image, or index.json) names: its sha256 is the digest.
blob() {
	/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1] + "/build/oci/" + sys.argv[2]))
d = d["manifests"][0] if "manifests" in d else d
print(sys.argv[1] + "/build/oci/blobs/sha256/" + d["digest"][7:])' "$1" "$2"
}
# config DIR: the image config file of an extracted docker load archive.
config() {
	for f in "$1"/*.json; do
		[ "${f##*/}" = manifest.json ] || echo "$f"
	done
}

say "commit $(git -C "$repo" rev-parse --short HEAD), SOURCE_DATE_EPOCH=$epoch," \
    "architectures: $arches"
build a 022 UTC
sleep 2
build b 027 Pacific/Chatham
A=$tmp/a/ses-smtp-proxy B=$tmp/b/ses-smtp-proxy
same "host binary" "$A/ses-smtp-proxy" "$B/ses-smtp-proxy"
for arch in $arches; do
	same "$arch binary" "$tmp/a/$arch/ses-smtp-proxy" "$tmp/b/$arch/ses-smtp-proxy"
	same "$arch layer" "$tmp/a/$arch"/*/layer.tar "$tmp/b/$arch"/*/layer.tar
	same "$arch image config (the docker image ID)" "$(config "$tmp/a/$arch")" \
	    "$(config "$tmp/b/$arch")"
	same "$arch SBOM" "$A/build/sbom-$arch.spdx.json" "$B/build/sbom-$arch.spdx.json"
	same "$arch manifest" "$(blob "$A" "$arch.json")" "$(blob "$B" "$arch.json")"
done
same "index ($arches)" "$(blob "$A" index.json)" "$(blob "$B" index.json)"
if [ "$differ" -ne 0 ]; then
	say "the two builds differ"
	exit 1
fi
say "the two builds are the same bytes"
