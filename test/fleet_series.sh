#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a fleet of the real exporter costs the Prometheus that scrapes it:
# the exporter (--netns.discover, default configuration but for the include
# filter that keeps it to this test's namespaces) on one node of PODS pod
# network namespaces, each held by a process in a kubelet-shaped cgroup and
# named by a /var/log/pods-shaped directory, a few with TIME_WAIT traffic;
# its scrape is served as NODES nodes (tools/fleetserve: the pods' UIDs and
# names differ per node, nothing else), and Debian's prometheus (in a
# throwaway network namespace, loopback only) scrapes every node with the
# mixin's rules loaded. After ROUNDS scrapes of every node, checks:
#  - every scrape of every node succeeded, Prometheus ingested NODES x the
#    node's series; its head holds them plus its own per-target series and
#    the rules' output, no more;
#  - every recording and alerting rule evaluated without error;
#  - every Overview query returns data, at most 50 series, within 30 s;
#    every Host dashboard query runs on one node;
#  - Prometheus' RSS stays under MAX_RSS_MB (a watchdog kills it above).
# Reports series per node, per pod namespace (idle and busy), head series,
# Prometheus' RSS and the time of the rounds. The series counts are the
# exporter's own, read at run time: they follow any change of its output.
# In `make test`: NODES=30 PODS=110 (about 40 s); `make fleet`: 1,000 x 110.
# Needs root (ip netns, cgroups), go, prometheus, curl, jq.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init fleet_series "${FLEET_TIMEOUT:-300}" 20 "ip netns and cgroups" go ip prometheus curl jq -- "$@"
NODES=${NODES:-30}
PODS=${PODS:-110}
BUSY_PODS=${BUSY_PODS:-2} # pods with outbound TIME_WAIT; one more with inbound
ROUNDS=${ROUNDS:-3}
INTERVAL=${INTERVAL:-5} # seconds between scrapes of a node (and rule evaluations)
MAX_RSS_MB=${MAX_RSS_MB:-4096}
MARK=f1ee7000 # in what differs between nodes; fleetserve puts the node's number there
NS=tw-fs-$$   # the exporter, then fleetserve and Prometheus
NAMESPACES=("$NS")
TW_GRACE=3 # Prometheus writes its head out on TERM
FS_PORT=9968 PROM=http://127.0.0.1:9091
tw_on_failure() {
  for f in exporter fleetserve prometheus; do
    [ -s "$TMP/$f.log" ] && { echo "--- $f log (tail)"; tail -5 "$TMP/$f.log"; }
  done
}

step "build exporter, fleetserve, twgen, dashboard checker"
tw_exporter
go build -o "$TMP/fleetserve" ./tools/fleetserve || fail "fleetserve build"
go build -o "$TMP/twgen" ./tools/twgen || fail "twgen build"
(cd mixin && go build -o "$TMP/dashq" ./dashcheck) || fail "dashboard checker build"
cp deploy/prometheus/rules/timewait.rules.yml "$TMP/rules.yml"

# ---------------------------------------------------------------- one node
step "one node: $PODS pod namespaces, each held by a process in a kubelet-shaped cgroup"
CGROOT=$(awk '$0 ~ / - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
[ -n "$CGROOT" ] || skip "no cgroup2 mount"
CGTEST=$CGROOT/$NS
tw_on_exit() { tw_rm_cgroups "$CGTEST"; }
ip netns add "$NS" || fail "ip netns add $NS"
nsx ip link set lo up
CID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
pod_ns() { printf '%s-%s-p%03d' "$NS" "$MARK" "$1"; }
for i in $(seq "$PODS"); do
  n=$(pod_ns "$i")
  uid=$(printf '%s-%04x-4000-8000-%012x' "$MARK" "$i" $$)
  NAMESPACES+=("$n")
  ip netns add "$n" || fail "ip netns add $n"
  ip -n "$n" link set lo up
  cg=$CGTEST/kubepods/besteffort/pod$uid/$CID
  mkdir -p "$cg" "$TMP/pods/fleet_pod-$MARK-$(printf %03d "$i")_$uid" || fail "mkdir $cg"
  # the pause container: joins the pod's cgroup, then enters the namespace
  sh -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" sleep 3600' sh "$cg" "$n" >>"$TMP/holders.log" 2>&1 &
  PIDS+=($!)
done
step "traffic: $BUSY_PODS pods at 80% of their ephemeral ports towards one destination, inbound TIME_WAIT in one"
for i in $(seq "$BUSY_PODS"); do
  ip netns exec "$(pod_ns "$i")" sysctl -qw net.ipv4.tcp_tw_reuse=0 net.ipv4.ip_local_port_range="40000 40499"
  ip netns exec "$(pod_ns "$i")" "$TMP/twgen" -n 400 -ports 1 -base 7000 -parallel 1 >>"$TMP/twgen.log" 2>&1 ||
    fail "twgen in $(pod_ns "$i")"
done
n=$(pod_ns $((BUSY_PODS + 1)))
ip netns exec "$n" "$TMP/twgen" -side server -n 100 -ports 2 -base 8000 -parallel 1 >>"$TMP/twgen.log" 2>&1 ||
  fail "twgen -side server in $n"

step "the exporter's scrape of the node"
printf 'netns:\n  include: "^%s-"\n' "$NS" >"$TMP/exporter.yml"
ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$FS_PORT --config.file="$TMP/exporter.yml" \
  --netns.discover --netns.pod-log-dir="$TMP/pods" >"$TMP/exporter.log" 2>&1 &
EXPORTER_PID=$!
PIDS+=($!)
for _ in $(seq 100); do nsx curl -sf -o /dev/null http://127.0.0.1:$FS_PORT/-/ready && break; sleep 0.1; done
# a whole scrape: every pod named, every collector of every namespace
# successful (on a loaded machine a scrape may end at its deadline first)
named() { grep -c "^timewait_netns_info{.*pod_name=\"pod-$MARK-[0-9]*\",pod_namespace=\"fleet\",pod_uid=\"$MARK-" "$TMP/node.prom"; }
for _ in $(seq 5); do
  nsx curl -sf -H 'X-Prometheus-Scrape-Timeout-Seconds: 30' -o "$TMP/node.prom" http://127.0.0.1:$FS_PORT/metrics || fail "scrape"
  [ "$(named)" -eq "$PODS" ] && ! grep -q '^timewait_scrape_collector_success{.*} 0$' "$TMP/node.prom" && break
done
kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null
[ "$(named)" -eq "$PODS" ] || fail "$(named) of $PODS pods named in timewait_netns_info, 5 scrapes"
! grep '^timewait_scrape_collector_success{.*} 0$' "$TMP/node.prom" || fail "a collector failed (above), 5 scrapes"
hot=$(awk '/^timewait_destination_ephemeral_port_utilization_ratio\{.*destination="127.0.0.1:7000"/ && $NF >= 0.7' "$TMP/node.prom")
[ "$(grep -c . <<<"$hot")" -eq "$BUSY_PODS" ] || fail "want $BUSY_PODS namespaces above 0.7 towards 127.0.0.1:7000, got: $hot"
# series: the samples of the scrape; per namespace: those with its netns label
PER_NODE=$(grep -vc '^#' "$TMP/node.prom")
awk -v own="$NS" '!/^#/ && match($0, /netns="[^"]*"/) { n[substr($0, RSTART + 7, RLENGTH - 8)]++ }
  END { for (k in n) print (k == own ? "own" : "pod"), k, n[k] }' "$TMP/node.prom" >"$TMP/per_ns"
read -r POD_MIN POD_MAX POD_SUM < <(awk '$1 == "pod" { if (!m || $3 < m) m = $3; if ($3 > x) x = $3; s += $3 }
  END { print m + 0, x + 0, s + 0 }' "$TMP/per_ns")
OWN=$(awk '$1 == "own" { print $3 }' "$TMP/per_ns")
IDLE=$(awk -v pre="$(pod_ns 0 | sed 's/...$//')" -v busy=$((BUSY_PODS + 1)) \
  '$1 == "pod" && substr($2, length(pre) + 1) + 0 > busy { print $3 }' "$TMP/per_ns" | sort -n | uniq -c |
  awk '{ printf "%s%d series in %d", sep, $2, $1; sep = ", " }')
echo "  series per node: $PER_NODE ($(du -k "$TMP/node.prom" | cut -f1) KB): $POD_SUM in $PODS pod namespaces" \
  "(min $POD_MIN, max $POD_MAX), $OWN in the exporter's own, $((PER_NODE - POD_SUM - OWN)) without a netns label"
echo "  idle pod namespaces: $IDLE"
[ "$(awk 'END { print NR }' "$TMP/per_ns")" -eq $((PODS + 1)) ] || fail "not every namespace in the scrape"

# ---------------------------------------------------------------- the fleet
# Prometheus adds 5 series per target (up, scrape_*); its head holds the
# nodes' series, those, and the rules' output.
WANT=$((NODES * (PER_NODE + 5)))
avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
step "the fleet: $NODES nodes x $PER_NODE series = $((NODES * PER_NODE)) series ($avail MB available)"
[ "$MAX_RSS_MB" -lt $((avail * 3 / 4)) ] || fail "MAX_RSS_MB=$MAX_RSS_MB is more than 3/4 of the $avail MB available"
# Prometheus 2.42 took 4.3 KB of RSS per head series at 100 x 110 pods
# (3,346 MB for 774,400 series, 67,000 of them the rules' output: one per
# namespace for each instance_netns: and pod: rule); at 5 KB each, refuse a
# fleet that would pass MAX_RSS_MB before starting it.
per_ns_rules=$(grep -cE '^ *record: *(instance_netns|pod):' "$TMP/rules.yml")
need=$(( (WANT + NODES * (PODS + 1) * per_ns_rules) * 5 / 1024 ))
[ "$need" -lt "$MAX_RSS_MB" ] ||
  fail "$WANT series of the nodes and their rules need about $need MB, above MAX_RSS_MB=$MAX_RSS_MB: lower NODES or raise MAX_RSS_MB"
ip netns exec "$NS" "$TMP/fleetserve" -listen 127.0.0.1:$FS_PORT -in "$TMP/node.prom" -nodes "$NODES" -mark "$MARK" >"$TMP/fleetserve.log" 2>&1 &
PIDS+=($!)
{
  cat <<EOF
global: {scrape_interval: ${INTERVAL}s, scrape_timeout: ${INTERVAL}s, evaluation_interval: ${INTERVAL}s}
rule_files: ["$TMP/rules.yml"]
scrape_configs:
  - job_name: timewait
    relabel_configs: # node-N is the target's name: fleetserve's node parameter and the instance
      - {source_labels: [__address__], target_label: __param_node}
      - {source_labels: [__param_node], target_label: instance}
      - {target_label: __address__, replacement: "127.0.0.1:$FS_PORT"}
    static_configs:
      - targets:
EOF
  for i in $(seq 0 $((NODES - 1))); do printf '        - node-%04d\n' "$i"; done
} >"$TMP/prometheus.yml"
start=$(date +%s)
GOMEMLIMIT=$((MAX_RSS_MB * 3 / 4))MiB ip netns exec "$NS" prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address=${PROM#http://} >"$TMP/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=($!)
rss() { awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$PROM_PID/status" 2>/dev/null; }
# the watchdog: Prometheus above MAX_RSS_MB is killed, and the test fails
(
  while kill -0 "$PROM_PID" 2>/dev/null; do
    r=$(rss)
    if [ "${r:-0}" -gt "$MAX_RSS_MB" ]; then
      echo "watchdog: prometheus RSS $r MB > $MAX_RSS_MB MB, killed" >"$TMP/watchdog"
      kill -9 "$PROM_PID"
    fi
    sleep 0.5
  done
) &
PIDS+=($!)
q() { nsx curl -sf -G --data-urlencode "query=$1" "$PROM/api/v1/query" | jq -r "${2:-.data.result[0].value[1] // 0}"; }
step "$ROUNDS scrapes of every node, every ${INTERVAL}s"
rounds=0
until [ "$rounds" -ge "$ROUNDS" ]; do
  [ -f "$TMP/watchdog" ] && fail "$(cat "$TMP/watchdog")"
  kill -0 "$PROM_PID" 2>/dev/null || fail "prometheus exited"
  sleep 2
  rounds=$(q 'min(count_over_time(up{job="timewait"}[1h])) and count(up{job="timewait"}) == '"$NODES")
  rounds=${rounds:-0} # a query that timed out: not yet
  echo "  $(( $(date +%s) - start )) s: $rounds rounds, RSS $(rss) MB"
done
ELAPSED=$(( $(date +%s) - start ))
# an evaluation of every rule group that began after the last round (a
# group's last evaluation time is set when it ends, to when it began)
rounds_done=$(date +%s)
until nsx curl -sf "$PROM/metrics" | awk -v t="$rounds_done" '
  $1 ~ /^prometheus_rule_group_last_evaluation_timestamp_seconds/ { n++; if ($2 + 0 < t) old++ }
  END { exit !(n > 0 && !old) }'; do
  [ -f "$TMP/watchdog" ] && fail "$(cat "$TMP/watchdog")"
  sleep 1
done
echo "  every rule group evaluated after the last round: $(( $(date +%s) - rounds_done )) s later"

step "every node up, all of its series ingested"
up=$(q 'count(min_over_time(up{job="timewait"}[1h]) == 1)')
[ "$up" = "$NODES" ] || fail "$up of $NODES nodes answered every scrape"
samples=$(q 'sum(scrape_samples_scraped{job="timewait"})')
[ "$samples" = $((NODES * PER_NODE)) ] || fail "the last scrapes brought $samples samples, want $NODES x $PER_NODE"
HEAD=$(nsx curl -sf "$PROM/metrics" | awk '$1 == "prometheus_tsdb_head_series" { printf "%d", $2 }')
RULES=0
for r in $(sed -n 's/^ *record: *//p' "$TMP/rules.yml") ALERTS ALERTS_FOR_STATE; do
  n=$(q "count($r)")
  echo "  $r: $n series"
  RULES=$((RULES + n))
done
# an alert that went from pending to firing left its pending series in the head
RULES_MAX=$((RULES + $(q 'count(ALERTS)')))
echo "  head series: $HEAD = $NODES x ($PER_NODE + 5 per target) + $((HEAD - WANT)) (the rules' output: $RULES now)"
[ "${HEAD:-0}" -ge "$WANT" ] && [ "$HEAD" -le $((WANT + RULES_MAX)) ] ||
  fail "head series $HEAD, want $WANT to $((WANT + RULES_MAX))"

echo "  prometheus RSS: $(rss) MB; the rounds took $ELAPSED s"

step "every rule evaluated without error"
nsx curl -sf "$PROM/api/v1/rules" >"$TMP/rules.json" || fail "/api/v1/rules"
bad=$(jq -r '.data.groups[].rules[] | select(.health != "ok") | "\(.name): \(.health) \(.lastError)"' "$TMP/rules.json")
[ -z "$bad" ] || fail "rules in error: $bad"
echo "  $(jq '[.data.groups[].rules[]] | length' "$TMP/rules.json") rules ok; evaluation time per group and of the slowest rules:"
nsx curl -sf "$PROM/metrics" | awk -F'[{}" ]+' '$1 == "prometheus_rule_group_iterations_missed_total" { missed[$3] = $NF }
  END { for (g in missed) print g, missed[g] }' | sed 's/.*;//' | sort >"$TMP/missed"
jq -r '.data.groups[] | "\(.name) \(.evaluationTime * 1000 | floor)"' "$TMP/rules.json" | sort | join - "$TMP/missed" |
  awk '{ printf "    %s: %d ms, %d iterations missed\n", $1, $2, $3 }'
jq -r '[.data.groups[].rules[]] | sort_by(-.evaluationTime) | .[:3][] | "    \(.name // .record): \(.evaluationTime * 1000 | floor) ms"' "$TMP/rules.json"
firing=$(jq -r '[.data.groups[].rules[] | select(.type == "alerting") | .alerts[] | "\(.labels.alertname) (\(.state))"] | group_by(.) | map("\(.[0]) x\(length)") | join(", ")' "$TMP/rules.json")
echo "  alerts: ${firing:-none}"

step "every Overview query at most 50 series, every Host query runs (node-0001)"
# each query within 30 s, Grafana's default data source timeout
dq() { nsx "$TMP/dashq" query -dir "$ROOT/dashboards" -prometheus "$PROM" -timeout 30s -var job=timewait -var __rate_interval=1m -window 30s "$@"; }
dq -only timewait-overview.json -max-series 50 >"$TMP/overview.log" 2>&1 ||
  { cat "$TMP/overview.log"; fail "an Overview query failed, returned nothing or more than 50 series"; }
sed 's/^/  /' "$TMP/overview.log"
dq -only timewait-host.json -allow-empty -var instance=node-0001 >"$TMP/host.log" 2>&1 ||
  { cat "$TMP/host.log"; fail "a Host dashboard query failed"; }
tail -1 "$TMP/host.log"

[ -f "$TMP/watchdog" ] && fail "$(cat "$TMP/watchdog")"
PEAK=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$PROM_PID/status")
if grep -E 'level=(warn|error)' "$TMP/prometheus.log" | grep -iE 'rule|query|scrape'; then
  fail "prometheus logged rule, query or scrape errors (above)"
fi
RC=0
echo "fleet_series: ok ($NODES nodes x $PODS pods: $PER_NODE series per node, $POD_MIN-$POD_MAX per pod namespace;" \
  "head $HEAD series; prometheus RSS $(rss) MB, peak $PEAK MB; $ROUNDS rounds in $ELAPSED s)"
