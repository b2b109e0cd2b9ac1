#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Scrape cost of --netns.discover: 50 named namespaces of 1,000 TIME_WAIT
# sockets each, against one namespace holding all 50,000 (the default mode
# run inside it, and discovery visiting only it). Reports, per
# configuration, the exporter's CPU per scrape (utime+stime of its process
# over SCRAPES scrapes) and the wall time of a scrape (curl time_total), and
# checks the exporter saw every socket. Two phases: namespaces sharing the
# host's TCP established hash table (the default), and namespaces with a
# table of their own (net.ipv4.tcp_child_ehash_entries set in the netns
# that creates them).
# A measurement, not part of `make e2e` by default: run with NETNS_SCALE=1
# (root; about three minutes). Cleans up every namespace on any exit.
set -uo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
[ "${NETNS_SCALE:-}" = 1 ] || skip "a measurement; run with NETNS_SCALE=1"
tw_init netns_scale 400 10 "ip netns" go ip nsenter curl bc sysctl -- "$@"

NS_COUNT=${NS_COUNT:-50}
PER_NS=${PER_NS:-1000}
SCRAPES=${SCRAPES:-3}
CHILD_EHASH=${CHILD_EHASH:-8192}
R=$((RANDOM % 100000))
P=tw-t-sc$R-
OWN=${P}own
BIG=${P}big
PARENT=${P}parent

# addns NAME [CREATOR...] : a named namespace created by `CREATOR ip netns add`
addns() {
  local n=$1; shift
  "$@" ip netns add "$n" || fail "ip netns add $n"
  NAMESPACES+=("$n")
  ip -n "$n" link set lo up
  ip netns exec "$n" sysctl -qw net.ipv4.tcp_tw_reuse=0 net.ipv4.tcp_max_tw_buckets=262144
}

# measure TITLE NETNS ARGS... : SCRAPES scrapes of an exporter run in NETNS
measure() {
  local name=$1 where=$2; shift 2
  ip netns exec "$where" "$TMP/timewait_exporter" --web.listen-address=127.0.0.1:9966 "$@" >"$TMP/exporter.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    ip netns exec "$where" curl -fsS -o /dev/null http://127.0.0.1:9966/-/healthy 2>/dev/null && break
    sleep 0.05
  done
  ip netns exec "$where" curl -fsS -o "$TMP/m.prom" http://127.0.0.1:9966/metrics || fail "$name: first scrape"
  local t0 t1 wall
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  wall=$(ip netns exec "$where" bash -c "for i in \$(seq $SCRAPES); do curl -fsS -o /dev/null -w '%{time_total}\n' http://127.0.0.1:9966/metrics; done" |
    awk '{s += $1} END {printf "%.0f", 1000 * s / NR}')
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null
  local cpu tw nss
  cpu=$(echo "1000 * ($t1 - $t0) / $(getconf CLK_TCK) / $SCRAPES" | bc)
  tw=$(awk '/^timewait_tcp_sockets\{.*state="time_wait"/ {s += $2} END {print s + 0}' "$TMP/m.prom")
  nss=$(grep -c '^timewait_scrape_collector_success{collector="sockets"' "$TMP/m.prom")
  grep '^timewait_scrape_collector_success' "$TMP/m.prom" | grep -qv ' 1$' && fail "$name: a collector failed"
  printf '  %-36s namespaces=%-3s time_wait=%-6s cpu/scrape=%5s ms  wall/scrape=%5s ms\n' "$name" "$nss" "$tw" "$cpu" "$wall"
  echo "$cpu $wall $tw" >>"$TMP/results"
}

# phase TITLE [CREATOR...] : namespaces created by CREATOR (so they get its
# netns' tcp_child_ehash_entries). The 50 small namespaces and the big one
# are loaded and measured in turn, each with the other deleted, so both see
# the same number of TCP sockets host-wide (the kernel walks them all) and
# no TIME_WAIT socket expires (60 s) before it is counted.
phase() {
  local title=$1; shift
  local start i
  echo "--- $(date -u +%T) $title"
  for i in $(seq -w 1 "$NS_COUNT"); do addns "${P}n$i" "$@"; done
  echo "  tcp_ehash_entries of each: $(ip netns exec "${P}n01" cat /proc/sys/net/ipv4/tcp_ehash_entries) (negative: the host's shared table)"
  start=$(date +%s.%N)
  for i in $(seq -w 1 "$NS_COUNT"); do
    ip netns exec "${P}n$i" "$TMP/twgen" -n "$PER_NS" -ports 10 -parallel 16 2>/dev/null &
    if (( 10#$i % 4 == 0 )); then wait -n; fi
  done
  wait
  echo "  $NS_COUNT loads made in $(echo "$(date +%s.%N) - $start" | bc) s"
  : >"$TMP/results"
  measure "$NS_COUNT x $PER_NS, discover" "$OWN" --netns.discover --config.file="$TMP/small.yml"
  echo "  measured $(echo "$(date +%s.%N) - $start" | bc) s after the loads started (TIME_WAIT lasts 60 s)"
  for i in $(seq -w 1 "$NS_COUNT"); do ip netns del "${P}n$i"; done

  addns "$BIG" "$@"
  start=$(date +%s.%N)
  ip netns exec "$BIG" "$TMP/twgen" -n $((NS_COUNT * PER_NS)) -ports 50 -parallel 64 2>/dev/null
  echo "  big load made in $(echo "$(date +%s.%N) - $start" | bc) s"
  measure "1 x $((NS_COUNT * PER_NS)), default mode inside it" "$BIG"
  measure "1 x $((NS_COUNT * PER_NS)), discover" "$OWN" --netns.discover --config.file="$TMP/bigonly.yml"
  echo "  measured $(echo "$(date +%s.%N) - $start" | bc) s after the load started"
  ip netns del "$BIG"

  local multi base
  read -r -a multi < <(sed -n 1p "$TMP/results")
  read -r -a base < <(sed -n 2p "$TMP/results")
  [ "${base[2]}" -ge $((NS_COUNT * PER_NS * 95 / 100)) ] || fail "the big namespace holds only ${base[2]} TIME_WAIT sockets"
  [ "${multi[2]}" -ge $((NS_COUNT * PER_NS * 95 / 100)) ] || fail "the $NS_COUNT namespaces hold only ${multi[2]} TIME_WAIT sockets"
  echo "  => $NS_COUNT namespaces vs one (default mode), same sockets: cpu x$(echo "scale=1; ${multi[0]} / ${base[0]}" | bc), wall x$(echo "scale=1; ${multi[1]} / ${base[1]}" | bc)"
}

CGO_ENABLED=0 go build -o "$TMP/timewait_exporter" . || fail "go build"
go build -o "$TMP/twgen" ./tools/twgen || fail "go build twgen"
printf 'netns: {include: "^%sn[0-9]+$", dump: all}\n' "$P" >"$TMP/small.yml" # dumps are what it measures
printf 'netns: {include: "^%s$", dump: all}\n' "$BIG" >"$TMP/bigonly.yml"
addns "$OWN"
addns "$PARENT"
ip netns exec "$PARENT" sysctl -qw net.ipv4.tcp_child_ehash_entries="$CHILD_EHASH"

phase "shared ehash"
phase "own ehash" nsenter --net="/run/netns/$PARENT"
RC=0
