# syntax=docker/dockerfile:1
# timewait_exporter container image.
#
#   docker build --build-arg VERSION=$(cat VERSION) \
#     --build-arg REVISION=$(git rev-parse --short HEAD) -t timewait-exporter .
#   docker buildx build --platform linux/amd64,linux/arm64 ...   # multi-arch
#
# Stage 1 builds a static binary (CGO_ENABLED=0) with the same script and
# ldflags as the release archives (scripts/release.sh); stage 2 is distroless
# static: no shell, no package manager, just the binary, CA certificates and
# /etc/passwd. The image runs as nobody (65534), the uid the DaemonSet and
# the tests use. test/deploy_image.sh builds this file.
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that the download is cached across source changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_DATE=""
ARG BUILD_USER=image-build
ARG SOURCE_DATE_EPOCH=""
ARG TARGETOS=linux
ARG TARGETARCH=""
RUN GOOS="$TARGETOS" GOARCH="${TARGETARCH:-$(go env GOARCH)}" \
    VERSION="$VERSION" REVISION="$REVISION" BRANCH="$BRANCH" \
    BUILD_DATE="$BUILD_DATE" BUILD_USER="$BUILD_USER" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    ./scripts/release.sh binary /out/timewait_exporter

FROM ${BASE_IMAGE}
ARG VERSION=""
ARG REVISION=unknown
ARG BUILD_DATE=""
LABEL org.opencontainers.image.title="timewait_exporter" \
      org.opencontainers.image.description="Prometheus exporter for Linux TCP TIME_WAIT and ephemeral-port pressure" \
      org.opencontainers.image.source="https://github.com/timewait-exporter/timewait_exporter" \
      org.opencontainers.image.documentation="https://github.com/timewait-exporter/timewait_exporter/blob/main/docs/deploy.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.created="$BUILD_DATE"
COPY --from=build /out/timewait_exporter /bin/timewait_exporter
USER 65534:65534
EXPOSE 9966
ENTRYPOINT ["/bin/timewait_exporter"]
