# ses-smtp-proxy: a FROM scratch image holding one static binary and AWS's
# ip-ranges.json.
#
#   docker build --network host -t ses-smtp-proxy .
#
# The builder base is a build argument, so an offline machine can use a
# locally imported image (tests/container/seed-base.sh makes one).  The
# ranges file is downloaded from AWS unless the build context holds an
# ip-ranges.json, which is then used instead (offline builds).

ARG BUILDER_IMAGE=debian:bookworm-slim
# The image label's version.  The binary's comes from the VERSION file;
# `make image` passes that file's version here, and the builder stage stops
# the build when the two differ (tests/deploy/test_version.py keeps this
# default equal to the file for a plain `docker build`).
ARG VERSION=0.2.0

FROM ${BUILDER_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make musl-tools musl-dev libseccomp-dev \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The static-pie binary, the seccomp filter compiled from seccomp.c, and the
# C unit tests, all from source.
RUN make clean && make ses-smtp-proxy unit
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
RUN mkdir -p /out/etc/ses-smtp-proxy \
 && install -m 0555 ses-smtp-proxy /out/ses-smtp-proxy \
 && install -m 0444 ip-ranges.json /out/etc/ses-smtp-proxy/ip-ranges.json

FROM scratch
ARG VERSION
LABEL org.opencontainers.image.title="ses-smtp-proxy" \
      org.opencontainers.image.description="TCP relay to the Amazon SES SMTP endpoint of one region, and nowhere else" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ /
USER 65534:65534
EXPOSE 1587
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 \
  CMD ["/ses-smtp-proxy", "--healthcheck"]
ENTRYPOINT ["/ses-smtp-proxy"]
