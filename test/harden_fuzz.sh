#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Short fuzz run of every parser target (go test -fuzz). Each target runs a
# fixed number of executions, about 6 s on the two-core CI machine, times
# FUZZSCALE (default 1; `FUZZSCALE=50 bash test/harden_fuzz.sh` for a long
# run). The checked-in seed corpora (testdata/fuzz/<Target>) also run on
# every plain `go test`; this adds new random inputs. A failing input is
# written by go test to the package's testdata/fuzz/<Target>/ and the run
# fails. Prints the executions per target and in total.
#
# Why counts and not a duration: with a duration -fuzztime, Go's fuzz
# coordinator (go1.26 and older) can end a clean run with "context deadline
# exceeded" and no failing input, when a starved worker has not answered by
# the deadline (golang/go#75804, fixed in go1.27). CI met it on a loaded
# machine. A count has no deadline to race.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
FUZZSCALE=${FUZZSCALE:-1}

# package:target:executions (the executions measured in 6 s under CI load)
targets=(
  ./internal/sockdiag:FuzzParseBatch:100000
  ./internal/sockdiag:FuzzDecodeMsg:150000
  ./internal/kread:FuzzParseNetstat:10000
  ./internal/kread:FuzzParseReservedPorts:60000
  ./internal/kread:FuzzReadSockstat:5000
  ./internal/kread:FuzzReadSysctls:6000
  ./internal/netns:FuzzPodUIDFromCgroup:50000
  ./config:FuzzParse:10000
)
# Each target about 6 s (times FUZZSCALE), 5 times over, and the builds.
tw_init harden_fuzz $((300 + ${#targets[@]} * 30 * FUZZSCALE)) 10 "" go -- "$@"

log=$TMP/go-test.log
total=0
for t in "${targets[@]}"; do
  IFS=: read -r pkg name count <<<"$t"
  count=$((count * FUZZSCALE))
  # -parallel 2: the CI machine has two cores.
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "${count}x" -parallel 2 "$pkg" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$name in $pkg (failing input saved under $pkg/testdata/fuzz/$name)"
  fi
  # A target that matches no fuzz test passes go test with no execution:
  # that is a broken list, not a clean run.
  if ! grep -q 'execs: [0-9]' "$log"; then
    cat "$log" >&2
    fail "$name in $pkg ran no fuzz execution (is the target listed in the right package?)"
  fi
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  echo "fuzz $name ($pkg): ${execs:-0} executions"
  total=$((total + ${execs:-0}))
done
echo "harden_fuzz: ok, ${#targets[@]} targets, $total executions"
RC=0
