#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# timewait-bench.sh: what one scrape costs with N real TIME_WAIT sockets.
#
#   bench/timewait-bench.sh [N [K]]           one table at N sockets (default 250000), K scrapes each (default 5)
#   bench/timewait-bench.sh --curve 10000,50000,100000,250000 [K]
#                                             one row per N: cost should grow linearly, our RSS stay flat
#
# In a throwaway network namespace (tcp_tw_reuse=0, tcp_max_tw_buckets
# raised) it makes N outbound TIME_WAIT sockets on loopback over at least 50
# destination ports (tools/twgen), starts timewait_exporter (all default collectors) and
# Debian's `prometheus-node-exporter --collector.disable-defaults
# --collector.tcpstat`, then runs K rounds, each: one scrape of each daemon,
# `ss -tan`, `ss -tan state time-wait` and tools/baredump (a bare sock_diag
# dump of both families that only counts states: the kernel's floor).
# Rounds are interleaved so every tool sees the same sockets even as the
# first ones expire (TIME_WAIT lasts 60 s: everything is measured within
# that window, and the counts at the first and last round are printed).
#
# CPU per scrape: for the daemons, the growth of utime+stime in their own
# /proc/PID/stat from just before the first scrape to just after the last,
# divided by K (they are idle in between); for one-shot commands their own
# user+system time (rusage). Peak RSS: VmHWM of the daemons, ru_maxrss of the
# commands. Wall: per scrape as the client saw it, or per command.
#
# Environment: EXPORTER (prebuilt binary; default: go build), NODE_EXPORTER
# (default /usr/bin/prometheus-node-exporter; rows say n/a without it), GO.
# tools/twgen makes the sockets with blocking system calls on one thread
# per core, which is what lets 250k sockets be made and measured inside
# their 60 s.
# Needs root, ip (iproute2), ss. Leaves nothing behind: the namespace, the
# daemons and the temporary directory go on any exit.
set -euo pipefail

usage() { sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

CURVE=""
if [[ "${1:-}" == "--curve" ]]; then
	[[ $# -ge 2 ]] || usage
	CURVE=$2
	shift 2
fi
case "${1:-}" in -h | --help) usage ;; esac
if [[ -n "$CURVE" ]]; then
	N=100 K=${1:-5}
else
	N=${1:-250000} K=${2:-5}
fi
[[ "$N" =~ ^[0-9]+$ && "$K" =~ ^[0-9]+$ && "$K" -ge 1 && "$N" -ge 100 ]] || usage
[[ -z "$CURVE" || "$CURVE" =~ ^[0-9]+(,[0-9]+)*$ ]] || usage
[[ $(id -u) -eq 0 ]] || { echo "timewait-bench: needs root (network namespaces, sysctls)" >&2; exit 1; }
for tool in ip ss; do
	command -v "$tool" >/dev/null || { echo "timewait-bench: $tool not found (apt-get install iproute2)" >&2; exit 1; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
WORK=$(mktemp -d /tmp/timewait-bench.XXXXXX)
NAMESPACES=()
PIDS=()

cleanup() {
	local pid ns
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	for ns in "${NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { echo "timewait-bench: $*" >&2; }

# Binaries: ours from the tree (or $EXPORTER), the helpers always.
(
	cd "$ROOT"
	if [[ -z "${EXPORTER:-}" ]]; then
		CGO_ENABLED=0 "$GO" build -trimpath -o "$WORK/timewait_exporter" .
	fi
	"$GO" build -o "$WORK/twgen" ./tools/twgen
	"$GO" build -o "$WORK/baredump" ./tools/baredump
	"$GO" build -o "$WORK/probe" ./tools/probe
)
EXPORTER=${EXPORTER:-$WORK/timewait_exporter}
PROBE=$WORK/probe
HAVE_NE=0
[[ -x "$NODE_EXPORTER" ]] && HAVE_NE=1 || log "$NODE_EXPORTER not found: node_exporter rows are n/a"

sockstat_tw() { ip netns exec "$1" awk '$1 == "TCP:" { for (i = 2; i < NF; i += 2) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat; }

# get NS URL [FILE]: one scrape from inside the namespace (the daemons
# listen on its loopback); prints the wall time.
get() { ip netns exec "$1" "$PROBE" get "${@:2}"; }

wait_ready() { # ns url pid
	local i
	for i in $(seq 100); do
		kill -0 "$3" 2>/dev/null || { log "daemon for $2 exited"; return 1; }
		get "$1" "$2" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "$2 not ready after 10 s"
	return 1
}

# stop_pid PID: end one daemon we started, by its id.
stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# Globals of the current namespace (setup/teardown) and the running sums of
# one measurement.
NS="" US="" NE="" CPU0_US=0 CPU0_NE=0 GENS=0 MADE=0 PORTS=0 PROCS=1
declare -A WALL CPU RSS

# setup N: a fresh namespace with both daemons and N TIME_WAIT sockets,
# each daemon scraped once (warm-up, not counted).
setup() {
	local n=$1 port_us=19966 port_ne=19100
	GENS=$((GENS + 1))
	NS="twbench-$$-$n-$GENS"
	NAMESPACES+=("$NS")
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	ip netns exec "$NS" sysctl -qw net.ipv4.tcp_tw_reuse=0 "net.ipv4.tcp_max_tw_buckets=$((2 * n + 10000))"

	# Daemons first, so their start-up is outside the 60 s window.
	# `ip netns exec` execs the command: $! is the daemon itself.
	ip netns exec "$NS" "$EXPORTER" --web.listen-address="127.0.0.1:$port_us" --log.level=warn 2>>"$WORK/us.log" &
	US=$!
	PIDS+=("$US")
	NE=""
	if ((HAVE_NE)); then
		ip netns exec "$NS" "$NODE_EXPORTER" --collector.disable-defaults --collector.tcpstat \
			--web.listen-address="127.0.0.1:$port_ne" 2>>"$WORK/ne.log" &
		NE=$!
		PIDS+=("$NE")
	fi
	URL_US="http://127.0.0.1:$port_us/metrics" URL_NE="http://127.0.0.1:$port_ne/metrics"
	wait_ready "$NS" "$URL_US" "$US"
	[[ -z "$NE" ]] || wait_ready "$NS" "$URL_NE" "$NE"

	# TIME_WAIT sockets, about 4000 per destination port (connect() slows
	# as one destination's port range fills), at least 50 ports.
	PORTS=$((n / 4000 > 50 ? n / 4000 : 50))
	PROCS=1
	local start=$SECONDS
	ip netns exec "$NS" "$WORK/twgen" -n "$n" -ports "$PORTS" -parallel 2 2>>"$WORK/gen.log" ||
		{ cat "$WORK/gen.log" >&2; return 1; }
	MADE=$((MADE + SECONDS - start))

	get "$NS" "$URL_US" >/dev/null
	[[ -z "$NE" ]] || get "$NS" "$URL_NE" >/dev/null
	read -r CPU0_US _ < <("$PROBE" cpu "$US")
	[[ -z "$NE" ]] || read -r CPU0_NE _ < <("$PROBE" cpu "$NE")
}

# teardown: add the daemons' CPU since setup (they are idle between
# scrapes) and their peak RSS, stop them and delete the namespace.
teardown() {
	local c m
	sleep 0.3 # let the daemons finish what a scrape left (GC, logging)
	read -r c m < <("$PROBE" cpu "$US")
	CPU[us]=$(awk -v s="${CPU[us]}" -v a="$c" -v b="$CPU0_US" 'BEGIN { print s + a - b }')
	((m > RSS[us])) && RSS[us]=$m
	if [[ -n "$NE" ]]; then
		read -r c m < <("$PROBE" cpu "$NE")
		CPU[ne]=$(awk -v s="${CPU[ne]}" -v a="$c" -v b="$CPU0_NE" 'BEGIN { print s + a - b }')
		((m > RSS[ne])) && RSS[ne]=$m
	fi
	stop_pid "$US"
	[[ -z "$NE" ]] || stop_pid "$NE"
	ip netns del "$NS"
}

# measure N K: K interleaved rounds; one row of key=value results on stdout.
# TIME_WAIT sockets live 60 s: when fewer than 90% of N are left at the
# start of a round (a slow, busy machine), the next rounds run in a fresh
# namespace with N new sockets.
measure() {
	local n=$1 k=$2 r t c w m tw tw_min=-1 tw_max=0 seen
	GENS=0 MADE=0
	for t in us ne ss sstw bare bare2; do WALL[$t]=0 CPU[$t]=0 RSS[$t]=0; done
	setup "$n"
	for ((r = 0; r < k; r++)); do
		tw=$(sockstat_tw "$NS")
		if ((tw < n * 9 / 10)); then
			teardown
			setup "$n"
			tw=$(sockstat_tw "$NS")
		fi
		((tw_min < 0 || tw < tw_min)) && tw_min=$tw
		((tw > tw_max)) && tw_max=$tw
		w=$(get "$NS" "$URL_US" "$WORK/us.prom")
		WALL[us]=$(awk -v a="${WALL[us]}" -v b="$w" 'BEGIN { print a + b }')
		if [[ -n "$NE" ]]; then
			w=$(get "$NS" "$URL_NE")
			WALL[ne]=$(awk -v a="${WALL[ne]}" -v b="$w" 'BEGIN { print a + b }')
		fi
		for t in ss sstw bare bare2; do
			case $t in
			ss) read -r c w m < <(ip netns exec "$NS" "$PROBE" run ss -tan) ;;
			sstw) read -r c w m < <(ip netns exec "$NS" "$PROBE" run ss -tan state time-wait) ;;
			bare) read -r c w m < <(ip netns exec "$NS" "$PROBE" run "$WORK/baredump") ;;
			bare2) read -r c w m < <(ip netns exec "$NS" "$PROBE" run "$WORK/baredump" -per-family) ;;
			esac
			CPU[$t]=$(awk -v a="${CPU[$t]}" -v b="$c" 'BEGIN { print a + b }')
			WALL[$t]=$(awk -v a="${WALL[$t]}" -v b="$w" 'BEGIN { print a + b }')
			((m > RSS[$t])) && RSS[$t]=$m
		done
	done
	teardown
	seen=$(awk '/^timewait_tcp_sockets\{.*state="time_wait"/ { s += $NF } END { print s + 0 }' "$WORK/us.prom")

	local out="n=$n k=$k gen=twgen gens=$GENS made_s=$MADE procs=$PROCS ports=$PORTS tw_min=$tw_min tw_max=$tw_max seen=$seen"
	for t in us ne ss sstw bare bare2; do
		if [[ $t == ne && $HAVE_NE -eq 0 ]]; then
			out+=" cpu_ne=na wall_ne=na rss_ne=na"
			continue
		fi
		out+=" cpu_$t=$(awk -v a="${CPU[$t]}" -v k="$k" 'BEGIN { printf "%.4f", a / k }')"
		out+=" wall_$t=$(awk -v a="${WALL[$t]}" -v k="$k" 'BEGIN { printf "%.4f", a / k }')"
		out+=" rss_$t=${RSS[$t]}"
	done
	echo "$out"
}

# table ROW: the full table of one measurement.
table() {
	echo "$1" | awk '
	function ratio(a, b) { return (a == "na" || b == "na" || b == 0) ? "n/a" : sprintf("%.2fx", a / b) }
	function ms(v) { return v == "na" ? "n/a" : sprintf("%.1f ms", v * 1000) }
	function mb(v) { return v == "na" ? "n/a" : sprintf("%.1f MB", v / 1024) }
	{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "TIME_WAIT sockets at the start of each round (/proc/net/sockstat tw): %d to %d; the exporter counted %d in its last scrape\n", v["tw_min"], v["tw_max"], v["seen"]
		printf "made by %s (%d process(es)) over %d destination ports, %d time(s) (a fresh namespace when under 90%% were left), %d s in all\n", v["gen"], v["procs"], v["ports"], v["gens"], v["made_s"]
		printf "K=%d rounds, interleaved; CPU = user+system of the process itself\n\n", v["k"]
		printf "%-44s %12s %12s %10s %10s %16s\n", "tool", "CPU/scrape", "wall/scrape", "peak RSS", "CPU/bare", "CPU/node_exp"
		split("us ne ss sstw bare bare2", ts, " ")
		name["us"] = "timewait_exporter (all default collectors)"
		name["ne"] = "node_exporter 1.5 --collector.tcpstat"
		name["ss"] = "ss -tan"
		name["sstw"] = "ss -tan state time-wait"
		name["bare"] = "bare counting dump, one walk (baredump)"
		name["bare2"] = "bare dump, a walk per family (-per-family)"
		for (j = 1; j <= 6; j++) {
			t = ts[j]
			printf "%-44s %12s %12s %10s %10s %16s\n", name[t], ms(v["cpu_" t]), ms(v["wall_" t]), mb(v["rss_" t]), ratio(v["cpu_" t], v["cpu_bare"]), ratio(v["cpu_" t], v["cpu_ne"])
		}
		printf "\ntargets: CPU us/bare %s (<= 1.20x)  us/node_exporter %s (<= 0.50x)  our peak RSS %s (<= 25 MB)\n", ratio(v["cpu_us"], v["cpu_bare"]), ratio(v["cpu_us"], v["cpu_ne"]), mb(v["rss_us"])
	}'
}

if [[ -z "$CURVE" ]]; then
	log "N=$N K=$K"
	# Not in $( ): measure must run in this shell so the cleanup trap knows
	# its namespace and daemons.
	measure "$N" "$K" >"$WORK/row"
	table "$(cat "$WORK/row")"
	exit 0
fi

IFS=, read -r -a points <<<"$CURVE"
for n in "${points[@]}"; do
	# Enough rounds that the 10 ms tick of /proc/PID/stat stays small
	# against the total at small N.
	k=$(((200000 + n - 1) / n))
	k=$((k > K ? k : K))
	log "N=$n K=$k"
	measure "$n" "$k" >>"$WORK/rows"
done
awk '
	function ratio(a, b) { return (a == "na" || b == "na" || b == 0) ? "n/a" : sprintf("%.2fx", a / b) }
	function ms(x) { return x == "na" ? "n/a" : sprintf("%.1f", x * 1000) }
	function mb(x) { return x == "na" ? "n/a" : sprintf("%.1f", x / 1024) }
	BEGIN {
		printf "%9s %4s %10s %10s %10s %8s %8s %12s %9s %9s\n", "TW (min)", "K", "us ms/scr", "bare ms", "ne ms", "us/bare", "us/ne", "us ms/100k", "us RSS MB", "ne RSS MB"
	}
	{
		delete v
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%9d %4d %10s %10s %10s %8s %8s %12.1f %9s %9s\n", v["tw_min"], v["k"], ms(v["cpu_us"]), ms(v["cpu_bare"]), ms(v["cpu_ne"]), ratio(v["cpu_us"], v["cpu_bare"]), ratio(v["cpu_us"], v["cpu_ne"]), v["cpu_us"] * 1000 * 100000 / ((v["tw_min"] + v["tw_max"]) / 2 > 0 ? (v["tw_min"] + v["tw_max"]) / 2 : 1), mb(v["rss_us"]), mb(v["rss_ne"])
	}' "$WORK/rows"
