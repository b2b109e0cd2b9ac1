#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pods named end to end, on one machine: two network namespaces, each held by
# processes placed in a cgroup shaped as the kubelet makes a pod's (systemd
# driver, burstable; cgroupfs driver, besteffort) under the cgroup2 mount,
# each running out of ephemeral ports towards a loopback destination. The
# real exporter (--netns.discover, --netns.pod-log-dir on a
# /var/log/pods-shaped directory that knows pod 2 only) and Debian's
# Prometheus, with the mixin's rules and a kube_pod_info series for pod 1
# served by the test (as kube-state-metrics would), and:
#  - timewait_netns_info carries each namespace's pod UID (and pod 2's name);
#  - instance_netns:timewait_pod:info names pod 1 from kube_pod_info (the
#    join by UID) and pod 2 from the exporter's labels;
#  - the Overview's pod table lists both, the Host dashboard's namespace
#    table names each namespace's pod, and TimeWaitEphemeralPortsExhausting
#    fires for both with a description that names the pod;
#  - when kube-state-metrics forgets pod 1, the Host table names it by UID.
# Needs root (ip netns, cgroups), go, prometheus, curl, jq. About 30 s.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init pods_e2e 180 20 "ip netns and cgroups" go ip prometheus curl jq -- "$@"
NS=tw-pods-$$ # exporter and Prometheus
P1=$NS-1 P2=$NS-2
NAMESPACES=("$NS" "$P1" "$P2")
TW_GRACE=0.5
EXPORTER_PORT=9966 KSM_PORT=9101 PROM_PORT=9090
tw_pod_cgroups tw-pods

step "build exporter, rules, twgen, alerthook, dashboard checker"
tw_exporter
tw_rules "{ _config+:: { ephemeralPorts+: { warningFor: '5s', criticalFor: '5s' } } }"
go build -o "$TMP/twgen" ./tools/twgen || fail "twgen build"
go build -o "$TMP/alerthook" ./tools/alerthook || fail "alerthook build"
(cd mixin && go build -o "$TMP/dashq" ./dashcheck) || fail "dashboard checker build"
H=$TMP/alerthook

step "namespaces $P1, $P2: held by processes in pod cgroups, 100 ephemeral ports each"
for n in "$NS" "$P1" "$P2"; do
  ip netns add "$n" || fail "ip netns add $n"
  ip -n "$n" link set lo up
done
# pod PODNS CGROUP CMD...: CMD in namespace PODNS, in CGROUP from its start.
pod() { local n=$1 cg=$2; shift 2; tw_in_cgroup "$n" "$cg" "$TMP/$n.log" "$@"; }
for i in 1 2; do
  n=$NS-$i cg=CG$i
  ip netns exec "$n" sysctl -qw net.ipv4.ip_local_port_range="40000 40099" net.ipv4.tcp_tw_reuse=0 || fail "sysctl in $n"
  pod "$n" "${!cg}" sleep 600 # the pause container
  pod "$n" "${!cg}" "$TMP/twgen" -duration 170s -ports 1 -base 7000 -parallel 1 -hold 600s
done
mkdir -p "$TMP/pods/batch_report-1_$UID2" "$TMP/pods/other_x_11111111-2222-4333-8444-555555555555"
cat >"$TMP/ksm.prom" <<EOF
# TYPE kube_pod_info gauge
kube_pod_info{namespace="shop",pod="cart-0",uid="$UID1",node="node-1",host_ip="",pod_ip="",created_by_kind="",created_by_name="",priority_class="",host_network="false"} 1
kube_pod_info{namespace="other",pod="y",uid="99999999-2222-4333-8444-555555555555",node="node-1",host_ip="",pod_ip="",created_by_kind="",created_by_name="",priority_class="",host_network="false"} 1
EOF
cat >"$TMP/exporter.yml" <<EOF
netns:
  include: '^$NS-'
EOF
cat >"$TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ["$TMP/rules.yml"]
scrape_configs:
  - job_name: timewait
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$KSM_PORT"]}]
EOF

step "start exporter (--netns.discover), kube-state-metrics stand-in, prometheus"
bg() { local log=$1; shift; nsx "$@" >"$TMP/$log.log" 2>&1 & PIDS+=($!); }
bg exporter "$EXPORTER" --web.listen-address=127.0.0.1:$EXPORTER_PORT --config.file="$TMP/exporter.yml" \
  --netns.discover --netns.pod-log-dir="$TMP/pods"
bg ksm "$H" serve -listen 127.0.0.1:$KSM_PORT -out "$TMP/ksm.prom"
bg prometheus prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address=127.0.0.1:$PROM_PORT
PROM=http://127.0.0.1:$PROM_PORT
nsx "$H" wait-http -url "$PROM/-/ready" -timeout 30s || fail "prometheus not ready"
q() { nsx curl -sf -G --data-urlencode "query=$1" "$PROM/api/v1/query"; }

step "timewait_netns_info: the pod UIDs from the cgroups, pod 2's name from the log directory"
metrics=$(nsx curl -sf http://127.0.0.1:$EXPORTER_PORT/metrics) || fail "scrape"
echo "$metrics" | grep '^timewait_netns_info' | sed 's/^/  /'
echo "$metrics" | grep -q "^timewait_netns_info{.*netns=\"$P1\",pid=\"[0-9]*\",pod_name=\"\",pod_namespace=\"\",pod_uid=\"$UID1\"} 1" ||
  fail "no pod_uid $UID1 for $P1"
echo "$metrics" | grep -q "^timewait_netns_info{.*netns=\"$P2\",pid=\"[0-9]*\",pod_name=\"report-1\",pod_namespace=\"batch\",pod_uid=\"$UID2\"} 1" ||
  fail "no batch/report-1 ($UID2) for $P2"
echo "$metrics" | grep -q "^timewait_netns_info{.*netns=\"$NS\",pid=\"[0-9]*\",pod_name=\"\",pod_namespace=\"\",pod_uid=\"\"} 1" ||
  fail "the exporter's own namespace $NS is no pod's"

# eventually QUERY JQ WANT: wait until JQ of QUERY's result is WANT (rules
# evaluate every second; new series need a few)
eventually() {
  for _ in $(seq 60); do
    got=$(q "$1" | jq -c "$2")
    [ "$got" = "$3" ] && break
    sleep 0.5
  done
  echo "  $got"
  [ "$got" = "$3" ] || fail "got $got, want $3 (query: $1)"
}
step "instance_netns:timewait_pod:info: pod 1 by kube_pod_info (UID join), pod 2 by its own labels"
eventually instance_netns:timewait_pod:info '[.data.result[].metric | [.netns, .namespace, .pod, .pod_uid]] | sort' \
  "[[\"$P1\",\"shop\",\"cart-0\",\"$UID1\"],[\"$P2\",\"batch\",\"report-1\",\"$UID2\"]]"

step "the Overview's 'Pods nearest exhaustion'"
expr=$("$TMP/dashq" expr -dir dashboards -dashboard timewait-overview.json -title "Pods nearest exhaustion" \
  -var job=timewait -var instance=.+) || fail "no Pods nearest exhaustion query"
eventually "$expr" '[.data.result[] | [.metric.namespace, .metric.pod, (.value[1] | tonumber > 0.9)]] | sort' \
  '[["batch","report-1",true],["shop","cart-0",true]]'

step "the Host dashboard's 'Per-namespace breakdown': the pod of each namespace"
expr=$("$TMP/dashq" expr -dir dashboards -dashboard timewait-host.json -title "Per-namespace breakdown" \
  -var job=timewait -var instance=127.0.0.1:$EXPORTER_PORT) || fail "no Per-namespace breakdown query"
eventually "$expr" "[.data.result[].metric | select(.netns == \"$P1\" or .netns == \"$P2\" or .netns == \"$NS\") | [.netns, .pod // \"\", (.pid // \"\" | length > 0)]] | sort" \
  "[[\"$NS\",\"\",true],[\"$P1\",\"shop/cart-0\",true],[\"$P2\",\"batch/report-1\",true]]"

step "TimeWaitEphemeralPortsExhausting names the pods"
firing() { # the descriptions of the firing critical alerts, one a line
  nsx curl -sf "$PROM/api/v1/alerts" |
    jq -r '.data.alerts[] | select(.state == "firing" and .labels.severity == "critical" and .labels.alertname == "TimeWaitEphemeralPortsExhausting") | .annotations.description' | sort
}
for _ in $(seq 120); do
  got=$(firing)
  grep -q "(netns $P1, pod shop/cart-0): " <<<"$got" && grep -q "(netns $P2, pod batch/report-1): " <<<"$got" && break
  sleep 0.5
done
sed 's/^/  /' <<<"$got"
grep -q "(netns $P1, pod shop/cart-0): .*Busiest destination: 127.0.0.1:7000" <<<"$got" || fail "no firing alert naming pod shop/cart-0"
grep -q "(netns $P2, pod batch/report-1): .*Busiest destination: 127.0.0.1:7000" <<<"$got" || fail "no firing alert naming pod batch/report-1"
step "pod 1 leaves kube-state-metrics: the Host dashboard names it by its UID"
grep -v "uid=\"$UID1\"" "$TMP/ksm.prom" >"$TMP/ksm.new" && mv "$TMP/ksm.new" "$TMP/ksm.prom"
eventually "$expr" "[.data.result[].metric | select(.netns == \"$P1\" or .netns == \"$P2\") | [.netns, .pod // \"\"]] | sort" \
  "[[\"$P1\",\"uid $UID1\"],[\"$P2\",\"batch/report-1\"]]"

if grep -E 'level=(warn|error)' "$TMP/prometheus.log" | grep -iE 'template|rule|query'; then
  fail "prometheus logged rule or template errors (above)"
fi
RC=0
echo "pods_e2e: ok (2 pods named: by kube_pod_info and by /var/log/pods)"
