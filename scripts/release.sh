#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Release builds of timewait_exporter. POSIX sh: the Dockerfile's build stage
# runs it too, so the image, the release archives and test/deploy_image.sh
# all build the binary with the same command and the same ldflags as
# `make build` (version stamped into github.com/prometheus/common/version).
#
#   scripts/release.sh                  cross-build linux/amd64 and linux/arm64 into
#                                       dist/ ($DIST): one .tar.gz per platform
#                                       and sha256sums.txt
#   scripts/release.sh binary OUT       one static binary for $GOOS/$GOARCH
#                                       (default: this machine) at OUT
#
# Inputs (environment; each has a default):
#   VERSION     default: contents of ./VERSION
#   REVISION    default: git rev-parse --short HEAD, else "unknown"
#   BRANCH      default: git rev-parse --abbrev-ref HEAD, else "unknown"
#   BUILD_USER  default: $(id -un)@$(hostname)
#   BUILD_DATE  default: from SOURCE_DATE_EPOCH if set, else now (UTC)
#   PLATFORMS   default: "linux/amd64 linux/arm64"
#   DIST        default: dist (emptied first)
# With SOURCE_DATE_EPOCH and BUILD_USER fixed, the output is reproducible:
# the same inputs give byte-identical binaries and archives.
set -eu
cd "$(dirname "$0")/.."

GO=${GO:-go}
PKG=github.com/prometheus/common/version
VERSION=${VERSION:-$(cat VERSION)}
REVISION=${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
BRANCH=${BRANCH:-$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}
BUILD_USER=${BUILD_USER:-$(id -un 2>/dev/null || echo unknown)@$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null || echo unknown)}
if [ -z "${BUILD_DATE:-}" ]; then
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d-%H:%M:%S)
  else
    BUILD_DATE=$(date -u +%Y%m%d-%H:%M:%S)
  fi
fi
LDFLAGS="-s -w -X $PKG.Version=$VERSION -X $PKG.Revision=$REVISION -X $PKG.Branch=$BRANCH -X $PKG.BuildUser=$BUILD_USER -X $PKG.BuildDate=$BUILD_DATE"

# binary OUT: one static binary for $GOOS/$GOARCH.
binary() {
  out=$1
  mkdir -p "$(dirname "$out")"
  CGO_ENABLED=0 $GO build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o "$out" .
}

archives() {
  dist=${DIST:-dist}
  rm -rf "$dist"
  mkdir -p "$dist"
  mtime=${SOURCE_DATE_EPOCH:-$(date +%s)}
  for platform in ${PLATFORMS:-linux/amd64 linux/arm64}; do
    os=${platform%/*} arch=${platform#*/}
    name=timewait_exporter-$VERSION.$os-$arch
    echo "release: $name"
    GOOS=$os GOARCH=$arch binary "$dist/$name/timewait_exporter"
    for f in README.md CHANGELOG.md LICENSE; do
      [ -f "$f" ] && cp "$f" "$dist/$name/"
    done
    mkdir -p "$dist/$name/systemd"
    cp deploy/systemd/* "$dist/$name/systemd/"
    # Reproducible archive: fixed order, owner and mtime; gzip without a name/time.
    tar -C "$dist" --sort=name --owner=0 --group=0 --numeric-owner \
      --mtime="@$mtime" -cf - "$name" | gzip -n -9 >"$dist/$name.tar.gz"
    rm -rf "${dist:?}/$name"
  done
  (cd "$dist" && sha256sum ./*.tar.gz | sed 's# \./# #' >sha256sums.txt)
  cat "$dist/sha256sums.txt"
}

case "${1:-all}" in
  binary)
    [ $# -eq 2 ] || { echo "usage: $0 binary OUT" >&2; exit 2; }
    binary "$2" ;;
  all) archives ;;
  *) echo "usage: $0 [all | binary OUT]" >&2; exit 2 ;;
esac
