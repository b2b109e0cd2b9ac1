#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of the built binary (./timewait_exporter, from make build)
# in a throwaway network namespace:
# - GET /metrics over HTTP: every collector succeeds, the core metrics are
#   there, and the TIME_WAIT count equals what ss sees in the namespace
#   (promtool's metric lint runs in-process: TestMetricsLint in collector/,
#   TestSelfMetricsLint in main);
# - /-/healthy and the landing page answer; GET /-/reload is refused (405);
# - --config.check: 0 on config/example.yml, 1 with line-numbered errors on
#   a bad file;
# - reload end to end: good config -> bad file + POST /-/reload (500,
#   last_reload_successful 0, the old named destination still exported) ->
#   good file + SIGHUP (last_reload_successful 1, the new name appears).
# Needs root, ip, ss, curl.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init core_e2e 120 10 "ip netns" ip ss curl -- "$@"
tw_exporter
bin=$EXPORTER

ns=tw-core-$$
NAMESPACES=("$ns")
work=$TMP
tw_on_failure() { [ -f "$work/exporter.log" ] && { echo "--- exporter log" >&2; cat "$work/exporter.log" >&2; }; }
in_ns() { ip netns exec "$ns" "$@"; }
url=http://127.0.0.1:9966
scrape() { in_ns curl -fsS --max-time 10 "$url/metrics" >"$work/metrics" || fail "scrape failed"; }
val() { awk -v m="$1" '$1 == m { print $2 }' "$work/metrics"; }

echo "--- --config.check"
out=$("$bin" --config.check --config.file=config/example.yml 2>&1) || fail "--config.check rejects config/example.yml: $out"
echo "$out"
cat >"$work/bad.yml" <<'YAML'
destinations:
  - name: postgres
    address: 10.0.0.5
top_n: 5
unknown_key: 1
YAML
set +e
out=$("$bin" --config.check --config.file="$work/bad.yml" 2>&1); rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || fail "--config.check on a bad file exited $rc, want 1"
grep -q 'line 3: destinations\[0\].address: "10.0.0.5" is missing a port' <<<"$out" || fail "no line-numbered address error"
grep -q 'line 5: unknown_key' <<<"$out" || fail "no line-numbered unknown-key error"

echo "--- exporter in netns $ns"
ip netns add "$ns"
in_ns ip link set lo up
in_ns sysctl -qw net.ipv4.tcp_tw_reuse=0
cat >"$work/config.yml" <<'YAML'
destinations:
  - name: first
    address: 127.0.0.1:1111
top_n: 5
YAML
# ip netns exec execs the binary itself (no fork), so $! is the exporter.
ip netns exec "$ns" "$bin" --web.listen-address=127.0.0.1:9966 --config.file="$work/config.yml" >"$work/exporter.log" 2>&1 &
pid=$!
PIDS+=("$pid")
for _ in $(seq 50); do
  in_ns curl -fsS -o /dev/null "$url/-/healthy" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || fail "exporter exited"
  sleep 0.1
done
[ "$(in_ns curl -fsS "$url/-/healthy")" = "OK" ] || fail "/-/healthy did not answer OK"
landing=$(in_ns curl -fsS "$url/")
grep -q 'TIME_WAIT Exporter' <<<"$landing" || fail "landing page has no title"
grep -q 'href="/metrics"' <<<"$landing" || fail "landing page does not link /metrics"
# No pprof is served, so the page must not link to it (exporter-toolkit's
# landing page does unless told not to).
! grep -q 'href="[^"]*pprof' <<<"$landing" || fail "landing page links pprof, which is not served"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' "$url/-/reload")
[ "$code" = 405 ] || fail "GET /-/reload answered $code, want 405"

# Some TIME_WAIT sockets: each curl closes first.
for _ in $(seq 20); do in_ns curl -fsS -o /dev/null "$url/-/healthy"; done
sleep 0.2

echo "--- /metrics"
tw_before=$(in_ns ss -Htan state time-wait | wc -l)
scrape
tw_after=$(in_ns ss -Htan state time-wait | wc -l)
for c in netstat sockets sockstat sysctl; do
  [ "$(val "timewait_scrape_collector_success{collector=\"$c\"}")" = 1 ] || fail "collector $c did not succeed"
done
tw=$(( $(val 'timewait_tcp_sockets{family="ipv4",state="time_wait"}') + $(val 'timewait_tcp_sockets{family="ipv6",state="time_wait"}') ))
echo "time_wait: exporter $tw, ss $tw_before (before) $tw_after (after)"
[ "$tw_before" -ge 20 ] || fail "setup: only $tw_before TIME_WAIT sockets"
[ "$tw" -ge $((tw_before < tw_after ? tw_before : tw_after)) ] && [ "$tw" -le $((tw_before > tw_after ? tw_before : tw_after)) ] \
  || fail "exporter time_wait $tw outside ss $tw_before..$tw_after"
[ "$(val timewait_sysctl_tcp_tw_reuse)" = 0 ] || fail "timewait_sysctl_tcp_tw_reuse is not the namespace's 0"
for m in timewait_sockstat_tw_sockets timewait_tcpext_tcp_time_wait_overflow_total timewait_ephemeral_ports_usable \
         timewait_ephemeral_port_utilization_max_ratio timewait_exporter_build_info; do
  grep -q "^$m[ {]" "$work/metrics" || fail "$m missing"
done
grep -q '^timewait_destination_time_wait_sockets{destination="127.0.0.1:1111",name="first"} 0$' "$work/metrics" \
  || fail "named destination first not exported at 0"

echo "--- every timewait_ HELP of the real scrape: one sentence, at most 120 characters"
# TestHelpTexts checks the collectors' texts; this also covers main.go's.
long=$(awk '$1 == "#" && $2 == "HELP" && $3 ~ /^timewait_/ {
  h = $0; sub(/^# HELP [^ ]+ /, "", h)
  if (length(h) > 120 || h !~ /\.$/ || h ~ /\. [A-Z]/) print $3 ": " h }' "$work/metrics")
[ -z "$long" ] || fail "HELP texts too long or more than one sentence: $long"

echo "--- reload: bad file over HTTP"
[ "$(val timewait_exporter_config_last_reload_successful)" = 1 ] || fail "last_reload_successful not 1 at start"
cp "$work/bad.yml" "$work/config.yml"
code=$(in_ns curl -s -o "$work/reload.out" -w '%{http_code}' -X POST "$url/-/reload")
cat "$work/reload.out"
[ "$code" = 500 ] || fail "POST /-/reload of a bad file answered $code, want 500"
grep -q 'line 3' "$work/reload.out" || fail "reload error does not name the line"
scrape
[ "$(val timewait_exporter_config_last_reload_successful)" = 0 ] || fail "last_reload_successful not 0 after a bad reload"
grep -q '^timewait_destination_time_wait_sockets{destination="127.0.0.1:1111",name="first"} ' "$work/metrics" \
  || fail "the old config's destination is gone after a failed reload"
ok_ts=$(val timewait_exporter_config_last_reload_success_timestamp_seconds)

echo "--- reload: good file with SIGHUP"
cat >"$work/config.yml" <<'YAML'
destinations:
  - name: second
    address: "[::1]:2222"
top_n: 5
YAML
sleep 1.1 # so the success timestamp must move
kill -HUP "$pid"
for _ in $(seq 50); do
  scrape
  [ "$(val timewait_exporter_config_last_reload_successful)" = 1 ] && break
  sleep 0.1
done
[ "$(val timewait_exporter_config_last_reload_successful)" = 1 ] || fail "last_reload_successful not 1 after SIGHUP with a good file"
grep -q '^timewait_destination_time_wait_sockets{destination="\[::1\]:2222",name="second"} 0$' "$work/metrics" \
  || fail "the new named destination is not exported"
if grep -q 'name="first"' "$work/metrics"; then fail "the old named destination is still exported"; fi
new_ts=$(val timewait_exporter_config_last_reload_success_timestamp_seconds)
awk -v a="$ok_ts" -v b="$new_ts" 'BEGIN { exit !(b > a) }' || fail "success timestamp did not move ($ok_ts -> $new_ts)"
kill -0 "$pid" 2>/dev/null || fail "exporter died"
unexpected=$(grep -E 'level=(ERROR|WARN)' "$work/exporter.log" | grep -v 'msg="Error reloading config' || true)
[ -z "$unexpected" ] || fail "exporter logged errors other than the expected failed reload: $unexpected"
[ "$(grep -c 'msg="Error reloading config' "$work/exporter.log")" = 1 ] || fail "the failed reload was not logged exactly once"
echo "core_e2e: ok"
RC=0
