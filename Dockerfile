# ses-smtp-proxy: a FROM scratch image holding one static binary and AWS's
# ip-ranges.json, for linux/amd64 or linux/arm64.
#
#   make image [ARCH=amd64|arm64]      (tools/image.sh: the supported way)
#   docker build --network host -t ses-smtp-proxy .     (amd64, plain)
#
# The build stage runs on the builder's platform (BUILDPLATFORM) and
# cross-compiles for TARGETARCH (make ARCH=...).  BuildKit sets these
# arguments itself; Docker's classic builder does not, so tools/image.sh
# passes them, and the defaults below are a plain amd64 build.  The classic
# builder cannot COPY --from an amd64 stage into an arm64 one, so this file
# always yields a builder-platform image: tools/image.sh then writes the
# image's config with TARGETARCH and fixed times (tools/oci.py), and the
# SBOM (tools/sbom.sh) written by the build stage.
#
# The builder base is a build argument, so an offline machine can use a
# locally imported image (tests/container/seed-base.sh makes one).  The
# ranges file is downloaded from AWS unless the build context holds an
# ip-ranges.json, which is then used instead (offline builds).

ARG BUILDER_IMAGE=debian:bookworm-slim
ARG BUILDPLATFORM=linux/amd64
# The image label's version.  The binary's comes from the VERSION file;
# `make image` passes that file's version here, and the builder stage stops
# the build when the two differ (tests/deploy/test_version.py keeps this
# default equal to the file for a plain `docker build`).
ARG VERSION=0.2.0

FROM --platform=${BUILDPLATFORM} ${BUILDER_IMAGE} AS build
ARG BUILDARCH=amd64
ARG TARGETARCH=amd64
# A cross build adds the target's compiler and musl (Debian multiarch).
RUN set -e; cross=; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      case "$TARGETARCH" in \
      arm64) cross="gcc-aarch64-linux-gnu musl-dev:arm64 linux-libc-dev:arm64" ;; \
      *) echo "TARGETARCH $TARGETARCH: not amd64 or arm64" >&2; exit 1 ;; \
      esac; \
      dpkg --add-architecture "$TARGETARCH"; \
    fi; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make musl-tools musl-dev libseccomp-dev \
      ca-certificates curl $cross; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Any new value rebuilds from source on a cached toolchain (make reproduce).
ARG REBUILD=
# The static-pie binary for the builder's platform, the seccomp filter
# compiled from seccomp.c, and the C unit tests, all from source: this
# binary runs the version and ranges checks below.
RUN make clean && make ARCH="$BUILDARCH" ses-smtp-proxy unit
ARG VERSION
RUN test "$(./ses-smtp-proxy --version)" = "ses-smtp-proxy $VERSION" || \
    { echo "VERSION build argument $VERSION is not the binary's:" \
      "$(./ses-smtp-proxy --version)" >&2; exit 1; }
ARG IP_RANGES_URL=https://ip-ranges.amazonaws.com/ip-ranges.json
RUN if [ -f ip-ranges.json ]; then \
      echo "using the ip-ranges.json of the build context"; \
    else \
      curl -fsSL --proto =https -o ip-ranges.json "$IP_RANGES_URL"; \
    fi
# Validate the file: exit 2 (broken file, unknown region) fails the build.
# Exit 1 (no usable SES address from this builder's DNS) does not.
ARG CHECK_REGION=us-east-1
RUN ./ses-smtp-proxy --check --region "$CHECK_REGION" \
      --ip-ranges ip-ranges.json; rc=$?; \
    if [ "$rc" -eq 2 ]; then echo "ip-ranges.json rejected" >&2; exit 1; fi
# The shipped binary: the target's, whose ELF machine must be TARGETARCH's.
# Every file of the image dated SOURCE_DATE_EPOCH (the last commit's time),
# so that its layer is the same bytes in every build of one commit.
ARG SOURCE_DATE_EPOCH=0
RUN set -e; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      make clean && make ARCH="$TARGETARCH" all && \
      cp "build/$TARGETARCH/ses-smtp-proxy" ses-smtp-proxy; \
    fi; \
    tools/elf-arch.sh ses-smtp-proxy "$TARGETARCH"; \
    mkdir -p /out/etc/ses-smtp-proxy; \
    install -m 0555 ses-smtp-proxy /out/ses-smtp-proxy; \
    install -m 0444 ip-ranges.json /out/etc/ses-smtp-proxy/ip-ranges.json; \
    find /out -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
ARG BUILDER_IMAGE
ARG BUILDER_IMAGE_ID=
RUN tools/sbom.sh "$TARGETARCH" "$VERSION" "$BUILDER_IMAGE" \
      "$BUILDER_IMAGE_ID" /out > /sbom.spdx.json

FROM scratch
ARG VERSION
# The sha256 of build/sbom-<arch>.spdx.json, which tools/image.sh copies
# out of the build stage before it builds this one.
ARG SBOM_SHA256=
LABEL org.opencontainers.image.title="ses-smtp-proxy" \
      org.opencontainers.image.description="TCP relay to the Amazon SES SMTP endpoint of one region, and nowhere else" \
      org.opencontainers.image.version="${VERSION}" \
      org.ses-smtp-proxy.sbom.sha256="${SBOM_SHA256}"
COPY --from=build /out/ /
USER 65534:65534
EXPOSE 1587
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 \
  CMD ["/ses-smtp-proxy", "--healthcheck"]
ENTRYPOINT ["/ses-smtp-proxy"]
