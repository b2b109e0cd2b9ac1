#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The growth test of --netns.discover (issue 20): NS_COUNT idle named
# namespaces (ip netns add, loopback up, no sockets) around two exporters
# that run side by side in a namespace of their own with --netns.discover,
# one with the default configuration, one with netns.dump: busy, both with
# an include filter that selects only this test's namespaces. After a warm-up scrape each is scraped SCRAPES times,
# in turn. Per exporter it reports, and bounds:
#  - CPU per idle namespace per scrape: utime+stime of its process (its own
#    /proc/PID/stat) from before the first counted scrape to 0.2 s after the
#    last, divided by SCRAPES x NS_COUNT (the own namespace's cost, dump
#    included, is counted in: an upper bound), at most MAX_CPU_MS;
#  - peak RSS (VmHWM at the end), at most MAX_RSS_MB;
#  - exposition bytes per scrape and the series of one idle namespace
#    (reported only; the series budget is bounded by its own test).
# Every namespace must appear in netns_info and every collector succeed.
# In `make e2e` with 60 namespaces and bounds that hold on a loaded 2-core
# machine (about 20 s); `make bench-netns` runs it at 250 namespaces
# against the targets.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init netns_growth 300 10 "ip netns and setns" ip curl bc -- "$@"

NS_COUNT=${NS_COUNT:-60}
SCRAPES=${SCRAPES:-10}
# Today's visit costs about 1.8 ms per idle namespace; the bound only
# catches a visit that costs more again.
MAX_CPU_MS=${MAX_CPU_MS:-3.0}
MAX_RSS_MB=${MAX_RSS_MB:-40}
R=$((RANDOM % 100000))
P=tw-t-gr$R-
OWN=${P}own
TMP=$(mktemp -d /tmp/netns_growth.XXXXXX) || fail "mktemp"
TW_GRACE=1
tw_on_failure() { tail -20 "$TMP"/exporter-*.log 2>/dev/null; }
tw_exporter

addns() {
  ip netns add "$1" || fail "ip netns add $1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up || fail "loopback up in $1"
}
nsname() { printf '%sn%03d' "$P" "$1"; }

# start MODE PORT : an exporter in $OWN with netns.dump: MODE, or the
# default configuration's for MODE default
start() {
  local dump=""
  [ "$1" = default ] || dump=", dump: $1"
  printf 'netns: {include: "^%sn[0-9]+$", max_namespaces: %d%s}\n' "$P" $((NS_COUNT + 1)) "$dump" >"$TMP/$1.yml"
  ip netns exec "$OWN" "$EXPORTER" --web.listen-address="127.0.0.1:$2" --netns.discover \
    --config.file="$TMP/$1.yml" >"$TMP/exporter-$1.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$1=$!"
  for _ in $(seq 100); do
    ip netns exec "$OWN" curl -fsS -o /dev/null "http://127.0.0.1:$2/-/healthy" 2>/dev/null && return
    sleep 0.05
  done
  fail "exporter ($1) did not start"
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# scrape MODE PORT : one scrape into $TMP/MODE.prom, its size appended to $TMP/bytes-MODE
scrape() {
  ip netns exec "$OWN" curl -fsS -o "$TMP/$1.prom" -w '%{size_download}\n' "http://127.0.0.1:$2/metrics" >>"$TMP/bytes-$1" ||
    fail "scrape ($1)"
}

step "$NS_COUNT idle namespaces"
addns "$OWN"
for i in $(seq 1 "$NS_COUNT"); do addns "$(nsname "$i")"; done
start default 9981
start busy 9982

step "$SCRAPES scrapes of each exporter, in turn"
scrape default 9981; scrape busy 9982 # warm-up: the first scrape compiles regexps, allocates
rm -f "$TMP"/bytes-*
d0=$(cpu "$PID_default"); b0=$(cpu "$PID_busy")
for _ in $(seq "$SCRAPES"); do scrape default 9981; scrape busy 9982; done
sleep 0.2
d1=$(cpu "$PID_default"); b1=$(cpu "$PID_busy")
tck=$(getconf CLK_TCK)

step "figures"
status=0
for mode in default busy; do
  pid_var=PID_$mode
  pid=${!pid_var}
  t0_var=${mode:0:1}0; t1_var=${mode:0:1}1
  f=$TMP/$mode.prom
  info=$(grep -c "^timewait_netns_info{.*netns=\"${P}n[0-9]*\"" "$f")
  [ "$info" = "$NS_COUNT" ] || fail "$mode: netns_info names $info of the $NS_COUNT namespaces"
  grep '^timewait_scrape_collector_success' "$f" | grep -qv ' 1$' && fail "$mode: a collector failed: $(grep '^timewait_scrape_collector_success' "$f" | grep -v ' 1$' | head -3)"
  ms=$(echo "scale=3; 1000 * (${!t1_var} - ${!t0_var}) / $tck / $SCRAPES / $NS_COUNT" | bc)
  rss=$(echo "scale=1; $(hwm_kb "$pid") / 1024" | bc)
  bytes=$(awk '{ s += $1 } END { printf "%.0f", s / NR }' "$TMP/bytes-$mode")
  series=$(grep -c "netns=\"$(nsname 1)\"" "$f")
  printf '  %-7s  cpu per idle namespace per scrape %6s ms (at most %s)  peak RSS %5s MB (at most %s)  exposition %8s bytes/scrape  series per idle namespace %s\n' \
    "$mode" "$ms" "$MAX_CPU_MS" "$rss" "$MAX_RSS_MB" "$bytes" "$series"
  [ "$(echo "$ms <= $MAX_CPU_MS" | bc)" = 1 ] || { echo "netns_growth: FAIL: $mode: $ms ms of CPU per idle namespace per scrape, over $MAX_CPU_MS"; status=1; }
  [ "$(echo "$rss <= $MAX_RSS_MB" | bc)" = 1 ] || { echo "netns_growth: FAIL: $mode: peak RSS $rss MB, over $MAX_RSS_MB"; status=1; }
done
echo "  ($NS_COUNT idle namespaces and the exporters' own, $SCRAPES scrapes each, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
[ "$status" = 0 ] || fail "over a bound (figures above)"
echo "netns_growth: PASS"
RC=0
