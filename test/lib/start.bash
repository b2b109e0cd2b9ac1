# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The opening the end-to-end scripts share: run from the repository root,
# with the binary `make build` made, as root. Source it, then call
#   e2e_start "needs root for ip netns"    # what root is needed for
e2e_start() {
  cd "$(dirname "$0")/.." || exit 1
  [ -x ./timewait_exporter ] || { echo "FAIL: ./timewait_exporter missing: run make build" >&2; exit 1; }
  [ "$(id -u)" -eq 0 ] || { echo "FAIL: $1" >&2; exit 1; }
}
