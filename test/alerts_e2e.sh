#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, with real parts: in a throwaway network namespace (loopback
# only) run timewait_exporter, Debian's prometheus (1 s scrape/eval, our rules
# with short for: windows via a config override) and prometheus-alertmanager
# (webhook to a receiver run by this test), create a TIME_WAIT storm that
# exhausts a narrow ephemeral port range towards one destination, and assert:
#  (a) every panel query of every dashboard returns data from that Prometheus,
#      both as scraped and with a simulated netns label (namespace discovery);
#  (b) TimeWaitEphemeralPortsExhausting (critical) reaches the webhook, with
#      its description naming the exhausted destination.
# Needs root (ip netns, sysctl), go, prometheus, prometheus-alertmanager.
# Bounded (timeout 220 s), cleans up on any exit; logs of a failed run
# are kept in test/artifacts/alerts_e2e/.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
# Hard bound: the whole test, cleanup included, under 4 minutes.
tw_init alerts_e2e 220 20 "ip netns and sysctl" go ip prometheus prometheus-alertmanager promtool ss curl -- "$@"
ROOT=$PWD

NS=tw-e2e-$$
NAMESPACES=("$NS")
TMP=$(mktemp -d /tmp/alerts_e2e.XXXXXX)
ART=$ROOT/test/artifacts/alerts_e2e
TW_GRACE=0.5
EXPORTER_PORT=9966 PROM_PORT=9090 AM_PORT=9093 HOOK_PORT=9099 OUT_PORT=7000 IN_PORT=7001
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
EXPORTER=$ROOT/timewait_exporter
if [ ! -x "$EXPORTER" ]; then
  EXPORTER=$TMP/timewait_exporter
  CGO_ENABLED=0 go build -o "$EXPORTER" . || fail "go build of the exporter"
fi
# Same rules as shipped, only the for: windows (and rate windows) shortened.
cat >"$TMP/e2e-override.jsonnet" <<'EOF'
{
  _config+:: {
    ephemeralPorts+: { warningFor: '5s', criticalFor: '5s' },
    bucketsNearLimit+: { warningFor: '5s' },
    bucketOverflow+: { window: '30s', warningFor: '5s' },
    spike+: { baselineWindow: '2m', baselineOffset: '30s', warningFor: '5s' },
    exporter+: { collectorFailingFor: '5s', configReloadFailingFor: '5s' },
  },
}
EOF
(cd mixin && go run ./render -patch "$TMP/e2e-override.jsonnet" -out "$TMP/r" \
  -only deploy/prometheus/rules/timewait.rules.yml) &&
  cp "$TMP/r/deploy/prometheus/rules/timewait.rules.yml" "$TMP/rules.yml" || fail "mixin render"
(cd mixin && go build -o "$TMP/dashq" ./dashcheck) || fail "dashboard checker build"
go build -o "$TMP/twgen" ./tools/twgen || fail "twgen build"
TWGEN=$TMP/twgen
cat >"$TMP/helper.go" <<'EOF'
// helper for test/alerts_e2e.sh: webhook receiver and waiters (tools/twgen
// makes the TIME_WAIT sockets). Standard library only; runs inside the test
// netns.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fatal("usage: helper webhook|wait-http|wait-webhook")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "", "listen address")
	out := fs.String("out", "", "output file")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	u := fs.String("url", "", "URL")
	contains := fs.String("contains", "", "substring that must appear")
	alert := fs.String("alertname", "", "alert name")
	severity := fs.String("severity", "", "severity label")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "webhook":
		webhook(*listen, *out)
	case "wait-http":
		waitHTTP(*u, *contains, *timeout)
	case "wait-webhook":
		waitWebhook(*out, *alert, *severity, *contains, *timeout)
	default:
		fatal("unknown command " + os.Args[1])
	}
}

func fatal(s string) { fmt.Fprintln(os.Stderr, "helper:", s); os.Exit(1) }

func webhook(addr, out string) {
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fatal(err.Error())
	}
	var mu sync.Mutex
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		f.Write(append([]byte(strings.ReplaceAll(string(b), "\n", " ")), '\n'))
		f.Sync()
		mu.Unlock()
	})
	fatal(http.ListenAndServe(addr, nil).Error())
}

// one keep-alive client: polling makes no TIME_WAIT churn.
var client = &http.Client{Timeout: 3 * time.Second}

func waitHTTP(u, contains string, timeout time.Duration) {
	end := time.Now().Add(timeout)
	var last string
	for time.Now().Before(end) {
		resp, err := client.Get(u)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), contains) {
				return
			}
			last = fmt.Sprintf("HTTP %d: %.300s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	fatal(fmt.Sprintf("%s: no %q within %s; last: %s", u, contains, timeout, last))
}

type payload struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
	} `json:"alerts"`
}

func waitWebhook(file, alertname, severity, contains string, timeout time.Duration) {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if f, err := os.Open(file); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var p payload
				if json.Unmarshal(sc.Bytes(), &p) != nil {
					continue
				}
				for _, a := range p.Alerts {
					if a.Status == "firing" && a.Labels["alertname"] == alertname &&
						(severity == "" || a.Labels["severity"] == severity) &&
						strings.Contains(a.Annotations["description"], contains) &&
						a.Annotations["runbook_url"] != "" && a.Annotations["summary"] != "" {
						j, _ := json.Marshal(a)
						fmt.Printf("webhook received: %s\n", j)
						f.Close()
						return
					}
				}
			}
			f.Close()
		}
		time.Sleep(500 * time.Millisecond)
	}
	fatal(fmt.Sprintf("no firing %s (severity %q, description containing %q) reached the webhook within %s", alertname, severity, contains, timeout))
}
EOF
(cd "$TMP" && GO111MODULE=off go build -o helper helper.go) || fail "helper build"
H=$TMP/helper

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
        regex: 'timewait_(sockstat|tcp|tcpext|sysctl|ephemeral|destination|local_port|time_wait|pressure)_.*'
        target_label: netns
        replacement: sim-ns
EOF
promtool check config "$TMP/prometheus.yml" >/dev/null || fail "promtool check config"

step "start webhook, exporter, alertmanager, prometheus"
bg webhook "$H" webhook -listen 127.0.0.1:$HOOK_PORT -out "$TMP/webhook.jsonl"
bg exporter "$EXPORTER" --web.listen-address=127.0.0.1:$EXPORTER_PORT
bg alertmanager prometheus-alertmanager --config.file="$TMP/alertmanager.yml" \
  --storage.path="$TMP/am" --web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address=
bg prometheus prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address=127.0.0.1:$PROM_PORT
nsx "$H" wait-http -url http://127.0.0.1:$EXPORTER_PORT/metrics -contains timewait_sockstat_tw_sockets -timeout 20s || fail "exporter not serving"
nsx "$H" wait-http -url http://127.0.0.1:$AM_PORT/-/ready -timeout 30s || fail "alertmanager not ready"
nsx "$H" wait-http -url http://127.0.0.1:$PROM_PORT/-/ready -timeout 30s || fail "prometheus not ready"
nsx "$H" wait-http -url "http://127.0.0.1:$PROM_PORT/api/v1/query?query=up%7Bjob%3D%22timewait%22%7D%3D%3D1" \
  -contains '"value"' -timeout 30s || fail "prometheus does not scrape the exporter"

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

# ---------------------------------------------------------------- (b) alert
step "(b) TimeWaitEphemeralPortsExhausting must reach the webhook"
nsx "$H" wait-webhook -out "$TMP/webhook.jsonl" -alertname TimeWaitEphemeralPortsExhausting -severity critical \
  -contains "Busiest destination: 127.0.0.1:$OUT_PORT" -timeout 60s || fail "alert did not reach the webhook"

# It was pending for its for: window (5 s at 1 s evaluation) before it fired.
pending='count_over_time(ALERTS{alertname="TimeWaitEphemeralPortsExhausting",severity="critical",alertstate="pending"}[3m]) >= 4'
nsx curl -sf -G --data-urlencode "query=$pending" http://127.0.0.1:$PROM_PORT/api/v1/query | grep -q '"result":\[{' ||
  fail "the alert was not pending for its for: window before firing"
echo "alert was pending >= 4 evaluations before firing (for: 5s)"

# ---------------------------------------------------------------- (a) dashboards
step "(a) every dashboard panel query returns data"
# rate() windows need a few scrapes; the storm has run for several seconds by now.
nsx "$TMP/dashq" query -dir "$ROOT/dashboards" -prometheus http://127.0.0.1:$PROM_PORT \
  -var job=timewait -var instance=127.0.0.1:$EXPORTER_PORT -var __rate_interval=10s -window 60s \
  >"$TMP/dashboards.log" 2>&1
q=$?
grep -v '^ok ' "$TMP/dashboards.log"
[ "$q" -eq 0 ] || fail "dashboard queries without data (see above)"
# again with a netns label on the series and one namespace selected
nsx "$TMP/dashq" query -dir "$ROOT/dashboards" -prometheus http://127.0.0.1:$PROM_PORT \
  -var job=timewait-netns -var instance=127.0.0.1:$EXPORTER_PORT -var netns=sim-ns -var __rate_interval=10s -window 60s \
  >"$TMP/dashboards-netns.log" 2>&1
q=$?
grep -v '^ok ' "$TMP/dashboards-netns.log" | sed 's/^dashboard queries:/dashboard queries (netns=sim-ns):/'
[ "$q" -eq 0 ] || fail "dashboard queries without data with a netns label (see above)"

# Every alert template expanded and every rule evaluated without error.
if grep -E 'level=(warn|error)' "$TMP/prometheus.log" | grep -iE 'template|rule'; then
  fail "prometheus logged rule or template errors (above)"
fi

RC=0
echo "alerts_e2e: 2 passed, 0 failed"
