#!/bin/sh
# Build the image of one architecture (make image runs it):
#
#   tools/image.sh [docker build flags...] -- ARCH IMAGE
#
# 1. docker build --target build: the build stage, run on this host's
#    platform, cross-compiles for ARCH (amd64 or arm64) and writes the
#    SBOM; it is kept as IMAGE's repository + "-build:ARCH", so that
#    dpkg-query can be asked there what the SBOM says (the tests do).
# 2. The SBOM is copied out to build/sbom-ARCH.spdx.json.
# 3. docker build of the final stage, labelled with the SBOM's sha256.
# 4. tools/oci.py checks that its binary and ip-ranges.json are the files
#    the SBOM hashes (the two builds must be one), then writes that image again with architecture ARCH (Docker's
#    classic builder cannot build another platform's FROM scratch image
#    from this one's build stage) and every time SOURCE_DATE_EPOCH: into
#    build/oci (OCI layout, for make index and make push) and, by
#    docker load, as IMAGE.
# Needs SOURCE_DATE_EPOCH (make sets it: the last commit's time).  The
# builder base is BUILDER_IMAGE (debian:bookworm-slim).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
flags=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	flags="$flags $1"
	shift
done
[ $# -eq 3 ] || { echo "usage: $0 [docker build flags] -- ARCH IMAGE" >&2; exit 2; }
arch=$2 image=$3
case "$arch" in amd64|arm64) ;; *)
	echo "image.sh: ARCH=$arch: not amd64 or arm64" >&2; exit 2 ;;
esac
: "${SOURCE_DATE_EPOCH:?image.sh: SOURCE_DATE_EPOCH is not set (make sets it)}"
base=${BUILDER_IMAGE:-debian:bookworm-slim}
base_id=$(docker image inspect -f '{{.Id}}' "$base")
buildarch=$(dpkg --print-architecture)
name=${image%%:*}
out=$repo/build
mkdir -p "$out"

# shellcheck disable=SC2086 # $flags: the caller's words, split on purpose
build() {
	docker build --network host $flags \
	    --build-arg BUILDER_IMAGE="$base" \
	    --build-arg BUILDER_IMAGE_ID="$base_id" \
	    --build-arg BUILDPLATFORM="linux/$buildarch" \
	    --build-arg BUILDARCH="$buildarch" \
	    --build-arg TARGETARCH="$arch" \
	    --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
	    "$@" "$repo"
}

build --target build -t "$name-build:$arch"
docker run --rm --network none --entrypoint cat "$name-build:$arch" \
    /sbom.spdx.json >"$out/sbom-$arch.spdx.json.tmp"
mv "$out/sbom-$arch.spdx.json.tmp" "$out/sbom-$arch.spdx.json"
sbom=$(sha256sum "$out/sbom-$arch.spdx.json" | cut -d' ' -f1)

classic="$name-classic:$arch"
build --build-arg SBOM_SHA256="$sbom" -t "$classic"
docker save "$classic" >"$out/image-$arch.saved.tar"
docker rmi "$classic" >/dev/null
/usr/bin/python3 "$repo/tools/oci.py" normalize "$out/image-$arch.saved.tar" \
    "$arch" "$SOURCE_DATE_EPOCH" "$out/oci" "$out/image-$arch.tar" "$image" \
    "$out/sbom-$arch.spdx.json"
rm -f "$out/image-$arch.saved.tar"
docker load -q -i "$out/image-$arch.tar"
echo "image.sh: $image (linux/$arch), SBOM build/sbom-$arch.spdx.json" \
    "sha256:$sbom"
