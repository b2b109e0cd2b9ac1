#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Overview at fleet scale, on a real Prometheus: synthetic history of
# 1,000 hosts (two network namespaces each, every metric the recording rules
# and the Overview read) written with `promtool tsdb create-blocks-from
# openmetrics`, then Debian's prometheus (in a throwaway network namespace,
# loopback only) evaluates the mixin's recording rules on it, and:
#  - every Overview query runs and returns at most 50 series (the count per
#    panel is printed); every Host dashboard query runs without error;
#  - the key panels show what the history was built to show: the worst host
#    (host-0777, netns b, 97%) by name, the worst bucket use (host-0123),
#    the hosts above the port warning (5), the fleet's TIME_WAIT sum, the
#    failing collectors (3), the worst-hosts and worst-namespaces tables
#    (20 rows, the worst first), the pod tables (the pod nearest exhaustion
#    and its destination, the pod with the most TIME_WAIT, named by
#    kube_pod_info or by the exporter's own pod labels), and the sysctls of
#    the worst namespace (host-0777 of cluster "eu") not mixed with those
#    of host-0777 of a second cluster, "us";
#  - the Host dashboard on host-0777 with both clusters selected shows two
#    hosts, not one merged: usable ports and TIME_WAIT per cluster, and in
#    the per-namespace table each cluster's netns b with its own TIME_WAIT,
#    pod and port utilisation.
# The queries are taken from the rendered dashboards/*.json, not retyped.
# Needs root (ip netns), go, prometheus, promtool, jq, curl. About 1 minute.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init fleet_dashboards 240 20 "ip netns" go ip prometheus promtool jq curl -- "$@"
NS=tw-fleet-$$
NAMESPACES=("$NS")
TW_GRACE=0.5
PROM=http://127.0.0.1:9090
HOSTS=1000

step "build the dashboard checker, render the rules"
(cd mixin && go build -o "$TMP/dashq" ./dashcheck) || fail "dashboard checker build"
cp deploy/prometheus/rules/timewait.rules.yml "$TMP/rules.yml"

# ---------------------------------------------------------------- history
# 16 samples 2 minutes apart, ending a minute ago, for every series. Values
# are constant except the counters. Planted: host-0777 netns b at 0.97 (the
# worst), host-0100/0200/0300/0400 netns a at 0.75 (above the warning),
# host-0123 netns a at 220000 of 262144 TIME_WAIT buckets (the worst bucket
# use) overflowing 6 a minute, host-0005/0006/0007 with the netstat
# collector failing.
step "synthetic history: $HOSTS hosts"
now=$(date +%s)
awk -v hosts=$HOSTS -v end=$((now - 60)) -v n=16 -v step=120 '
function h(i) { return sprintf("host-%04d", i) }
function uid(i) { return sprintf("%08d-0000-4000-8000-%012d", i, i) }
function pod(i) { return sprintf("pod-%04d", i) }
function family(name, type) { printf "# TYPE %s %s\n", name, type }
function series(name, labels, v0, dv,   k) {
  for (k = 0; k < n; k++) printf "%s{cluster=\"%s\",%s} %s %d\n", name, cluster, labels, v0 + dv * k, end - (n - 1 - k) * step
}
function each_ns(name, va, vb,   i, l) {
  for (i = 0; i < hosts; i++) {
    l = "job=\"timewait\",instance=\"" h(i) "\",netns="
    series(name, l "\"a\"", va[i], 0); series(name, l "\"b\"", vb[i], 0)
  }
}
BEGIN {
  cluster = "eu"
  for (i = 0; i < hosts; i++) {
    ra[i] = 0.05 + (i % 50) / 100; rb[i] = 0.1
    twa[i] = 1000 + i; twb[i] = 500; lim[i] = 262144
  }
  ra[100] = ra[200] = ra[300] = ra[400] = 0.75; rb[777] = 0.97; twa[123] = 220000; twb[42] = 9000
  family("timewait_ephemeral_port_utilization_max_ratio", "gauge"); each_ns("timewait_ephemeral_port_utilization_max_ratio", ra, rb)
  family("timewait_sockstat_tw_sockets", "gauge"); each_ns("timewait_sockstat_tw_sockets", twa, twb)
  family("timewait_sysctl_tcp_max_tw_buckets", "gauge"); each_ns("timewait_sysctl_tcp_max_tw_buckets", lim, lim)
  split("tcp_tw_reuse=2 tcp_timestamps=1 tcp_fin_timeout_seconds=60 ip_local_port_range_start=32768 ip_local_port_range_end=60999", kv, " ")
  for (j in kv) {
    split(kv[j], p, "="); for (i = 0; i < hosts; i++) c[i] = p[2]
    family("timewait_sysctl_" p[1], "gauge"); each_ns("timewait_sysctl_" p[1], c, c)
  }
  for (i = 0; i < hosts; i++) c[i] = 28232
  family("timewait_ephemeral_ports_usable", "gauge"); each_ns("timewait_ephemeral_ports_usable", c, c)
  family("timewait_time_wait_sockets", "gauge")
  for (i = 0; i < hosts; i++) for (ns = 0; ns < 2; ns++) {
    l = "job=\"timewait\",instance=\"" h(i) "\",netns=\"" (ns ? "b" : "a") "\",direction="
    series("timewait_time_wait_sockets", l "\"outbound\"", 300, 0)
    series("timewait_time_wait_sockets", l "\"inbound\"", 200, 0)
    series("timewait_time_wait_sockets", l "\"other\"", 0, 0)
  }
  split("tcpext_tw tcpext_tw_recycled tcpext_tcp_time_wait_overflow", ctr, " ")
  for (j in ctr) {
    family("timewait_" ctr[j], "counter")
    for (i = 0; i < hosts; i++) for (ns = 0; ns < 2; ns++) {
      d = ctr[j] == "tcpext_tw" ? 120 * (i % 10) : 0
      if (ctr[j] == "tcpext_tcp_time_wait_overflow" && i == 123 && ns == 0) d = 12
      series("timewait_" ctr[j] "_total", "job=\"timewait\",instance=\"" h(i) "\",netns=\"" (ns ? "b" : "a") "\"", 0, d)
    }
  }
  family("timewait_scrape_collector_success", "gauge")
  split("sockets sockstat netstat sysctl", col, " ")
  for (i = 0; i < hosts; i++) for (j = 1; j <= 4; j++)
    series("timewait_scrape_collector_success", "job=\"timewait\",instance=\"" h(i) "\",collector=\"" col[j] "\"",
           (col[j] == "netstat" && i >= 5 && i <= 7) ? 0 : 1, 0)
  # Kubernetes: netns b of every host belongs to a pod; kube-state-metrics knows
  # the pods of even hosts, the odd ones are named by the kubelet log dir
  family("timewait_netns_info", "gauge")
  for (i = 0; i < hosts; i++) {
    l = "job=\"timewait\",instance=\"" h(i) "\",netns="
    series("timewait_netns_info", l "\"a\",pid=\"1\",comm=\"systemd\"", 1, 0)
    series("timewait_netns_info", l "\"b\",pod_uid=\"" uid(i) "\"" (i % 2 ? ",pod_namespace=\"logs\",pod_name=\"" pod(i) "\"" : ""), 1, 0)
  }
  family("kube_pod_info", "gauge")
  for (i = 0; i < hosts; i += 2)
    series("kube_pod_info", "job=\"kube-state-metrics\",namespace=\"shop\",pod=\"" pod(i) "\",uid=\"" uid(i) "\",node=\"" h(i) "\"", 1, 0)
  family("timewait_destination_ephemeral_port_utilization_ratio", "gauge")
  for (i = 0; i < hosts; i++)
    series("timewait_destination_ephemeral_port_utilization_ratio", "job=\"timewait\",instance=\"" h(i) "\",netns=\"b\",destination=\"10.96.0." (i % 250) ":5432\",name=\"\"", rb[i], 0)
  family("timewait_exporter_build_info", "gauge")
  for (i = 0; i < hosts; i++) series("timewait_exporter_build_info", "job=\"timewait\",instance=\"" h(i) "\",version=\"test\"", 1, 0)
  # a second cluster reuses the name host-0777, netns b (not among the
  # worst): the row of the worst namespace must show the numbers of "eu"
  # alone, and the Host dashboard, both clusters selected, two hosts
  cluster = "us"; l = "job=\"timewait\",instance=\"host-0777\""
  series("timewait_exporter_build_info", l ",version=\"test\"", 1, 0)
  series("timewait_ephemeral_port_utilization_max_ratio", l ",netns=\"b\"", 0.2, 0)
  series("timewait_ephemeral_ports_usable", l ",netns=\"b\"", 60000, 0)
  series("timewait_sockstat_tw_sockets", l ",netns=\"b\"", 7, 0)
  print "# EOF"
}' >"$TMP/fleet.om" || fail "history generator"
echo "$(grep -vc '^#' "$TMP/fleet.om") samples, $(du -m "$TMP/fleet.om" | cut -f1) MB"
mkdir -p "$TMP/prom"
timeout 120 promtool tsdb create-blocks-from openmetrics "$TMP/fleet.om" "$TMP/prom" >"$TMP/backfill.log" 2>&1 ||
  { tail -5 "$TMP/backfill.log"; fail "promtool tsdb create-blocks-from openmetrics"; }
rm -f "$TMP/fleet.om"

# ---------------------------------------------------------------- prometheus
step "prometheus on the history, recording rules every 2 s"
ip netns add "$NS" || fail "ip netns add"
nsx ip link set lo up
cat >"$TMP/prometheus.yml" <<EOF
global:
  evaluation_interval: 2s
rule_files: ["$TMP/rules.yml"]
EOF
ip netns exec "$NS" prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address=127.0.0.1:9090 >"$TMP/prometheus.log" 2>&1 &
PIDS+=($!)
q() { # q EXPR: the instant query's result array
  nsx curl -sf -G --data-urlencode "query=$1" "$PROM/api/v1/query"
}
for _ in $(seq 120); do
  n=$(q 'count(instance:timewait_tcpext_tw:rate5m)' | jq -r '.data.result[0].value[1] // 0' 2>/dev/null)
  [ "${n:-0}" = "$HOSTS" ] && break
  sleep 0.5
done
[ "${n:-0}" = "$HOSTS" ] || { tail -5 "$TMP/prometheus.log"; fail "recording rules did not cover $HOSTS hosts (got ${n:-none})"; }
sleep 5 # a few evaluations: range queries over the recorded series

# ---------------------------------------------------------------- every query
step "every recording rule returns what its inputs say"
for r in $(sed -n 's/^ *record: *//p' "$TMP/rules.yml"); do
  n=$(q "count($r)" | jq -r '.data.result[0].value[1] // 0')
  echo "  $r: $n series"
  [ "$n" -gt 0 ] || fail "recording rule $r has no series"
done

step "every Overview query, at most 50 series each"
dq() { nsx "$TMP/dashq" query -dir "$ROOT/dashboards" -prometheus "$PROM" -var job=timewait -var __rate_interval=5m -window 30s "$@"; }
dq -only timewait-overview.json -max-series 50 >"$TMP/overview.log" 2>&1
rc=$?
sed 's/^/  /' "$TMP/overview.log"
[ "$rc" -eq 0 ] || fail "an Overview query failed, returned nothing or more than 50 series (above)"
step "every Host dashboard query runs (host-0777)"
dq -only timewait-host.json -allow-empty -var instance=host-0777 >"$TMP/host.log" 2>&1 ||
  { cat "$TMP/host.log"; fail "a Host dashboard query failed"; }
tail -1 "$TMP/host.log"

# ---------------------------------------------------------------- key panels
step "key panels show the planted values"
# panel EXPR of panel TITLE (refId REF) of dashboard $DASH (the Overview;
# the Host dashboard on $INSTANCE), variables substituted, every cluster
DASH=timewait-overview.json INSTANCE=.+
panel() {
  "$TMP/dashq" expr -dir dashboards -dashboard "$DASH" -title "$1" -ref "${2:-A}" \
    -var job=timewait -var instance="$INSTANCE" -var __rate_interval=5m -var __range=1h
}
check() { # check TITLE REF JQ WANT
  local e got
  e=$(panel "$1" "$2")
  [ -n "$e" ] || fail "no panel '$1' ($2) in $DASH"
  got=$(q "$e" | jq -rc "$3")
  [ "$got" = "$4" ] || fail "panel '$1' ($2): got $got, want $4 (query: $e)"
  echo "  ok $1 ($2): $got"
}
check 'Worst host: ephemeral ports' A '[.data.result[] | [.metric.instance, .value[1]]]' '[["host-0777","0.97"]]'
check 'Worst host: TIME_WAIT buckets' A '[.data.result[] | [.metric.instance, (.value[1] | tonumber * 10000 | floor)]]' '[["host-0123",8392]]'
check 'Hosts above the port warning' A '[.data.result[].value[1]]' '["5"]'
# sum over hosts: (1000 + i) in a, 500 in b, host-0123 a at 220000, host-0042 b
# at 9000, host-0777 of "us" 7
check 'TIME_WAIT sockets' A '[.data.result[].value[1]]' "[\"$(( (1000 * HOSTS + HOSTS * (HOSTS - 1) / 2) + 500 * HOSTS - 1123 + 220000 + 8500 + 7 ))\"]"
check 'Collectors failing' A '[.data.result[].value[1]]' '["3"]'
# 12 overflows every 2 minutes on host-0123: 0.1/s (rate() extrapolates: a range)
check 'Closed without TIME_WAIT' A '[.data.result[].value[1] | tonumber | . > 0.08 and . < 0.12]' '[true]'
check 'Worst hosts' A '[.data.result | length, (sort_by(.value[1] | -tonumber) | .[0] | .metric.instance, .value[1])]' '[20,"host-0777","0.97"]'
check 'Worst hosts' B '[.data.result | length]' '[20]'
check 'Worst namespaces' A '[.data.result | length, (sort_by(.value[1] | -tonumber) | .[0] | .metric.instance, .metric.netns)]' '[20,"host-0777","b"]'
# pods: host-0777's (odd: named from the log dir) nearest exhaustion, towards
# 10.96.0.27:5432; host-0042's (even: named by kube_pod_info) holds the most
top='sort_by(.value[1] | -tonumber) | .[0] | .metric'
check 'Pods nearest exhaustion' A "[.data.result | length, ($top | .namespace, .pod, .instance)]" '[20,"logs","pod-0777","host-0777"]'
check 'Pods nearest exhaustion' B '[.data.result | length]' '[20]'
check 'Busiest destinations of pods' A "[.data.result | length, ($top | .pod, .destination)]" '[20,"pod-0777","10.96.0.27:5432"]'
check 'Pods holding the most TIME_WAIT' A "[.data.result | length, ($top | .namespace, .pod), (sort_by(.value[1] | -tonumber) | .[0].value[1])]" '[20,"shop","pod-0042","9000"]'
check 'TIME_WAIT sysctls of the 20 worst namespaces' A '[.data.result | length]' '[20]'
# host-0777 netns b of "eu" with its own usable ports (a query by instance
# and netns alone would merge "us"'s into it: 60000)
check 'TIME_WAIT sysctls of the 20 worst namespaces' I '[.data.result | length, (map(select(.metric.instance == "host-0777")) | sort_by(.metric.cluster) | map([.metric.cluster, .value[1]]))]' \
  '[20,[["eu","28232"]]]'

step "Host dashboard, both clusters selected: host-0777 of \"eu\" and of \"us\" apart"
# A query by netns alone, or summed with no by, merges the two: one value,
# us's TIME_WAIT counted in eu's row and named by eu's pod.
DASH=timewait-host.json INSTANCE=host-0777
byCluster='map([.metric.cluster, .value[1]])'
check 'Usable ephemeral ports' A "[.data.result | sort_by(.metric.cluster) | $byCluster]" '[[["eu","28232"],["us","60000"]]]'
check 'TIME_WAIT sockets' A "[.data.result | sort_by(.metric.cluster) | $byCluster]" '[[["eu","2277"],["us","7"]]]'
nsB='map(select(.metric.netns == "b")) | sort_by(.metric.cluster)'
check 'Per-namespace breakdown' A "[.data.result | $nsB | map([.metric.cluster, .value[1], .metric.pod])]" '[[["eu","500","logs/pod-0777"],["us","7",null]]]'
check 'Per-namespace breakdown' C "[.data.result | $nsB | $byCluster]" '[[["eu","0.97"],["us","0.2"]]]'

if grep -E 'level=(warn|error)' "$TMP/prometheus.log" | grep -iE 'rule|query'; then
  fail "prometheus logged rule or query errors (above)"
fi
RC=0
echo "fleet_dashboards: ok ($HOSTS hosts)"
