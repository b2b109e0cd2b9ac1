#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building and testing timewait_exporter needs on a Debian machine:
# Debian packages (only those missing) and pinned Go tools into ./.tools.
# Idempotent: a second run installs nothing.
#
# Helm and kustomize (test/deploy_manifests.sh) and promtool 3 (the rule tests
# run on Debian's promtool 2 and on it) are built from the Go module proxy
# once per version into a cache outside the clone, which later runs and fresh
# clones (CI) reuse: building Helm or promtool takes minutes. ./.tools/helm,
# ./.tools/kustomize and ./.tools/promtool3 link to them.
#   TOOLS_CACHE  default: ${XDG_CACHE_HOME:-$HOME/.cache}/timewait_exporter/bin
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
declare -A need=(
  [ss]=iproute2
  [ip]=iproute2
  [unshare]=util-linux
  [nsenter]=util-linux
  [setpriv]=util-linux
  [jq]=jq
  [openssl]=openssl
  [amtool]=prometheus-alertmanager
  [promtool]=prometheus
  [prometheus]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [prometheus-node-exporter]=prometheus-node-exporter
  [chromium]=chromium
  [systemd-analyze]=systemd
  [curl]=curl
  [buildah]=buildah
  [busybox]=busybox-static
  [systemd-nspawn]=systemd-container
  [debootstrap]=debootstrap
  [readelf]=binutils
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
if ((${#missing[@]})); then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "install-deps: installing Debian packages: $pkgs"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# Go tools, pinned so lint results do not drift between runs.
if [ ! -x .tools/staticcheck ]; then
  echo "install-deps: installing staticcheck"
  GOBIN="$PWD/.tools" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
# jsonnetfmt (make lint) at the go-jsonnet version the mixin renders with.
jsonnet_version=$(cd mixin && go list -m -f '{{.Version}}' github.com/google/go-jsonnet)
if [ "$(cat .tools/jsonnetfmt.version 2>/dev/null)" != "$jsonnet_version" ] || [ ! -x .tools/jsonnetfmt ]; then
  echo "install-deps: installing jsonnetfmt $jsonnet_version"
  GOBIN="$PWD/.tools" go install "github.com/google/go-jsonnet/cmd/jsonnetfmt@$jsonnet_version"
  echo "$jsonnet_version" >.tools/jsonnetfmt.version
fi

# go_cached NAME PACKAGE VERSION [LINK]: build PACKAGE@VERSION into
# $TOOLS_CACHE/NAME-VERSION/NAME unless it is there, and link .tools/LINK
# (default NAME) to it. The binary is built aside and renamed into place, so a run that
# is cut short or runs beside another never leaves a half-written one.
TOOLS_CACHE=${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/timewait_exporter/bin}
go_cached() {
  local name=$1 pkg=$2 version=$3 link=${4:-$1}
  local dir=$TOOLS_CACHE/$name-$version
  if [ ! -x "$dir/$name" ]; then
    echo "install-deps: building $name $version into $dir (once per version)"
    mkdir -p "$TOOLS_CACHE"
    local tmp
    tmp=$(mktemp -d "$TOOLS_CACHE/.build-$name.XXXXXX")
    GOBIN=$tmp go install "$pkg@$version"
    mkdir -p "$dir"
    mv "$tmp/$name" "$dir/$name"
    rmdir "$tmp"
  fi
  mkdir -p .tools
  ln -sfn "$dir/$name" ".tools/$link"
}
go_cached helm helm.sh/helm/v4/cmd/helm v4.3.2
go_cached kustomize sigs.k8s.io/kustomize/kustomize/v5 v5.7.1
# Prometheus 3.x (module versions v0.3xx.y are releases 3.xx.y): the rule tests
# run on it too, since it excludes a range's left edge where 2.x includes it.
go_cached promtool github.com/prometheus/prometheus/cmd/promtool v0.316.0 promtool3

go mod download
