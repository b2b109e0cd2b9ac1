#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke run of the scrape-cost benchmark (bench/timewait-bench.sh) at
# N=5000 sockets, K=3 rounds: it must finish within 60 s, print the whole
# table with every tool and the target line, count the sockets it made, and
# leave no namespace, daemon or temporary directory behind, also when it is
# stopped half-way. The full run (250k) is `make bench`, not part of the
# tests.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init bench_smoke 420 10 "network namespaces" ip -- "$@"
GO=${GO:-go}

# Compile once outside the benchmark's time bound; the script's own builds
# then hit the cache.
$GO build ./tools/baredump ./tools/probe ./tools/twgen
CGO_ENABLED=0 $GO build -trimpath -o "$TMP/timewait_exporter" .
export EXPORTER=$TMP/timewait_exporter

leftovers() { # namespaces and work directories the benchmark leaves behind
	{ ip netns list | awk '{print $1}' | grep '^twbench-' || true; ls -d /tmp/timewait-bench.* 2>/dev/null || true; } | sort
}
before=$(leftovers)

out=$(timeout 60 bench/timewait-bench.sh 5000 3 2>&1) || { echo "$out"; fail "benchmark failed or exceeded 60 s"; }
echo "$out"
for row in "timewait_exporter (all default collectors)" "node_exporter 1.5 --collector.tcpstat" \
	"ss -tan " "ss -tan state time-wait" "bare counting dump, one walk" "a walk per family" "CPU/scrape" "targets: CPU us/bare"; do
	grep -qF -- "$row" <<<"$out" || fail "no '$row' in the output"
done
first=$(sed -n 's/^TIME_WAIT sockets at the start of each round.*: \([0-9]*\) to .*/\1/p' <<<"$out")
[[ -n "$first" && "$first" -ge 4900 ]] || fail "expected about 5000 TIME_WAIT sockets, the table says '$first'"
seen=$(sed -n 's/.*the exporter counted \([0-9]*\).*/\1/p' <<<"$out")
[[ -n "$seen" && "$seen" -ge 4900 ]] || fail "the exporter counted '$seen' TIME_WAIT sockets"
grep -E '^timewait_exporter' <<<"$out" | grep -qE '[0-9.]+ ms +[0-9.]+ ms +[0-9.]+ MB +[0-9.]+x' ||
	fail "our row has no numbers"
[[ "$(leftovers)" == "$before" ]] || fail "left behind: $(comm -13 <(echo "$before") <(leftovers))"

# Stopped half-way (SIGTERM while it makes sockets or scrapes): it still
# cleans up.
# The signal is sent as soon as the run's namespace exists, so it lands
# mid-run however fast the machine is. The run names its namespaces
# twbench-<its pid>-: another run on the machine at the same time has
# twbench- namespaces too.
bench/timewait-bench.sh 5000 3 >/dev/null 2>&1 &
pid=$!
PIDS+=("$pid")
for ((i = 0; i < 300; i++)); do
	ip netns list | grep -q "^twbench-$pid-" && break
	sleep 0.1
done
ip netns list | grep -q "^twbench-$pid-" || fail "the benchmark made no namespace within 30 s"
kill -TERM "$pid" || fail "the benchmark ended before it could be stopped half-way"
wait "$pid" 2>/dev/null || true
[[ "$(leftovers)" == "$before" ]] || fail "left behind after SIGTERM: $(comm -13 <(echo "$before") <(leftovers))"
echo "PASS: bench_smoke"
RC=0
