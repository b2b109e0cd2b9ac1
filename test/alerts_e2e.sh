#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, with real parts: in a throwaway network namespace (loopback
# only) run timewait_exporter, Debian's prometheus (1 s scrape/eval, our rules
# with short for: windows via a config override) and prometheus-alertmanager
# (webhook to a receiver run by this test), create a TIME_WAIT storm that
# exhausts a narrow ephemeral port range towards one destination, and assert:
#  (a) every panel query of every dashboard returns data from that Prometheus,
#      both as scraped and with a simulated netns label (namespace discovery),
#      and the Host dashboard's namespace table joins the pid and comm of a
#      process in this test's namespace (a third exporter, --netns.discover);
#  (b) every alert that one machine can drive reaches the webhook with its
#      labels (job, instance, netns, collector, severity) and a description
#      naming the destination, namespace or limit: TimeWaitSpike (info; the
#      inbound load), TimeWaitEphemeralPortsExhausting warning and critical
#      and TimeWaitEphemeralPortsFillingUp (the storm),
#      TimeWaitEphemeralPoolExhausting warning and critical (clients that
#      bind() before connect() in a second namespace, seen by a fourth
#      exporter, --netns.discover of that namespace only; and never for the storm, whose one
#      destination explains its full pool), TimeWaitBucketsNearLimit
#      and TimeWaitBucketOverflow (tcp_max_tw_buckets set just above the
#      count, then a burst of server-side closes), TimeWaitExporterCollectorFailing (a second
#      exporter on an empty --path.procfs), TimeWaitExporterConfigReloadFailed
#      (a broken --config.file and SIGHUP), TimeWaitExporterDown (the second
#      exporter killed), TimeWaitNamespacesNotWatched (a fifth exporter,
#      --netns.discover with netns.max_namespaces 1: every namespace but its
#      own is dropped), TimeWaitExporterAbsent (every scrape job removed).
# Needs root (ip netns, sysctl), go, prometheus, prometheus-alertmanager.
# About 85 s (30 s of it ageing the quiet namespace); bounded (timeout
# 300 s), cleans up on any exit; logs of a failed run
# are kept in test/artifacts/alerts_e2e/.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
# Hard bound: the whole test, cleanup included, under 4 minutes.
tw_init alerts_e2e 300 20 "ip netns and sysctl" go ip prometheus prometheus-alertmanager promtool ss curl jq -- "$@"

NS=tw-e2e-$$
POOL_NS=$NS-pool
NAMESPACES=("$NS" "$POOL_NS")
ART=$ROOT/test/artifacts/alerts_e2e
TW_GRACE=0.5
EXPORTER_PORT=9966 BROKEN_PORT=9967 DISCOVER_PORT=9968 POOL_EXPORTER_PORT=9969 CAPPED_PORT=9970 PROM_PORT=9090 AM_PORT=9093 HOOK_PORT=9099 OUT_PORT=7000 IN_PORT=7001 BURST_PORT=7002 POOL_PORT=7100
PORT_LO=40000 PORT_HI=40199   # 200 usable ephemeral ports; listeners stay outside

tw_on_failure() {
  rm -rf "$ART"; mkdir -p "$ART"
  cp "$TMP"/*.log "$TMP"/*.yml "$TMP"/webhook.jsonl "$ART"/ 2>/dev/null
  echo "alerts_e2e: logs kept in $ART"
}
bg() { # bg LOGNAME CMD... : start CMD in the namespace, remember its pid
  local log=$1; shift
  ip netns exec "$NS" "$@" >"$TMP/$log.log" 2>&1 &
  PIDS+=($!)
}

# ---------------------------------------------------------------- build
step "build exporter, rules, dashboard checker, twgen, test helper"
tw_exporter
# Same rules as shipped, only the for: and range windows shortened (and the
# spike's minimum), and the selector widened to the other scrape jobs below
# (timewait-netns, timewait-broken, timewait-pool, timewait-capped), whose series the
# recording rules must also aggregate for the Overview. (ephemeralPool's
# for: windows follow ephemeralPorts'.)
cat >"$TMP/e2e-override.jsonnet" <<'EOF'
{
  _config+:: {
    selector: 'job=~"timewait|timewait-netns|timewait-broken|timewait-pool|timewait-capped"',
    ephemeralPorts+: { warningFor: '5s', criticalFor: '5s' },
    portsFillingUp+: { window: '15s', horizon: '60s', warningFor: '3s' },
    bucketsNearLimit+: { warningFor: '5s' },
    bucketOverflow+: { window: '30s', warningFor: '5s' },
    spike+: { baselineWindow: '20s', baselineOffset: '10s', minSockets: 100, warningFor: '3s' },
    namespacesNotWatched+: { warningFor: '3s' },
    exporter+: { downFor: '5s', absentFor: '5s', collectorFailingWindow: '10s', collectorFailingFor: '5s', configReloadFailingFor: '5s' },
  },
}
EOF
(cd mixin && go run ./render -patch "$TMP/e2e-override.jsonnet" -out "$TMP/r" \
  -only deploy/prometheus/rules/timewait.rules.yml) &&
  cp "$TMP/r/deploy/prometheus/rules/timewait.rules.yml" "$TMP/rules.yml" || fail "mixin render"
# The dashboards read raw metrics with the mixin's selector too: rendered
# with one that matches every scrape job here (timewait-discover included).
echo "{ _config+:: { selector: 'job=~\".+\"' } }" >"$TMP/dash-override.jsonnet"
(cd mixin && go run ./render -patch "$TMP/dash-override.jsonnet" -out "$TMP/d") || fail "mixin render (dashboards)"
DASHBOARDS=$TMP/d/dashboards
(cd mixin && go build -o "$TMP/dashq" ./dashcheck) || fail "dashboard checker build"
go build -o "$TMP/twgen" ./tools/twgen || fail "twgen build"
TWGEN=$TMP/twgen
go build -o "$TMP/alerthook" ./tools/alerthook || fail "alerthook build"
H=$TMP/alerthook

# ---------------------------------------------------------------- namespace
step "namespace $NS: loopback only, tcp_tw_reuse=0"
ip netns add "$NS" || fail "ip netns add"
nsx ip link set lo up
nsx sysctl -qw net.ipv4.tcp_tw_reuse=0 || fail "sysctl tcp_tw_reuse"

cat >"$TMP/alertmanager.yml" <<EOF
route:
  receiver: webhook
  group_by: [alertname, severity]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:$HOOK_PORT/alerts
        send_resolved: false
EOF
cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: ["$TMP/rules.yml"]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:$AM_PORT"]}]
scrape_configs:
  - job_name: timewait
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
  # The same exporter as if namespace discovery were on: every per-namespace
  # series gets netns="sim-ns", so the dashboards are also checked with the
  # label present and one namespace selected.
  - job_name: timewait-netns
    static_configs: [{targets: ["127.0.0.1:$EXPORTER_PORT"]}]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'timewait_(sockstat|tcp|tcpext|sysctl|ephemeral|outbound|destination|local_port|time_wait|pressure)_.*'
        target_label: netns
        replacement: sim-ns
  # A second exporter whose --path.procfs is empty: its collectors fail.
  - job_name: timewait-broken
    static_configs: [{targets: ["127.0.0.1:$BROKEN_PORT"]}]
  # A third exporter with real namespace discovery (timewait_netns_info).
  - job_name: timewait-discover
    static_configs: [{targets: ["127.0.0.1:$DISCOVER_PORT"]}]
  # A fourth exporter, --netns.discover of the bind-before-connect namespace
  # only (and its own, whose series are dropped), under the alerts' selector.
  - job_name: timewait-pool
    static_configs: [{targets: ["127.0.0.1:$POOL_EXPORTER_PORT"]}]
    metric_relabel_configs: [{source_labels: [netns], regex: '$POOL_NS', action: keep}]
  # A fifth exporter, --netns.discover capped at one namespace (its own):
  # only its two discovery counts are kept.
  - job_name: timewait-capped
    static_configs: [{targets: ["127.0.0.1:$CAPPED_PORT"]}]
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'timewait_netns_(dropped_namespaces|unreadable_processes)', action: keep}
EOF
promtool check config "$TMP/prometheus.yml" >/dev/null || fail "promtool check config"

step "start webhook, exporter, alertmanager, prometheus"
bg webhook "$H" webhook -listen 127.0.0.1:$HOOK_PORT -out "$TMP/webhook.jsonl"
: >"$TMP/exporter.yml" # a valid, empty configuration
bg exporter "$EXPORTER" --web.listen-address=127.0.0.1:$EXPORTER_PORT --config.file="$TMP/exporter.yml"
EXPORTER_PID=${PIDS[-1]}
mkdir -p "$TMP/noproc"
bg broken "$EXPORTER" --web.listen-address=127.0.0.1:$BROKEN_PORT --path.procfs="$TMP/noproc"
BROKEN_PID=${PIDS[-1]}
bg discover "$EXPORTER" --web.listen-address=127.0.0.1:$DISCOVER_PORT --netns.discover
printf 'netns:\n  include: "^%s$"\n' "$POOL_NS" >"$TMP/pool-exporter.yml"
bg pool-exporter "$EXPORTER" --web.listen-address=127.0.0.1:$POOL_EXPORTER_PORT --netns.discover --config.file="$TMP/pool-exporter.yml"
printf 'netns:\n  max_namespaces: 1\n' >"$TMP/capped-exporter.yml"
bg capped-exporter "$EXPORTER" --web.listen-address=127.0.0.1:$CAPPED_PORT --netns.discover --config.file="$TMP/capped-exporter.yml"
bg alertmanager prometheus-alertmanager --config.file="$TMP/alertmanager.yml" \
  --storage.path="$TMP/am" --web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address=
# A 10 s lookback (1 s scrapes): when the scrape jobs are removed at the
# end, their last samples vanish from queries within 10 s (a removed job
# gets no staleness markers in this Prometheus) and TimeWaitExporterAbsent
# can fire.
bg prometheus prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address=127.0.0.1:$PROM_PORT --query.lookback-delta=10s
PROM_PID=${PIDS[-1]}
nsx "$H" wait-http -url http://127.0.0.1:$EXPORTER_PORT/metrics -contains timewait_sockstat_tw_sockets -timeout 20s || fail "exporter not serving"
nsx "$H" wait-http -url http://127.0.0.1:$AM_PORT/-/ready -timeout 30s || fail "alertmanager not ready"
nsx "$H" wait-http -url http://127.0.0.1:$PROM_PORT/-/ready -timeout 30s || fail "prometheus not ready"
nsx "$H" wait-http -url "http://127.0.0.1:$PROM_PORT/api/v1/query?query=up%7Bjob%3D%22timewait%22%7D%3D%3D1" \
  -contains '"value"' -timeout 30s || fail "prometheus does not scrape the exporter"
# TimeWaitSpike and TimeWaitEphemeralPortsFillingUp leave out series younger
# than their baseline (30 s here): let the quiet namespace age first.
nsx "$H" wait-http -url "http://127.0.0.1:$PROM_PORT/api/v1/query?query=timewait_sockstat_tw_sockets%7Bjob%3D%22timewait%22%7D%20offset%2031s" \
  -contains '"value"' -timeout 60s || fail "no 31 s of history"

# ---------------------------------------------------------------- storm
# Server-side (inbound) TIME_WAIT first, while the port range is still wide
# (with a narrow range client ports wrap onto the server's TIME_WAIT 4-tuples).
step "inbound load: server closes first on :$IN_PORT"
# twgen keeps listening (-hold) so the sockets stay inbound to a listener.
bg inbound "$TWGEN" -side server -n 300 -ports 1 -base $IN_PORT -parallel 1 -hold 600s
for _ in $(seq 100); do
  grep -q 'connections closed' "$TMP/inbound.log" && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || break
  sleep 0.1
done
cat "$TMP/inbound.log"
if ! grep -q 'connections closed' "$TMP/inbound.log" || ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
  fail "inbound load"
fi
step "narrow ip_local_port_range to $PORT_LO-$PORT_HI; TIME_WAIT storm to 127.0.0.1:$OUT_PORT"
nsx sysctl -qw net.ipv4.ip_local_port_range="$PORT_LO $PORT_HI" || fail "sysctl ip_local_port_range"
# One thread connects and closes (the client first) until the range is
# full, then keeps it full: each EADDRNOTAVAIL pauses it 50 ms.
bg storm "$TWGEN" -duration 170s -ports 1 -base $OUT_PORT -parallel 1 -hold 600s
sleep 3
tw_out=$(nsx ss -Htan state time-wait dst 127.0.0.1 dport = :$OUT_PORT | wc -l)
tw_in=$(nsx ss -Htan state time-wait sport = :$IN_PORT | wc -l)
echo "kernel: $tw_out outbound TIME_WAIT to :$OUT_PORT (range holds $((PORT_HI - PORT_LO + 1))), $tw_in server-side TIME_WAIT on :$IN_PORT"
nsx grep '^TCP:' /proc/net/sockstat
[ "$tw_out" -ge 190 ] || fail "storm did not fill the port range (ss: $tw_out TIME_WAIT to :$OUT_PORT)"
sleep 3

# ---------------------------------------------------------------- (b) alerts
hook() { # hook DESCRIPTION-PART LABEL=VALUE...: wait for that firing alert
  local contains=$1; shift
  local args=()
  for l in "$@"; do args+=(-label "$l"); done
  nsx "$H" wait-webhook -out "$TMP/webhook.jsonl" -alertname "${args[1]#alertname=}" "${args[@]:2}" \
    -contains "$contains" -timeout 60s || fail "${args[1]#alertname=} ($*) did not reach the webhook"
}
A=127.0.0.1:$EXPORTER_PORT
step "(b) ephemeral ports: TimeWaitEphemeralPortsExhausting (both), TimeWaitEphemeralPortsFillingUp"
hook "Busiest destination: 127.0.0.1:$OUT_PORT at 100%" alertname=TimeWaitEphemeralPortsExhausting severity=critical job=timewait instance=$A netns=
# It was pending for its for: window (5 s at 1 s evaluation) before it fired.
pending='count_over_time(ALERTS{alertname="TimeWaitEphemeralPortsExhausting",severity="critical",alertstate="pending"}[3m]) >= 4'
nsx curl -sf -G --data-urlencode "query=$pending" http://127.0.0.1:$PROM_PORT/api/v1/query | grep -q '"result":\[{' ||
  fail "the alert was not pending for its for: window before firing"
echo "alert was pending >= 4 evaluations before firing (for: 5s)"
hook "$A (netns sim-ns): the busiest destination uses 100%" alertname=TimeWaitEphemeralPortsExhausting severity=warning job=timewait-netns instance=$A netns=sim-ns
hook "Busiest destination: 127.0.0.1:$OUT_PORT" alertname=TimeWaitEphemeralPortsFillingUp severity=warning job=timewait instance=$A
step "(b) TimeWaitSpike (info) from the inbound load, in the namespace"
hook "$A (netns sim-ns): " alertname=TimeWaitSpike severity=info job=timewait-netns instance=$A netns=sim-ns

step "(b) bind() before connect() in $POOL_NS: TimeWaitEphemeralPoolExhausting (both)"
# 190 clients, each bind(127.0.0.1, 0) then connect() to one of 10 ports,
# closed first: 190 TIME_WAIT sockets holding 190 of the 200 ports, none
# shared, 19 per destination (9.5%, far from any destination's alert).
ip netns add "$POOL_NS" || fail "ip netns add $POOL_NS"
ip netns exec "$POOL_NS" ip link set lo up
ip netns exec "$POOL_NS" sysctl -qw net.ipv4.tcp_tw_reuse=0 net.ipv4.ip_local_port_range="$PORT_LO $PORT_HI" || fail "sysctl in $POOL_NS"
ip netns exec "$POOL_NS" "$TWGEN" -bind -n 190 -ports 10 -base $POOL_PORT -parallel 1 -hold 600s >"$TMP/pool.log" 2>&1 &
PIDS+=($!)
D=127.0.0.1:$POOL_EXPORTER_PORT
hook "$D (netns $POOL_NS): " alertname=TimeWaitEphemeralPoolExhausting severity=critical job=timewait-pool instance=$D netns=$POOL_NS
hook "of the usable ephemeral ports are held, with almost no port shared" alertname=TimeWaitEphemeralPoolExhausting severity=warning job=timewait-pool instance=$D netns=$POOL_NS
cat "$TMP/pool.log"
ip netns exec "$POOL_NS" ss -Htan state time-wait | awk '{n++; p[$3]++} END {print "kernel: " n " TIME_WAIT sockets on " length(p) " local ports"}'
grep -o '"alertname":"TimeWaitEphemeralPoolExhausting"[^}]*}[^}]*"description":"[^"]*' "$TMP/webhook.jsonl" | grep -o '"description":.*' | head -1
# The storm fills its pool too, one port per socket, but all of it one
# flow's: TimeWaitEphemeralPortsExhausting's case, never this alert's.
never='count_over_time(ALERTS{alertname="TimeWaitEphemeralPoolExhausting",job=~"timewait|timewait-netns"}[10m])'
nsx curl -sf -G --data-urlencode "query=$never" http://127.0.0.1:$PROM_PORT/api/v1/query | grep -q '"result":\[\]' ||
  fail "TimeWaitEphemeralPoolExhausting fired for the storm's namespace, whose busiest destination explains the pool"
echo "not fired for the storm's namespace (one flow holds its pool)"

# ---------------------------------------------------------------- (a) dashboards
step "(a) every dashboard panel query returns data"
# but the pod panels: no namespace here is a pod's (test/pods_e2e.sh and
# test/fleet_dashboards.sh fill them)
PODS_PANELS='"(Pods nearest exhaustion|Busiest destinations of pods|Pods holding the most TIME_WAIT)"'
# rate() windows need a few scrapes; the storm has run for several seconds by now.
nsx "$TMP/dashq" query -dir "$DASHBOARDS" -prometheus http://127.0.0.1:$PROM_PORT \
  -var job=timewait -var instance=127.0.0.1:$EXPORTER_PORT -var __rate_interval=10s -window 60s -empty-ok "$PODS_PANELS" \
  >"$TMP/dashboards.log" 2>&1
q=$?
grep -v '^ok ' "$TMP/dashboards.log"
[ "$q" -eq 0 ] || fail "dashboard queries without data (see above)"
# again with a netns label on the series and one namespace selected
nsx "$TMP/dashq" query -dir "$DASHBOARDS" -prometheus http://127.0.0.1:$PROM_PORT \
  -var job=timewait-netns -var instance=127.0.0.1:$EXPORTER_PORT -var netns=sim-ns -var __rate_interval=10s -window 60s -empty-ok "$PODS_PANELS" \
  >"$TMP/dashboards-netns.log" 2>&1
q=$?
grep -v '^ok ' "$TMP/dashboards-netns.log" | sed 's/^dashboard queries:/dashboard queries (netns=sim-ns):/'
[ "$q" -eq 0 ] || fail "dashboard queries without data with a netns label (see above)"

# Every alert template expanded and every rule evaluated without error.
if grep -E 'level=(warn|error)' "$TMP/prometheus.log" | grep -iE 'template|rule'; then
  fail "prometheus logged rule or template errors (above)"
fi

# The Host dashboard's per-namespace table joins timewait_netns_info (pid,
# comm) onto TIME_WAIT per namespace, with a fallback without them: with
# real discovery, this test's namespace must come with a pid and a comm.
step "(a) the Host dashboard's namespace join (--netns.discover), namespace $NS"
join=$("$TMP/dashq" expr -dir "$DASHBOARDS" -dashboard timewait-host.json -title "Per-namespace breakdown" \
  -var job=timewait-discover -var instance=127.0.0.1:$DISCOVER_PORT -var netns="$NS") || fail "no Per-namespace breakdown query"
got=$(nsx curl -sf -G --data-urlencode "query=$join" http://127.0.0.1:$PROM_PORT/api/v1/query |
  jq -r '.data.result[] | "\(.metric.netns) pid=\(.metric.pid // "") comm=\(.metric.comm // "") tw=\(.value[1])"')
echo "$got"
echo "$got" | grep -Eq "^$NS pid=[0-9]+ comm=[^ ]+ tw=[0-9]+" || fail "no pid/comm joined for namespace $NS (query: $join)"

# ---------------------------------------------------------------- (b) more alerts
step "(b) tcp_max_tw_buckets just above the TIME_WAIT count, then a burst: TimeWaitBucketsNearLimit, TimeWaitBucketOverflow"
tw=$(nsx awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "tw") print $(i + 1)}' /proc/net/sockstat)
L=$((tw + 20))
nsx sysctl -qw net.ipv4.tcp_max_tw_buckets=$L || fail "sysctl tcp_max_tw_buckets"
bg burst "$TWGEN" -side server -n 100 -ports 1 -base $BURST_PORT -parallel 1 -hold 600s
hook "net.ipv4.tcp_max_tw_buckets ($L)" alertname=TimeWaitBucketsNearLimit job=timewait instance=$A
hook "TcpExt TCPTimeWaitOverflow went up by" alertname=TimeWaitBucketOverflow job=timewait instance=$A
grep -o '"alertname":"TimeWaitBucketOverflow"[^}]*}[^}]*went up by [0-9]*' "$TMP/webhook.jsonl" | grep -o 'went up by [0-9]*' | head -1

step "(b) TimeWaitNamespacesNotWatched: netns.max_namespaces 1 drops every other namespace"
hook "selected network namespaces were left out by netns.max_namespaces" alertname=TimeWaitNamespacesNotWatched severity=warning job=timewait-capped instance=127.0.0.1:$CAPPED_PORT
nsx curl -s http://127.0.0.1:$CAPPED_PORT/metrics | grep -E '^timewait_netns_(discovered_namespaces|dropped_namespaces|unreadable_processes) '

step "(b) exporter: TimeWaitExporterCollectorFailing, ConfigReloadFailed, Down, Absent"
hook "collector sockstat of timewait_exporter succeeded in 0%" alertname=TimeWaitExporterCollectorFailing collector=sockstat job=timewait-broken instance=127.0.0.1:$BROKEN_PORT
echo 'destinations: [' >"$TMP/exporter.yml"
kill -HUP "$EXPORTER_PID"
hook "$A: timewait_exporter's last configuration reload failed" alertname=TimeWaitExporterConfigReloadFailed job=timewait instance=$A
kill "$BROKEN_PID"
hook "127.0.0.1:$BROKEN_PORT: Prometheus has failed to scrape" alertname=TimeWaitExporterDown job=timewait-broken instance=127.0.0.1:$BROKEN_PORT
sed -i '/^scrape_configs:/,$d' "$TMP/prometheus.yml"
kill -HUP "$PROM_PID"
nsx "$H" wait-http -url "http://127.0.0.1:$PROM_PORT/api/v1/query?query=absent(up)" -contains '"value"' -timeout 30s ||
  { nsx curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query?query=up"; fail "up did not go stale after the scrape jobs were removed"; }
hook 'no target matching job=~"timewait|timewait-netns|timewait-broken|timewait-pool|timewait-capped"' alertname=TimeWaitExporterAbsent severity=warning

RC=0
echo "alerts_e2e: ok (13 notifications: every alert rule, both severities; dashboards queried twice)"
