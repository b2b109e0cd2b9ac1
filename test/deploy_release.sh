#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/release.sh: linux/amd64 and linux/arm64 archives with checksums.
# - sha256sum -c accepts dist's sha256sums.txt;
# - each archive holds a static binary for its architecture (ELF machine,
#   no program interpreter, no shared libraries), the systemd files, and the
#   version/revision stamped with ldflags (the amd64 one is run; the arm64
#   one, which this machine cannot run, is checked with `go version -m` and
#   for the stamped strings);
# - a second build with the same SOURCE_DATE_EPOCH gives identical archives.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init deploy_release 2000 10 "" go tar readelf sha256sum -- "$@"
work=$TMP

export SOURCE_DATE_EPOCH=1700000000 BUILD_USER=release-test
VERSION=$(cat VERSION)
REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
export REVISION
# Both builds read one snapshot of the tree, so edits made meanwhile cannot
# make them differ.
mkdir "$work/src"
tar --exclude=./.git --exclude=./dist --exclude=./.tools -cf - . | tar -C "$work/src" -xf -
cd "$work/src"

echo "--- scripts/release.sh (DIST=$work/dist)"
DIST="$work/dist" timeout 900 scripts/release.sh
(cd "$work/dist" && sha256sum -c sha256sums.txt) || fail "checksums do not match"
[ "$(wc -l <"$work/dist/sha256sums.txt")" -eq 2 ] || fail "want 2 archives"

for arch in amd64 arm64; do
  name=timewait_exporter-$VERSION.linux-$arch
  tgz=$work/dist/$name.tar.gz
  [ -f "$tgz" ] || fail "$name.tar.gz missing"
  mkdir -p "$work/x/$arch"
  tar -C "$work/x/$arch" -xzf "$tgz"
  bin=$work/x/$arch/$name/timewait_exporter
  [ -x "$bin" ] || fail "$name: no executable timewait_exporter"
  for f in timewait_exporter.service timewait_exporter.socket timewait_exporter.default timewait_exporter.sysusers.conf; do
    [ -f "$work/x/$arch/$name/systemd/$f" ] || fail "$name: systemd/$f missing"
  done
  machine=$(LC_ALL=C readelf -hW "$bin" | awk -F: '/Machine:/ { gsub(/^ +/, "", $2); print $2 }')
  case $arch in
    amd64) [[ $machine == *X86-64* ]] || fail "$name: ELF machine $machine" ;;
    arm64) [[ $machine == *AArch64* ]] || fail "$name: ELF machine $machine" ;;
  esac
  ! LC_ALL=C readelf -lW "$bin" | grep -q INTERP || fail "$name: has a program interpreter (not static)"
  ! LC_ALL=C readelf -dW "$bin" 2>/dev/null | grep -q NEEDED || fail "$name: needs shared libraries"
  go version -m "$bin" >"$work/m.txt"
  grep -q "CGO_ENABLED=0" "$work/m.txt" || fail "$name: not built with CGO_ENABLED=0"
  grep -q -- "-trimpath=true" "$work/m.txt" || fail "$name: not built with -trimpath"
  # -trimpath keeps -ldflags out of the build info: look for the stamped
  # strings themselves (BUILD_USER is unique to this test).
  grep -aq "release-test" "$bin" || fail "$name: BuildUser ldflag missing"
  grep -aq "$REVISION" "$bin" || fail "$name: Revision ldflag missing"
  echo "$name: $machine, static, version $VERSION revision $REVISION"
done
"$work/x/amd64/timewait_exporter-$VERSION.linux-amd64/timewait_exporter" --version 2>&1 | tee "$work/v.txt"
grep -q "version $VERSION (branch: .*, revision: $REVISION)" "$work/v.txt" || fail "--version does not show $VERSION/$REVISION"
grep -q "build date: *20231114-22:13:20" "$work/v.txt" || fail "build date not taken from SOURCE_DATE_EPOCH"

echo "--- reproducible: a second build gives the same archives"
DIST="$work/dist2" timeout 900 scripts/release.sh >/dev/null
cmp "$work/dist/sha256sums.txt" "$work/dist2/sha256sums.txt" || fail "second build differs: $(diff "$work/dist/sha256sums.txt" "$work/dist2/sha256sums.txt")"
echo "deploy_release: ok"
RC=0
