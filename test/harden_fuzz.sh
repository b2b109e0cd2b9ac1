#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Short fuzz run of every parser target (go test -fuzz), FUZZTIME each
# (default 6s; `FUZZTIME=10m bash test/harden_fuzz.sh` for a long run).
# The checked-in seed corpora (testdata/fuzz/<Target>) also run on every
# plain `go test`; this adds new random inputs. A failing input is written
# by go test to the package's testdata/fuzz/<Target>/ and the run fails.
# Prints the executions per target and in total.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-6s}

targets=(
  ./internal/sockdiag:FuzzParseBatch
  ./internal/sockdiag:FuzzDecodeMsg
  ./internal/kernel:FuzzParseNetstat
  ./internal/kernel:FuzzParseReservedPorts
  ./internal/kernel:FuzzReadSockstat
  ./internal/kernel:FuzzReadSysctls
  ./config:FuzzParse
)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
total=0
for t in "${targets[@]}"; do
  pkg=${t%%:*} name=${t##*:}
  # -parallel 2: the CI machine has two cores.
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -parallel 2 "$pkg" >"$log" 2>&1; then
    cat "$log" >&2
    echo "FAIL: $name in $pkg (failing input saved under $pkg/testdata/fuzz/$name)" >&2
    exit 1
  fi
  # A target that matches no fuzz test passes go test with no execution:
  # that is a broken list, not a clean run.
  if ! grep -q 'execs: [0-9]' "$log"; then
    cat "$log" >&2
    echo "FAIL: $name in $pkg ran no fuzz execution (is the target listed in the right package?)" >&2
    exit 1
  fi
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  echo "fuzz $name ($pkg): ${execs:-0} executions in $FUZZTIME"
  total=$((total + ${execs:-0}))
done
echo "harden_fuzz: ok, ${#targets[@]} targets, $total executions"
