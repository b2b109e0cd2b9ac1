# SPDX-License-Identifier: Apache-2.0
# The prelude of a script that a test runs inside `unshare --net`: strict
# mode, fail, and the background processes (pids) killed on exit.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
ip link set lo up
