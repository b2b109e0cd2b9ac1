#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building and testing timewait_exporter needs on a Debian machine:
# Debian packages (only those missing) and pinned Go tools into ./.tools.
# Idempotent: a second run installs nothing.
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
go mod download
