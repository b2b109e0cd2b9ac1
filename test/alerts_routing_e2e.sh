#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Alerts routed by team through a real Alertmanager, on one machine. Two
# "nodes": two real exporters (--netns.discover, instance node-1 and node-2,
# scraped with the target's own namespace and pod labels left on, as a
# ServiceMonitor that does not drop them would), each watching one pod's
# network namespace (processes in a kubelet-shaped cgroup) and one non-pod
# namespace. node-1's pod (shop/cart-0, named by a kube_pod_info that the
# test serves) and non-pod namespace run out of ephemeral ports (critical);
# node-2's pod (batch/report-1, named by the exporter's --netns.pod-log-dir
# alone) and non-pod namespace hold 80% of theirs (warning). Debian's
# Prometheus evaluates the mixin's rules and sends to two Debian
# prometheus-alertmanagers:
#  - kps: kube-prometheus-stack's default inhibit_rules, copied verbatim
#    (critical silences warning and info with equal: [namespace, alertname]):
#    both pods' alerts notify, each with its pod's namespace and pod; node-1
#    pod's own warning is inhibited by its critical (the rules are live);
#    node-2's non-pod warning is inhibited by node-1's non-pod critical
#    (both lack namespace: the defect docs/runbook.md#alertmanager states);
#  - node: the same defaults restricted to alerts with a namespace, plus the
#    inhibition the mixin renders into deploy/prometheus/alertmanager.yml
#    (keyed on the node and netns): node-2's non-pod warning notifies too,
#    and each critical still silences its own warning.
# Needs root (ip netns, cgroups), go, prometheus, prometheus-alertmanager,
# curl, jq. About 40 s.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init alerts_routing_e2e 200 20 "ip netns and cgroups" go ip prometheus prometheus-alertmanager curl jq -- "$@"
NS=tw-route-$$ # exporters, Prometheus, Alertmanagers, webhooks
P1=$NS-p1 P2=$NS-p2 H1=$NS-h1 H2=$NS-h2
NAMESPACES=("$NS" "$P1" "$P2" "$H1" "$H2")
ART=$ROOT/test/artifacts/alerts_routing_e2e
TW_GRACE=0.5
E1=9966 E2=9967 KSM_PORT=9101 PROM_PORT=9090 AM_KPS=9093 AM_NODE=9094 HOOK_KPS=9098 HOOK_NODE=9099
tw_pod_cgroups tw-route
tw_on_failure() {
  rm -rf "$ART"; mkdir -p "$ART"
  cp "$TMP"/*.log "$TMP"/*.yml "$TMP"/*.jsonl "$ART"/ 2>/dev/null
  echo "alerts_routing_e2e: logs kept in $ART"
}

step "build exporter, rules (warning for: 15s, critical for: 3s), twgen, alerthook"
tw_exporter
# The critical fires well before the warning, so that the warning is
# inhibited from its first notification on.
tw_rules "{ _config+:: { ephemeralPorts+: { warningFor: '15s', criticalFor: '3s' } } }"
go build -o "$TMP/twgen" ./tools/twgen || fail "twgen build"
go build -o "$TMP/alerthook" ./tools/alerthook || fail "alerthook build"
H=$TMP/alerthook

step "namespaces: pods $P1 (critical), $P2 (warning); non-pod $H1 (critical), $H2 (warning)"
for n in "${NAMESPACES[@]}"; do
  ip netns add "$n" || fail "ip netns add $n"
  ip -n "$n" link set lo up
  [ "$n" = "$NS" ] || ip netns exec "$n" sysctl -qw net.ipv4.ip_local_port_range="40000 40099" net.ipv4.tcp_tw_reuse=0 ||
    fail "sysctl in $n"
done
# run NETNS CGROUP CMD...: CMD in NETNS, in the pod's CGROUP if one is given
run() {
  local n=$1 cg=$2; shift 2
  if [ -n "$cg" ]; then tw_in_cgroup "$n" "$cg" "$TMP/$n.log" "$@"; return; fi
  ip netns exec "$n" "$@" >>"$TMP/$n.log" 2>&1 &
  PIDS+=($!)
}
# critical: a TIME_WAIT storm keeps all 100 ports towards :7000 held
storm() { run "$1" "$2" "$TMP/twgen" -duration 170s -ports 1 -base 7000 -parallel 1 -hold 600s; }
# warning: 80 of the 100 ports held, by one TIME_WAIT socket and 79
# established connections kept open
eighty() {
  run "$1" "$2" "$TMP/twgen" -n 1 -ports 1 -base 7000 -parallel 1 -hold 600s
  for _ in $(seq 50); do ip netns exec "$1" ss -Htln sport = :7000 | grep -q . && break; sleep 0.1; done
  run "$1" "$2" bash -c 'for _ in $(seq 79); do exec {fd}<>/dev/tcp/127.0.0.1/7000 || exit 1; done; exec sleep 600'
}
run "$P1" "$CG1" sleep 600 # the pause container
run "$P2" "$CG2" sleep 600
run "$H1" "" sleep 600
run "$H2" "" sleep 600

mkdir -p "$TMP/pods/batch_report-1_$UID2"
cat >"$TMP/ksm.prom" <<EOF
# TYPE kube_pod_info gauge
kube_pod_info{namespace="shop",pod="cart-0",uid="$UID1",node="node-1",host_ip="",pod_ip="",created_by_kind="",created_by_name="",priority_class="",host_network="false"} 1
EOF
printf 'netns:\n  include: "^(%s|%s)$"\n' "$P1" "$H1" >"$TMP/node-1.yml"
printf 'netns:\n  include: "^(%s|%s)$"\n' "$P2" "$H2" >"$TMP/node-2.yml"
cat >"$TMP/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
rule_files: ["$TMP/rules.yml"]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:$AM_KPS", "127.0.0.1:$AM_NODE"]}]
scrape_configs:
  - job_name: timewait
    static_configs:
      - targets: ["127.0.0.1:$E1"]
        labels: {instance: node-1, namespace: monitoring, pod: timewait-exporter-n1}
      - targets: ["127.0.0.1:$E2"]
        labels: {instance: node-2, namespace: monitoring, pod: timewait-exporter-n2}
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:$KSM_PORT"]}]
EOF
# kube-prometheus-stack's default inhibit_rules (charts/kube-prometheus-stack
# values.yaml, alertmanager.config, chart 88.5.3), verbatim; RESTRICT is
# empty there and namespace =~ ".+" in the node configuration.
kps_rules() {
  cat <<EOF
  - source_matchers:
      - 'severity = critical'$1
    target_matchers:
      - 'severity =~ warning|info'
    equal:
      - 'namespace'
      - 'alertname'
  - source_matchers:
      - 'severity = warning'
    target_matchers:
      - 'severity = info'
    equal:
      - 'namespace'
      - 'alertname'
  - source_matchers:
      - 'alertname = InfoInhibitor'
    target_matchers:
      - 'severity = info'
    equal:
      - 'namespace'
  - target_matchers:
      - 'alertname = InfoInhibitor'
EOF
}
am_config() { # am_config HOOK_PORT: the route, then inhibit_rules: follows
  cat <<EOF
route:
  receiver: hook
  group_by: [alertname, severity, instance, netns]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: "http://127.0.0.1:$1/alerts", send_resolved: false}]
EOF
}
{ am_config $HOOK_KPS; echo 'inhibit_rules:'; kps_rules ''; } >"$TMP/am-kps.yml"
# the shipped rule, as rendered (its inhibit_rules: block), then the defaults
{ am_config $HOOK_NODE; sed -n '/^inhibit_rules:/,/^[a-z]/p' deploy/prometheus/alertmanager.yml | sed '$d'
  kps_rules $'\n      - \'namespace =~ ".+"\''; } >"$TMP/am-node.yml"
grep -q 'equal:' "$TMP/am-node.yml" && [ "$(grep -c 'source_matchers' "$TMP/am-node.yml")" -eq 4 ] ||
  fail "no inhibit_rules in deploy/prometheus/alertmanager.yml"
for c in kps node; do amtool check-config "$TMP/am-$c.yml" >/dev/null || fail "amtool check-config am-$c.yml"; done
promtool check config "$TMP/prometheus.yml" >/dev/null || fail "promtool check config"

step "start webhooks, alertmanagers, kube-state-metrics stand-in, exporters, prometheus"
bg() { local log=$1; shift; nsx "$@" >"$TMP/$log.log" 2>&1 & PIDS+=($!); }
bg hook-kps "$H" webhook -listen 127.0.0.1:$HOOK_KPS -out "$TMP/hook-kps.jsonl"
bg hook-node "$H" webhook -listen 127.0.0.1:$HOOK_NODE -out "$TMP/hook-node.jsonl"
bg am-kps prometheus-alertmanager --config.file="$TMP/am-kps.yml" --storage.path="$TMP/am-kps" \
  --web.listen-address=127.0.0.1:$AM_KPS --cluster.listen-address=
bg am-node prometheus-alertmanager --config.file="$TMP/am-node.yml" --storage.path="$TMP/am-node" \
  --web.listen-address=127.0.0.1:$AM_NODE --cluster.listen-address=
bg ksm "$H" serve -listen 127.0.0.1:$KSM_PORT -out "$TMP/ksm.prom"
for i in 1 2; do
  port=E$i
  bg "exporter-$i" "$EXPORTER" --web.listen-address=127.0.0.1:${!port} --config.file="$TMP/node-$i.yml" \
    --netns.discover --netns.pod-log-dir="$TMP/pods"
done
bg prometheus prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address=127.0.0.1:$PROM_PORT
for u in $AM_KPS/-/ready $AM_NODE/-/ready $PROM_PORT/-/ready; do
  nsx "$H" wait-http -url "http://127.0.0.1:$u" -timeout 30s || fail "127.0.0.1:$u not ready"
done

step "fill the ports: criticals first, then the warnings"
storm "$P1" "$CG1"
storm "$H1" ""
eighty "$P2" "$CG2"
eighty "$H2" ""
sleep 2
for n in "$P1" "$H1" "$P2" "$H2"; do
  echo "  $n: $(ip netns exec "$n" ss -Htan dst 127.0.0.1 dport = :7000 | wc -l) sockets towards 127.0.0.1:7000 (100 ports)"
done

# notified AM LABEL=VALUE...: wait for a firing alert with those labels (an
# empty value: the label is absent) in AM's webhook file
notified() {
  local am=$1 args=(); shift
  for l in "$@"; do args+=(-label "$l"); done
  nsx "$H" wait-webhook -out "$TMP/hook-$am.jsonl" -alertname TimeWaitEphemeralPortsExhausting "${args[@]}" \
    -timeout 60s >"$TMP/got.log" || fail "$am: no notification for $*"
  echo "  $am notified: $*"
}
# suppressed AM LABEL=VALUE...: the alert is in AM, inhibited, and never
# reached its webhook
suppressed() {
  local am=$1 port f=() sel state; shift
  port=AM_${am^^}
  for l in "$@"; do f+=(--data-urlencode "filter=${l%%=*}=\"${l#*=}\""); done
  sel=$(printf '%s\n' "$@" | jq -R 'split("=") | {(.[0]): (.[1:] | join("="))}' | jq -s 'add')
  for _ in $(seq 60); do
    state=$(nsx curl -sf -G "${f[@]}" --data-urlencode 'filter=alertname="TimeWaitEphemeralPortsExhausting"' \
      "http://127.0.0.1:${!port}/api/v2/alerts" | jq -r '[.[].status | .state + " " + (.inhibitedBy | length | tostring)] | join(",")')
    [ -n "$state" ] && break
    sleep 0.5
  done
  [ "$state" = "suppressed 1" ] || fail "$am: $* is '$state', want suppressed by one inhibiting alert"
  ! jq -c --argjson sel "$sel" '.alerts[] | select(.labels.alertname == "TimeWaitEphemeralPortsExhausting" and (.labels | contains($sel)))' \
    "$TMP/hook-$am.jsonl" | grep -q . || fail "$am: $* was inhibited but reached the webhook"
  echo "  $am inhibited: $*"
}
pod1=(instance=node-1 netns="$P1" namespace=shop pod=cart-0)
pod2=(instance=node-2 netns="$P2" namespace=batch pod=report-1)
host1=(instance=node-1 netns="$H1" namespace= pod=)
host2=(instance=node-2 netns="$H2" namespace= pod=)

step "kps defaults (equal: [namespace, alertname]): both pods notify, each with its namespace and pod"
notified kps severity=critical "${pod1[@]}"
cat "$TMP/got.log"
notified kps severity=warning "${pod2[@]}"
cat "$TMP/got.log"
notified kps severity=critical "${host1[@]}"
suppressed kps severity=warning "${pod1[@]}"
step "kps defaults: node-1's non-pod critical silences node-2's non-pod warning (neither has a namespace)"
suppressed kps severity=warning instance=node-2 netns="$H2"

step "the shipped inhibition (node and netns) with the defaults restricted to alerts with a namespace"
notified node severity=critical "${pod1[@]}"
notified node severity=warning "${pod2[@]}"
notified node severity=critical "${host1[@]}"
notified node severity=warning "${host2[@]}"
suppressed node severity=warning "${pod1[@]}"
suppressed node severity=warning instance=node-1 netns="$H1"

if grep -E 'level=(warn|error)' "$TMP/prometheus.log" | grep -iE 'template|rule|query'; then
  fail "prometheus logged rule or template errors (above)"
fi
RC=0
echo "alerts_routing_e2e: ok (two pods on two nodes, critical and warning, both notified through kube-prometheus-stack's inhibition)"
