#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end for --netns.discover, with real parts: the built exporter runs
# as nobody with only CAP_SYS_ADMIN and CAP_SYS_PTRACE (ambient,
# no_new_privs), in a named namespace of its own; around it three named
# namespaces (ip netns add) with distinct sysctls and 100/2000/5000 TIME_WAIT
# sockets (tools/twgen), and one namespace held only by a process (unshare -n).
# Asserts over HTTP:
#  (a) each namespace appears exactly once with the right netns label, its
#      own TIME_WAIT count (= ss inside it) and its own sysctls; promtool
#      check metrics passes;
#  (b) 30 scrapes while one namespace is deleted: every answer is HTTP 200,
#      every collector of every namespace succeeds, the deleted one goes;
#  (c) without the capabilities: still HTTP 200, the foreign namespaces'
#      collectors report 0 and the unreadable processes are counted.
# Needs root, go, ip, ss, unshare, nsenter, setpriv, curl, promtool (optional).
# Bounded (timeout 180 s); cleans up every namespace and process on any exit.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init netns_e2e 180 10 "ip netns and setns" go ip ss unshare nsenter setpriv curl sysctl -- "$@"

R=$((RANDOM % 100000))
P=tw-t-e2e$R-                 # prefix of our named namespaces
OWN=${P}own                   # where the exporter runs
COMM=twh$R                    # comm of the process holding the unnamed one
chmod 755 "$TMP"
TW_GRACE=0.3

tw_on_failure() { echo "--- exporter logs"; tail -n 30 "$TMP"/exporter*.log 2>/dev/null; }
addns() { # addns NAME SYSCTL... : named namespace, lo up, sysctls
  local n=$1; shift
  ip netns add "$n" || fail "ip netns add $n"
  NAMESPACES+=("$n")
  ip -n "$n" link set lo up || fail "lo up in $n"
  [ $# -eq 0 ] || ip netns exec "$n" sysctl -qw "$@" || fail "sysctl in $n"
}
# val FILE METRIC{labels} : the value of one series
val() { awk -v m="$2" '$1 == m { print $2 }' "$1"; }

step "build exporter and twgen"
CGO_ENABLED=0 go build -o "$TMP/timewait_exporter" . || fail "go build"
go build -o "$TMP/twgen" ./tools/twgen || fail "go build twgen"
cp "$(command -v sleep)" "$TMP/$COMM"

step "namespaces: three named, one held by a process"
addns "$OWN"
declare -A LOAD=([a]=100 [b]=2000 [c]=5000) FIN=([a]=31 [b]=32 [c]=33)
for s in a b c; do
  addns "$P$s" net.ipv4.tcp_tw_reuse=0 net.ipv4.tcp_max_tw_buckets=262144 "net.ipv4.tcp_fin_timeout=${FIN[$s]}"
done
unshare -n "$TMP/$COMM" 300 &
HOLDER=$!
PIDS+=("$HOLDER")
for _ in $(seq 100); do [ "$(cat /proc/$HOLDER/comm 2>/dev/null)" = "$COMM" ] && break; sleep 0.05; done
[ "$(cat /proc/$HOLDER/comm)" = "$COMM" ] || fail "holder process did not start"
nsenter -t "$HOLDER" -n ip link set lo up
nsenter -t "$HOLDER" -n sysctl -qw net.ipv4.tcp_tw_reuse=0 net.ipv4.tcp_fin_timeout=34
HINO=$(stat -L -c %i /proc/$HOLDER/ns/net)
HLABEL=inode:$HINO

step "TIME_WAIT loads 100/2000/5000 and 50"
for s in a b c; do
  ip netns exec "$P$s" "$TMP/twgen" -n "${LOAD[$s]}" -ports 20 -base 20000 2>>"$TMP/twgen.log" &
done
nsenter -t "$HOLDER" -n "$TMP/twgen" -n 50 -ports 5 -base 20000 2>>"$TMP/twgen.log" &
wait %2 %3 %4 %5 2>/dev/null
cat "$TMP/twgen.log"

# detail: every series of these namespaces, dumped whether busy or idle,
# to compare with ss (an idle one's few series: TestIdleNamespaceSeriesBudget).
cat >"$TMP/config.yml" <<EOF
netns:
  include: "^${P}|^${COMM}\$"
  detail: "^${P}|^${COMM}\$"
EOF
chmod 644 "$TMP/config.yml"

# start_exporter LOG SETPRIV-ARGS... : run the exporter as nobody in $OWN
start_exporter() {
  local log=$1; shift
  ip netns exec "$OWN" setpriv --reuid=nobody --regid=nogroup --clear-groups "$@" \
    "$TMP/timewait_exporter" --netns.discover --config.file="$TMP/config.yml" \
    --web.listen-address=127.0.0.1:9966 --log.level=debug >"$TMP/$log.log" 2>&1 &
  EXPORTER=$!
  PIDS+=("$EXPORTER")
  for _ in $(seq 100); do
    ip netns exec "$OWN" curl -fsS -o /dev/null http://127.0.0.1:9966/-/healthy 2>/dev/null && return 0
    sleep 0.1
  done
  fail "exporter did not come up ($log)"
}
# scrape FILE : one scrape; prints the HTTP status
scrape() { ip netns exec "$OWN" curl -sS -o "$1" -w '%{http_code}' http://127.0.0.1:9966/metrics; }

step "(a) exporter as nobody with CAP_SYS_ADMIN + CAP_SYS_PTRACE only"
CAPS=(--inh-caps=-all,+sys_admin,+sys_ptrace --ambient-caps=-all,+sys_admin,+sys_ptrace
  --bounding-set=-all,+sys_admin,+sys_ptrace --no-new-privs)
start_exporter exporter "${CAPS[@]}"
grep -E '^Cap(Eff|Bnd)|^NoNewPrivs|^Uid' "/proc/$(pgrep -P "$EXPORTER" -f timewait_exporter || echo "$EXPORTER")/status" 2>/dev/null | tr '\n' ' '; echo
declare -A SS
for s in a b c; do SS[$P$s]=$(ip netns exec "$P$s" ss -Htan state time-wait | wc -l); done
SS[$HLABEL]=$(nsenter -t "$HOLDER" -n ss -Htan state time-wait | wc -l)
code=$(scrape "$TMP/m1")
[ "$code" = 200 ] || fail "scrape: HTTP $code"
if command -v promtool >/dev/null; then
  promtool check metrics <"$TMP/m1" || fail "promtool check metrics"
fi
declare -A WANTFIN=([${P}a]=31 [${P}b]=32 [${P}c]=33 [$HLABEL]=34)
for l in "${P}a" "${P}b" "${P}c" "$HLABEL"; do
  n=$(grep -c "^timewait_netns_info{.*netns=\"$l\"" "$TMP/m1")
  [ "$n" = 1 ] || fail "$l: $n info series, want 1"
  tw=0
  for fam in ipv4 ipv6; do
    v=$(val "$TMP/m1" "timewait_tcp_sockets{family=\"$fam\",netns=\"$l\",state=\"time_wait\"}")
    tw=$((tw + ${v:-0}))
  done
  fin=$(val "$TMP/m1" "timewait_sysctl_tcp_fin_timeout_seconds{netns=\"$l\"}")
  ok=$(grep -c "^timewait_scrape_collector_success{collector=\"[a-z]*\",netns=\"$l\"} 1$" "$TMP/m1")
  echo "$l: time_wait=$tw (ss: ${SS[$l]}) tcp_fin_timeout=$fin collectors_ok=$ok"
  [ "$tw" = "${SS[$l]}" ] || fail "$l: time_wait $tw, ss says ${SS[$l]}"
  [ "$fin" = "${WANTFIN[$l]}" ] || fail "$l: tcp_fin_timeout $fin, want ${WANTFIN[$l]}"
  [ "$ok" = 4 ] || fail "$l: $ok of 4 collectors succeeded"
done
grep -q "^timewait_netns_info{comm=\"$COMM\",inode=\"$HINO\",netns=\"$HLABEL\",pid=\"$HOLDER\",pod_name=\"\",pod_namespace=\"\",pod_uid=\"\"} 1$" "$TMP/m1" ||
  fail "info of the process-held namespace: $(grep "netns=\"$HLABEL\"" "$TMP/m1" | grep info)"
grep -q "^timewait_netns_info{comm=\"timewait_export\",.*netns=\"$OWN\"" "$TMP/m1" || fail "own namespace $OWN not labelled by its name"
[ "$(grep -c '^timewait_netns_info{' "$TMP/m1")" = 5 ] || fail "want 5 namespaces (4 + own): $(grep '^timewait_netns_info' "$TMP/m1")"
grep '^timewait_netns_' "$TMP/m1" | grep -v _info

step "(b) 30 scrapes, ${P}b deleted at the 10th"
gone=0
for i in $(seq 1 30); do
  if [ "$i" = 10 ]; then
    ip netns del "${P}b" && gone=1
  fi
  code=$(scrape "$TMP/loop")
  [ "$code" = 200 ] || fail "scrape $i: HTTP $code"
  bad=$(grep '^timewait_scrape_collector_success{' "$TMP/loop" | grep -v ' 1$')
  [ -z "$bad" ] || fail "scrape $i: failed collectors: $bad"
  for l in "${P}a" "${P}c" "$HLABEL"; do
    grep -q "^timewait_netns_info{.*netns=\"$l\"" "$TMP/loop" || fail "scrape $i: $l missing"
  done
  if [ "$gone" = 1 ] && grep -q "netns=\"${P}b\"" "$TMP/loop"; then
    fail "scrape $i: ${P}b still reported after deletion"
  fi
done
echo "30 scrapes: all HTTP 200, no collector failed"

step "(c) exporter as nobody without capabilities"
kill "$EXPORTER"; wait "$EXPORTER" 2>/dev/null
start_exporter exporter-nocaps --inh-caps=-all --bounding-set=-all --no-new-privs
code=$(scrape "$TMP/m3")
[ "$code" = 200 ] || fail "scrape without capabilities: HTTP $code"
v=$(val "$TMP/m3" "timewait_scrape_collector_success{collector=\"sockets\",netns=\"${P}a\"}")
[ "$v" = 0 ] || fail "without CAP_SYS_ADMIN ${P}a should report failed collectors, got '$v'"
v=$(val "$TMP/m3" "timewait_scrape_collector_success{collector=\"sockets\",netns=\"$OWN\"}")
[ "$v" = 1 ] || fail "without capabilities the own namespace should still succeed, got '$v'"
v=$(val "$TMP/m3" timewait_netns_unreadable_processes)
[ "${v:-0}" -gt 0 ] || fail "without CAP_SYS_PTRACE root's processes should be unreadable"
grep -q "netns=\"$HLABEL\"" "$TMP/m3" && fail "without CAP_SYS_PTRACE the root-held namespace cannot be found"
grep -q 'operation not permitted' "$TMP/exporter-nocaps.log" || fail "EPERM not logged"
echo "without capabilities: HTTP 200, foreign namespaces report failure, unreadable processes: $v"

RC=0
echo "netns_e2e: ok"
