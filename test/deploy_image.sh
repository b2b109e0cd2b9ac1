#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The container image (./Dockerfile), as far as this machine allows.
#
# 1. Always: scripts/image-build.sh rootfs runs the Dockerfile's two stages
#    without a container engine (context per .dockerignore, go mod download,
#    the same scripts/release.sh line, final file tree). The binary must be
#    static, report the build's version and revision, and serve /metrics as
#    nobody with every collector succeeding.
# 2. If buildah (Debian package) is available, or can be installed here: the
#    real ./Dockerfile is built with `buildah bud` (chroot isolation; no
#    daemon, no OCI runtime). No registry is reachable here, so the two FROM
#    images are replaced through the Dockerfile's GO_IMAGE/BASE_IMAGE build
#    args by local stand-ins made from this machine's files: the Go toolchain
#    plus busybox for the build stage, an /etc/passwd-only scratch image for
#    distroless. Then: the image config (USER 65534:65534, EXPOSE 9966/tcp,
#    exec-form ENTRYPOINT, OCI labels), no shell in the final image, the
#    binary run from the image (--version, then one scrape as the image's
#    user), and the image's binary byte-identical to the stage-1 emulation's.
# DEPLOY_IMAGE_INSTALL=0 skips installing buildah; DEPLOY_IMAGE_REQUIRE_BUILDAH=1
# fails instead of skipping part 2 when buildah cannot be had.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init deploy_image 3000 20 "network namespaces, setpriv and buildah" go unshare setpriv curl tar -- "$@"
repo=$ROOT

work=$TMP
chmod 755 "$work"
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver overlay)
tw_on_exit() {
  if [ -d "$work/storage" ]; then
    "${B[@]}" rm --all >/dev/null 2>&1
    "${B[@]}" rmi --all --force >/dev/null 2>&1
    # buildah leaves its overlay mounts behind; unmount everything under $work
    findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  fi
}

# The same build args for both paths, fixed so the builds are comparable.
export VERSION; VERSION=$(cat VERSION)
export REVISION; REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
export BRANCH=test
export SOURCE_DATE_EPOCH=1700000000
export BUILD_DATE=20231114-22:13:20
export BUILD_USER=image-build

# scrape_as_image_user CMD...: run CMD (an exporter listening on
# 127.0.0.1:9966) in a private network and PID namespace, scrape it once and
# check every collector succeeded. Everything dies with the namespace.
scrape() {
  cat >"$work/scrape.sh" <<'INNER'
set -euo pipefail
out=$1; shift
ip link set lo up
"$@" >"$out.log" 2>&1 &
for _ in $(seq 100); do
  curl -fsS -o /dev/null http://127.0.0.1:9966/-/healthy 2>/dev/null && break
  sleep 0.2
done
curl -fsS http://127.0.0.1:9966/metrics >"$out"
ps -o user= -C timewait_exporter >"$out.user" || true
INNER
  timeout 120 unshare --net --pid --fork --mount-proc bash "$work/scrape.sh" "$@" || true
}
check_scrape() { # metrics-file label
  local m=$1 what=$2
  [ -s "$m" ] || { cat "$m.log" >&2 2>/dev/null; fail "$what: no /metrics"; }
  grep '^timewait_scrape_collector_success{' "$m" | sed "s/^/($what) /"
  [ "$(grep -c '^timewait_scrape_collector_success{' "$m")" -ge 4 ] || fail "$what: fewer than 4 collectors"
  ! grep '^timewait_scrape_collector_success{' "$m" | grep -qv ' 1$' || fail "$what: a collector failed"
  grep -q "^timewait_exporter_build_info{.*revision=\"$REVISION\".*version=\"$VERSION\"" "$m" || fail "$what: build_info lacks version $VERSION / revision $REVISION"
  grep -qx 'nobody' "$m.user" || fail "$what: exporter did not run as nobody ($(cat "$m.user"))"
}

# Both builds read one snapshot of the tree, so that edits made meanwhile
# cannot make them differ.
mkdir "$work/src"
tar --exclude=./.git --exclude=./dist --exclude=./.tools -cf - . | tar -C "$work/src" -xf -
cd "$work/src"

echo "=== 1. the Dockerfile's stages without a container engine (scripts/image-build.sh rootfs)"
timeout 600 scripts/image-build.sh rootfs "$work/rootfs" | tee "$work/version.txt"
grep -q "version $VERSION (branch: $BRANCH, revision: $REVISION)" "$work/version.txt" || fail "--version does not show the build args"
chmod 755 "$work/rootfs" "$work/rootfs/bin"
scrape "$work/emulated.prom" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs \
  "$work/rootfs/bin/timewait_exporter" --web.listen-address=127.0.0.1:9966
check_scrape "$work/emulated.prom" emulated

echo "=== 2. ./Dockerfile with buildah"
static_busybox() { [ -x /bin/busybox ] && ! LC_ALL=C readelf -lW /bin/busybox 2>/dev/null | grep -q INTERP; }
if ! command -v buildah >/dev/null || ! static_busybox; then
  if [ "${DEPLOY_IMAGE_INSTALL:-1}" != 0 ] && command -v apt-get >/dev/null; then
    echo "installing buildah and busybox-static (Debian packages)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends buildah busybox-static; } >"$work/apt.log" 2>&1 \
      || { tail -5 "$work/apt.log" >&2; echo "WARN: could not install buildah" >&2; }
  fi
fi
if ! command -v buildah >/dev/null || ! static_busybox; then
  [ "${DEPLOY_IMAGE_REQUIRE_BUILDAH:-0}" = 1 ] && fail "buildah or a static busybox unavailable"
  echo "SKIP: buildah or a static /bin/busybox unavailable: only the emulated build (part 1) ran"
  echo "deploy_image: ok (emulated only)"
  RC=0; exit 0
fi
buildah --version

goroot=$(go env GOROOT)
(cd "$repo" && go mod download)     # the build stage's `go mod download` runs offline against this cache

echo "--- stand-in base images (no registry here)"
ctr=$("${B[@]}" from scratch)
mkdir -p "$work/gofs/bin" "$work/gofs/tmp" "$work/gofs/root" "$work/gofs/etc" "$work/gofs/go"
chmod 1777 "$work/gofs/tmp"
cp /bin/busybox "$work/gofs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/gofs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/gofs/etc/passwd"
echo 'root:x:0:' >"$work/gofs/etc/group"
"${B[@]}" copy "$ctr" "$work/gofs" / >/dev/null
"${B[@]}" copy "$ctr" "$goroot" /usr/local/go >/dev/null
"${B[@]}" config --env PATH=/usr/local/go/bin:/go/bin:/bin --env GOPATH=/go --env HOME=/root \
  --env GOTOOLCHAIN=local --env GOPROXY=off --env GOSUMDB=off --env GOFLAGS=-mod=readonly "$ctr"
"${B[@]}" commit -q "$ctr" localhost/timewait-standin/golang:build >/dev/null
"${B[@]}" rm "$ctr" >/dev/null

ctr=$("${B[@]}" from scratch)
mkdir -p "$work/dfs/etc/ssl/certs" "$work/dfs/tmp"
chmod 1777 "$work/dfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$work/dfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$work/dfs/etc/group"
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$work/dfs/etc/ssl/certs/"
"${B[@]}" copy "$ctr" "$work/dfs" / >/dev/null
"${B[@]}" config --user 65532:65532 "$ctr"
"${B[@]}" commit -q "$ctr" localhost/timewait-standin/distroless-static:nonroot >/dev/null
"${B[@]}" rm "$ctr" >/dev/null

echo "--- buildah bud ./Dockerfile"
timeout 1200 "${B[@]}" bud --isolation chroot --pull=never --layers=false \
  --volume "$(go env GOMODCACHE):/go/pkg/mod:ro" \
  --build-arg GO_IMAGE=localhost/timewait-standin/golang:build \
  --build-arg BASE_IMAGE=localhost/timewait-standin/distroless-static:nonroot \
  --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "BRANCH=$BRANCH" \
  --build-arg "BUILD_DATE=$BUILD_DATE" --build-arg "BUILD_USER=$BUILD_USER" \
  --build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" \
  -t localhost/timewait-exporter:test . >"$work/bud.log" 2>&1 || { tail -40 "$work/bud.log" >&2; fail "buildah bud failed"; }
grep -E '^\[[0-9]/[0-9]\] STEP' "$work/bud.log" | cut -c1-100

echo "--- image config"
img=localhost/timewait-exporter:test
cfg() { "${B[@]}" inspect --type image --format "$1" "$img"; }
[ "$(cfg '{{.OCIv1.Config.User}}')" = "65534:65534" ] || fail "USER is $(cfg '{{.OCIv1.Config.User}}'), want 65534:65534"
cfg '{{range $p, $_ := .OCIv1.Config.ExposedPorts}}{{$p}} {{end}}' | grep -qw '9966/tcp' || fail "EXPOSE 9966 missing"
# exec form: exactly the binary (a shell form would be [/bin/sh -c ...])
[ "$(cfg '{{.OCIv1.Config.Entrypoint}}')" = '[/bin/timewait_exporter]' ] || fail "ENTRYPOINT is $(cfg '{{.OCIv1.Config.Entrypoint}}')"
for l in title description source licenses version revision created; do
  v=$(cfg "{{index .OCIv1.Config.Labels \"org.opencontainers.image.$l\"}}")
  [ -n "$v" ] || fail "label org.opencontainers.image.$l missing"
done
[ "$(cfg '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}')" = "$VERSION" ] || fail "version label"
echo "USER 65534:65534, EXPOSE 9966/tcp, ENTRYPOINT [/bin/timewait_exporter], OCI labels: ok"

ctr=$("${B[@]}" from -q "$img")
mnt=$("${B[@]}" mount "$ctr")
[ ! -e "$mnt/bin/sh" ] || fail "the final image has a shell"
if ! cmp -s "$mnt/bin/timewait_exporter" "$work/rootfs/bin/timewait_exporter"; then
  go tool buildid "$mnt/bin/timewait_exporter" "$work/rootfs/bin/timewait_exporter" >&2 || true
  fail "image binary differs from the emulated build: the two paths no longer run the same steps"
fi
echo "image binary == emulated build (sha256 $(sha256sum "$work/rootfs/bin/timewait_exporter" | cut -c1-16)...)"
"${B[@]}" umount "$ctr" >/dev/null

echo "--- run from the image"
"${B[@]}" run --isolation chroot "$ctr" -- /bin/timewait_exporter --version | tee "$work/img-version.txt"
grep -q "version $VERSION (branch: $BRANCH, revision: $REVISION)" "$work/img-version.txt" || fail "image --version"
scrape "$work/image.prom" "${B[@]}" run --isolation chroot "$ctr" -- /bin/timewait_exporter --web.listen-address=127.0.0.1:9966
check_scrape "$work/image.prom" image
echo "deploy_image: ok (buildah built ./Dockerfile with stand-in base images; emulated build identical)"
RC=0
