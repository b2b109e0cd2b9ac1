#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the container image defined by ./Dockerfile, or runs the same two
# stages without a container engine.
#
#   scripts/image-build.sh tag
#       Print the default TAG: $IMAGE:$VERSION (IMAGE defaults to the
#       repository below, VERSION to ./VERSION, no "v"). The Kubernetes
#       manifests and the Helm chart name this image (deploy/validate checks).
#   scripts/image-build.sh image [TAG] [BUILDER ARGS...]
#       Build ./Dockerfile with docker (BuildKit), podman or buildah, whichever
#       is found first (BUILDER=docker|podman|buildah to choose), with the
#       version build args filled in. Extra args go to the builder (e.g.
#       --platform linux/arm64, --build-arg GO_IMAGE=...).
#   scripts/image-build.sh rootfs DIR
#       The Dockerfile's stages outside a container, for machines with no
#       container engine or registry: stage 1 lays out the build context as
#       .dockerignore does, runs `go mod download` and the same
#       scripts/release.sh command as the Dockerfile's RUN line; stage 2
#       assembles the final image's file tree in DIR (bin/timewait_exporter,
#       etc/passwd with nobody) and checks the binary is static and runs.
#
# Both use the same build args (VERSION, REVISION, BRANCH, BUILD_DATE,
# BUILD_USER, SOURCE_DATE_EPOCH; defaults below), so with the same Go
# toolchain they produce byte-identical binaries (test/deploy_image.sh checks).
set -euo pipefail
cd "$(dirname "$0")/.."

export VERSION=${VERSION:-$(cat VERSION)}
IMAGE=${IMAGE:-ghcr.io/timewait-exporter/timewait-exporter}
export REVISION=${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
export BRANCH=${BRANCH:-$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export BUILD_DATE=${BUILD_DATE:-$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d-%H:%M:%S)}
export BUILD_USER=${BUILD_USER:-image-build}   # the Dockerfile's default
build_args=(--build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "BRANCH=$BRANCH"
            --build-arg "BUILD_DATE=$BUILD_DATE" --build-arg "BUILD_USER=$BUILD_USER"
            --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH")

# context DIR: copy the directory as a builder sends it (everything, .git
# aside, which .dockerignore drops anyway), then drop what .dockerignore
# excludes. Handles the pattern forms our .dockerignore uses: names, globs,
# leading **/ and trailing /; no ! exceptions.
context() {
  local dir=$1 pat
  mkdir -p "$dir"
  tar --exclude=./.git -cf - . | tar -C "$dir" -xf -
  (
    cd "$dir"
    shopt -s globstar dotglob nullglob
    while IFS= read -r pat || [ -n "$pat" ]; do
      pat=${pat%%#*}; pat=${pat%"${pat##*[![:space:]]}"}
      [ -z "$pat" ] && continue
      case $pat in '!'*) echo "image-build: .dockerignore exceptions (!) are not supported here" >&2; exit 1 ;; esac
      pat=${pat#/}; pat=${pat%/}
      # shellcheck disable=SC2086 # the pattern is meant to glob
      for m in $pat; do rm -rf -- "$m"; done
    done <"$OLDPWD/.dockerignore"
  )
}

rootfs() {
  local out=$1
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  echo "image-build: stage 1 (build) in $ctx"
  context "$ctx"
  # WORKDIR /src; COPY go.mod go.sum ./; RUN go mod download; COPY . .
  (cd "$ctx" && go mod download)
  # RUN ... ./scripts/release.sh binary /out/timewait_exporter
  (cd "$ctx" && CGO_ENABLED=0 GOOS=linux GOARCH="${TARGETARCH:-$(go env GOARCH)}" \
     ./scripts/release.sh binary "$ctx/out/timewait_exporter")
  echo "image-build: stage 2 (final) in $out"
  rm -rf "$out"
  mkdir -p "$out/bin" "$out/etc"
  # COPY --from=build /out/timewait_exporter /bin/timewait_exporter
  install -m 0755 "$ctx/out/timewait_exporter" "$out/bin/timewait_exporter"
  # What distroless static provides that the exporter relies on: the nobody user.
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$out/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$out/etc/group"
  # The final image has no libc and no loader: the binary must be static.
  if LC_ALL=C readelf -lW "$out/bin/timewait_exporter" | grep -q 'INTERP\|Requesting program interpreter'; then
    echo "image-build: binary is dynamically linked" >&2; exit 1
  fi
  if LC_ALL=C readelf -dW "$out/bin/timewait_exporter" 2>/dev/null | grep -q NEEDED; then
    echo "image-build: binary needs shared libraries" >&2; exit 1
  fi
  if [ "${TARGETARCH:-$(go env GOARCH)}" = "$(go env GOHOSTARCH)" ]; then
    "$out/bin/timewait_exporter" --version
  fi
}

image() {
  local tag=${1:-$IMAGE:$VERSION}
  shift || true
  local b=${BUILDER:-}
  if [ -z "$b" ]; then
    for b in docker podman buildah; do command -v "$b" >/dev/null && break; done
  fi
  case $b in
    docker) DOCKER_BUILDKIT=1 docker build "${build_args[@]}" -t "$tag" "$@" . ;;
    podman) podman build "${build_args[@]}" -t "$tag" "$@" . ;;
    buildah) buildah bud "${build_args[@]}" -t "$tag" "$@" . ;;
    *) echo "image-build: no docker, podman or buildah found; try: $0 rootfs DIR" >&2; exit 1 ;;
  esac
}

case "${1:-}" in
  tag) echo "$IMAGE:$VERSION" ;;
  image) shift; image "$@" ;;
  rootfs) [ $# -eq 2 ] || { echo "usage: $0 rootfs DIR" >&2; exit 2; }; rootfs "$2" ;;
  *) echo "usage: $0 tag | image [TAG] [BUILDER ARGS...] | rootfs DIR" >&2; exit 2 ;;
esac
