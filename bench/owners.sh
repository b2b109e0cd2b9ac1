#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cost of the doctor's owner lookup (issue 22): the doctor with and without
# --doctor.owners on N real TIME_WAIT sockets (tools/twgen) and PROCS
# processes holding FDS descriptors each (tools/fdhold: 5 of them TCP
# connections to 127.0.0.1:7300, whose other ends fdhold holds), in a
# throwaway network namespace. K rounds, alternating the two modes; prints
# the median CPU (user+system) and wall time per run, the peak RSS, `ss
# -tanp` once for reference (it walks every /proc/<pid>/fd the same way),
# and the ratio against its target, MAX_RATIO (default 2.00, the issue's);
# exits 1 above it.
#
#   bench/owners.sh [N PROCS FDS K]       (make bench-owners: 250000 2000 50 5)
#
# Needs root. EXPORTER is the binary to measure (default ./timewait_exporter).
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-250000} PROCS=${2:-2000} FDS=${3:-50} K=${4:-5} CONNS=${CONNS:-5} MAX_RATIO=${MAX_RATIO:-2}
EXPORTER=${EXPORTER:-$PWD/timewait_exporter}
[[ $(id -u) -eq 0 ]] || { echo "owners-bench: needs root (network namespaces)" >&2; exit 1; }
[[ -x $EXPORTER ]] || { echo "owners-bench: $EXPORTER missing (make build)" >&2; exit 1; }
NS=twbench-owners-$$
WORK=$(mktemp -d /tmp/owners-bench.XXXXXX)
HOLD=""
cleanup() {
	[[ -z $HOLD ]] || { kill "$HOLD" 2>/dev/null; wait "$HOLD" 2>/dev/null; }
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
for t in twgen fdhold probe; do go build -o "$WORK/$t" "./tools/$t" || exit 1; done
nsx() { ip netns exec "$NS" "$@"; }
ip netns add "$NS" && nsx ip link set lo up || exit 1
nsx sysctl -qw net.ipv4.tcp_tw_reuse=0 "net.ipv4.tcp_max_tw_buckets=$((2 * N + 10000))"

t0=$(date +%s.%N)
: >"$WORK/fdhold.out"
nsx "$WORK/fdhold" -procs "$PROCS" -fds "$FDS" -conns "$CONNS" -dst 127.0.0.1:7300 >"$WORK/fdhold.out" 2>&1 &
HOLD=$!
until grep -q ready "$WORK/fdhold.out"; do
	kill -0 "$HOLD" 2>/dev/null || { cat "$WORK/fdhold.out"; exit 1; }
	sleep 0.2
done
t1=$(date +%s.%N)
nsx "$WORK/twgen" -n "$N" -ports $((N / 4000 > 10 ? N / 4000 : 10)) -parallel 2 2>"$WORK/twgen.log" || { cat "$WORK/twgen.log"; exit 1; }
t2=$(date +%s.%N)
tw() { nsx awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }
fds=$(for p in $(ip netns pids "$NS"); do ls "/proc/$p/fd" 2>/dev/null; done | wc -l)
tw0=$(tw)

declare -A CPU WALL RSS
for r in $(seq "$K"); do
	for mode in off on; do
		flag=--doctor.owners; [[ $mode == off ]] && flag=--no-doctor.owners
		read -r c w m < <(nsx "$WORK/probe" run -exit 0,1,2 "$EXPORTER" doctor "$flag" --output=json) || exit 1
		CPU[$mode]+="$c " WALL[$mode]+="$w "
		((m > ${RSS[$mode]:-0})) && RSS[$mode]=$m
	done
done
read -r ssc ssw ssm < <(nsx "$WORK/probe" run ss -tanp) || exit 1
nsx "$EXPORTER" doctor --output=json >"$WORK/on.json"
tw1=$(tw)
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
found=$(jq '[.findings[] | select(.rule == "owners") | .flows[] | select(.destination == "127.0.0.1:7300") | .owners | length] | add // 0' "$WORK/on.json")
lookup=$(jq -r '[.findings[] | select(.rule == "owners") | .observed[] | select(startswith("owner lookup"))][0] // "none"' "$WORK/on.json")
printf 'setup: %d processes holding %d descriptors in the namespace (fdhold %.1f s), TIME_WAIT %d at the first run, %d after the last (twgen %.1f s)\n' \
	"$PROCS" "$fds" "$(echo "$t1 - $t0" | bc)" "$tw0" "$tw1" "$(echo "$t2 - $t1" | bc)"
echo "the owners run: $lookup; holders named for 127.0.0.1:7300: $found"
printf '%-28s %12s %12s %10s\n' "doctor, median of $K" "CPU/run" "wall/run" "peak RSS"
for mode in off on; do
	name="--no-doctor.owners"; [[ $mode == on ]] && name="--doctor.owners (default)"
	printf '%-28s %9.0f ms %9.0f ms %7.1f MB\n' "$name" "$(echo "$(median "${CPU[$mode]}") * 1000" | bc)" "$(echo "$(median "${WALL[$mode]}") * 1000" | bc)" "$(echo "${RSS[$mode]} / 1024" | bc -l)"
done
printf '%-28s %9.0f ms %9.0f ms %7.1f MB\n' "ss -tanp (once, reference)" "$(echo "$ssc * 1000" | bc)" "$(echo "$ssw * 1000" | bc)" "$(echo "$ssm / 1024" | bc -l)"
awk -v con="$(median "${CPU[on]}")" -v coff="$(median "${CPU[off]}")" -v won="$(median "${WALL[on]}")" -v woff="$(median "${WALL[off]}")" -v max="$MAX_RATIO" 'BEGIN {
	printf "owners/no-owners: CPU %.2fx, wall %.2fx (target <= %.2fx)\n", con / coff, won / woff, max
	exit !(won / woff <= max && con / coff <= max)
}'
