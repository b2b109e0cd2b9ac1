#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# netns.dump: busy on many namespaces (issue 15): NS_COUNT named namespaces,
# BUSY of them with PER_BUSY TIME_WAIT sockets each, the others with a few
# sockets but the last, idle. Two exporters run side by side with
# --netns.discover, one with netns.dump: busy, one with dump: all, scraped
# in turn SCRAPES times. Checks: every busy namespace is dumped by both and
# its TIME_WAIT and established counts equal `ss` run inside it; every quiet
# one is skipped with the policy on (timewait_netns_dumps_skipped); the
# policy's CPU per scrape (utime+stime of the exporter's process over the
# scrapes) is at most MAX_RATIO of dumping every namespace; the idle one
# costs at most 8 series under busy. Reports both figures and their ratio.
# In `make e2e` by default (100 namespaces, 5 x 8,000 TIME_WAIT, 5 scrapes
# each: about 15 s); `make bench-netns` runs it larger.
set -uo pipefail
. "$(dirname "$0")/lib/netns.bash"
# shellcheck source=test/lib/discover.bash
. "$(dirname "$0")/lib/discover.bash"
tw_init netns_busy 300 10 "ip netns" go ip ss curl bc sysctl -- "$@"

NS_COUNT=${NS_COUNT:-100}
BUSY=${BUSY:-5}
PER_BUSY=${PER_BUSY:-8000}
QUIET_TW=${QUIET_TW:-3}
SCRAPES=${SCRAPES:-5}
# 0.45: on a later machine (faster dumps, the same fixed visit cost) the
# ratio measured 0.27-0.31 quiet and loaded; 0.25 failed there on code that
# passed before. The bound still fails a policy that stops skipping.
MAX_RATIO=${MAX_RATIO:-0.45}
R=$((RANDOM % 100000))
P=tw-t-bz$R-
OWN=${P}own
TW_GRACE=1
tw_on_failure() { tail -20 "$TMP"/exporter-*.log 2>/dev/null; }

addns() {
  tw_named_ns "$1"
  ip netns exec "$1" sysctl -qw net.ipv4.tcp_tw_reuse=0 net.ipv4.tcp_max_tw_buckets=262144
}

# start MODE PORT : an exporter in $OWN with netns.dump: MODE
start() {
  printf 'netns: {include: "^%sn[0-9]+$", max_namespaces: %d, dump: %s}\n' "$P" $((NS_COUNT + 1)) "$1" >"$TMP/$1.yml"
  tw_discovering_exporter "$1" "$2" "$TMP/$1.yml"
}

nsname() { printf '%sn%03d' "$P" "$1"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
scrape() {
  ip netns exec "$OWN" curl -fsS -o "$TMP/$1.prom" -w '%{time_total}\n' "http://127.0.0.1:$2/metrics" >>"$TMP/wall-$1" ||
    fail "scrape ($1)"
}
wall() { awk '{ s += $1 } END { printf "%.0f", 1000 * s / NR }' "$TMP/wall-$1"; }
# value FILE NAME LABEL... : the sum of NAME's samples whose text holds
# every LABEL (name="value", quotes included)
value() {
  local f=$1 name=$2; shift 2
  grep "^$name[{ ]" "$f" | awk -v want="$*" 'BEGIN { n = split(want, w, " ") }
    { ok = 1; for (i = 1; i <= n; i++) if (index($0, w[i]) == 0) ok = 0; if (ok) s += $NF } END { print s + 0 }'
}

go build -o "$TMP/twgen" ./tools/twgen || fail "go build twgen"
[ -x ./timewait_exporter ] || fail "./timewait_exporter missing: run make build"
loads=()
step "$NS_COUNT namespaces, $BUSY with $PER_BUSY TIME_WAIT, the others with $QUIET_TW"
addns "$OWN"
for i in $(seq 1 "$NS_COUNT"); do addns "$(nsname "$i")"; done
# The busy ones get a range of BUSY_PORTS ports, so that their PER_BUSY
# sockets could reach the warning (0.7) of it: in the default range of
# 28,232 ports 5,000 sockets cannot, and the policy rightly skips them.
BUSY_PORTS=${BUSY_PORTS:-$((PER_BUSY * 6 / 5))}
for i in $(seq 1 "$BUSY"); do
  ip netns exec "$(nsname "$i")" sysctl -qw net.ipv4.ip_local_port_range="32768 $((32767 + BUSY_PORTS))"
done
# The last one stays idle (no socket): its series are the budget below.
for i in $(seq 1 $((NS_COUNT - 1))); do
  if (( i <= BUSY )); then continue; fi
  ip netns exec "$(nsname "$i")" "$TMP/twgen" -n "$QUIET_TW" -ports 1 -parallel 1 >/dev/null 2>&1 &
  loads+=($!)
  if (( i % 8 == 0 )); then wait "${loads[@]}"; loads=(); fi
done
wait "${loads[@]}"
start busy 9967
start all 9968
# The busy loads last: their TIME_WAIT must not expire (60 s) before the
# last comparison with ss. One busy namespace also holds established
# connections for the comparison (twgen -hold keeps its listeners, the
# bash process its client sockets).
loaded=$(date +%s)
loads=()
for i in $(seq 1 "$BUSY"); do
  ip netns exec "$(nsname "$i")" "$TMP/twgen" -n "$PER_BUSY" -ports 10 -parallel 4 >/dev/null 2>&1 &
  loads+=($!)
done
wait "${loads[@]}"
ip netns exec "$(nsname 1)" "$TMP/twgen" -n 0 -ports 1 -base 30000 -hold 10m >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3
ip netns exec "$(nsname 1)" bash -c 'for fd in 3 4 5 6 7; do eval "exec $fd<>/dev/tcp/127.0.0.1/30000"; done; sleep 600' &
PIDS+=($!)
sleep 0.3
echo "  loads made in $(( $(date +%s) - loaded )) s"

step "$SCRAPES scrapes of each exporter, in turn"
scrape busy 9967; scrape all 9968 # warm: the first scrape compiles regexps, allocates
rm -f "$TMP"/wall-*
b0=$(cpu "$PID_busy"); a0=$(cpu "$PID_all")
for _ in $(seq "$SCRAPES"); do scrape busy 9967; scrape all 9968; done
b1=$(cpu "$PID_busy"); a1=$(cpu "$PID_all")
tck=$(getconf CLK_TCK)
cpu_busy=$(echo "scale=1; 1000 * ($b1 - $b0) / $tck / $SCRAPES" | bc)
cpu_all=$(echo "scale=1; 1000 * ($a1 - $a0) / $tck / $SCRAPES" | bc)

step "busy namespaces against ss inside them"
for i in $(seq 1 "$BUSY"); do
  ns=$(nsname "$i")
  ss_tw=$(ip netns exec "$ns" ss -Htan state time-wait | wc -l)
  ss_est=$(ip netns exec "$ns" ss -Htan state established | wc -l)
  for mode in busy all; do
    [ "$(value "$TMP/$mode.prom" timewait_netns_dump_skipped "netns=\"$ns\"")" = 0 ] || [ "$mode" = all ] ||
      fail "$mode: $ns ($ss_tw TIME_WAIT) was skipped"
    tw=$(value "$TMP/$mode.prom" timewait_tcp_sockets "netns=\"$ns\"" 'state="time_wait"')
    est=$(value "$TMP/$mode.prom" timewait_tcp_sockets "netns=\"$ns\"" 'state="established"')
    [ "$tw" = "$ss_tw" ] && [ "$est" = "$ss_est" ] ||
      fail "$mode: $ns: exporter time_wait=$tw established=$est, ss $ss_tw and $ss_est"
  done
  [ "$ss_tw" -ge "$PER_BUSY" ] || fail "$ns holds only $ss_tw TIME_WAIT sockets"
  echo "  $ns: time_wait=$ss_tw established=$ss_est (ss and both exporters)"
done
(( $(date +%s) - loaded < 60 )) || fail "the comparison came $(( $(date +%s) - loaded )) s after the loads: TIME_WAIT may have expired"

skipped=$(value "$TMP/busy.prom" timewait_netns_dumps_skipped)
[ "$skipped" = $((NS_COUNT - BUSY)) ] || fail "policy busy skipped $skipped dumps, want $((NS_COUNT - BUSY))"
[ "$(value "$TMP/all.prom" timewait_netns_dumps_skipped)" = 0 ] || fail "policy all skipped dumps"
grep -q "^timewait_tcp_sockets{.*netns=\"$OWN\"" "$TMP/busy.prom" || fail "policy busy did not dump the exporter's own namespace"
for mode in busy all; do
  grep '^timewait_scrape_collector_success' "$TMP/$mode.prom" | grep -qv ' 1$' && fail "$mode: a collector failed"
done
# The series of the idle namespace (the budget of docs/netns.md, "What an
# idle namespace reports") and of a quiet one (plus the counters its 3
# connections made non-zero).
for ns in "$(nsname "$NS_COUNT")" "$(nsname $((NS_COUNT - 1)))"; do
  for mode in busy all; do
    echo "  dump: $mode: $(grep -c "netns=\"$ns\"" "$TMP/$mode.prom") series of $ns"
  done
done
idle=$(grep -c "netns=\"$(nsname "$NS_COUNT")\"" "$TMP/busy.prom")
(( idle <= 8 )) || fail "the idle namespace costs $idle series under dump: busy, the budget is 8"
ratio=$(echo "scale=3; $cpu_busy / $cpu_all" | bc)
printf '  dump: all   cpu/scrape=%6s ms  wall/scrape=%5s ms  (%d namespaces dumped)\n' "$cpu_all" "$(wall all)" "$((NS_COUNT + 1))"
printf '  dump: busy  cpu/scrape=%6s ms  wall/scrape=%5s ms  (%d dumped, %d skipped)\n' "$cpu_busy" "$(wall busy)" "$((NS_COUNT + 1 - skipped))" "$skipped"
echo "  => busy / all = $ratio (at most $MAX_RATIO)"
[ "$(echo "$ratio <= $MAX_RATIO" | bc)" = 1 ] || fail "the policy costs $ratio of dumping every namespace"
echo "netns_busy: PASS"
RC=0
