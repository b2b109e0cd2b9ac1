#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The default mode works without privilege, as the Dockerfile, the DaemonSet
# and the systemd unit run it: as nobody:nogroup, with no capabilities (none
# effective, none in the bounding set), no_new_privs, in a private network
# namespace of its own (loopback only). Asserts:
# - every collector succeeds (timewait_scrape_collector_success == 1 for all,
#   and all four default collectors are there): /proc/net/{sockstat,sockstat6,
#   netstat,snmp} and /proc/sys/net/ipv4/* are readable;
# - the sock_diag dump works unprivileged: the exporter's own listener is
#   counted, and the TIME_WAIT count equals what `ss` (as root) sees;
# - the process really ran as uid 65534 with CapEff 0 and NoNewPrivs 1.
# Needs ./timewait_exporter (make build), unshare, setpriv, ip, ss, curl.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init deploy_nonroot 120 10 "the namespace and dropping to nobody" unshare setpriv ip ss curl -- "$@"
tw_exporter

work=$TMP
chmod 755 "$work"                   # nobody must reach the binary
install -m 755 "$EXPORTER" "$work/timewait_exporter"
cp test/lib/inner.bash "$work/"

drop=(setpriv --reuid=nobody --regid=nogroup --clear-groups
      --inh-caps=-all --bounding-set=-all --no-new-privs)

echo "--- --version as nobody"
"${drop[@]}" "$work/timewait_exporter" --version

cat >"$work/inner.sh" <<'INNER'
work=$1; shift
drop=("$@")
source "$work/inner.bash"
sysctl -qw net.ipv4.tcp_tw_reuse=0     # keep TIME_WAIT counts from drifting
"${drop[@]}" "$work/timewait_exporter" --web.listen-address=127.0.0.1:9966 >"$work/exporter.log" 2>&1 &
pid=$!
pids+=("$pid")
for _ in $(seq 50); do
  curl -fsS -o /dev/null http://127.0.0.1:9966/-/healthy 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/exporter.log" >&2; fail "exporter exited"; }
  sleep 0.1
done
# Each curl closes first, so its side of the connection enters TIME_WAIT.
for _ in $(seq 5); do curl -fsS -o /dev/null http://127.0.0.1:9966/-/healthy; done

st=/proc/$pid/status
grep -q '^Uid:[[:space:]]*65534[[:space:]]65534[[:space:]]65534[[:space:]]65534$' "$st" || fail "not running as nobody: $(grep ^Uid "$st")"
grep -q '^CapEff:[[:space:]]*0000000000000000$' "$st" || fail "has effective capabilities: $(grep ^CapEff "$st")"
grep -q '^CapBnd:[[:space:]]*0000000000000000$' "$st" || fail "bounding set not empty: $(grep ^CapBnd "$st")"
grep -q '^NoNewPrivs:[[:space:]]*1$' "$st" || fail "no_new_privs not set"

tw_ss=$(ss -Htan state time-wait | wc -l)
curl -fsS http://127.0.0.1:9966/metrics >"$work/metrics"
grep '^timewait_scrape_collector_success' "$work/metrics"

n=$(grep -c '^timewait_scrape_collector_success{' "$work/metrics" || true)
[ "$n" -ge 4 ] || fail "want at least 4 collectors, got $n"
for c in netstat sockets sockstat sysctl; do
  grep -q "^timewait_scrape_collector_success{collector=\"$c\"} 1$" "$work/metrics" || fail "collector $c did not succeed as nobody"
done
if grep '^timewait_scrape_collector_success{' "$work/metrics" | grep -qv ' 1$'; then
  fail "a collector failed as nobody"
fi
val() { awk -v m="$1" '$1 == m { print $2 }' "$work/metrics"; }
listen=$(val 'timewait_tcp_sockets{family="ipv4",state="listen"}')
tw=$(val 'timewait_tcp_sockets{family="ipv4",state="time_wait"}')
echo "sock_diag as nobody: listen=$listen time_wait=$tw (ss as root: time_wait=$tw_ss)"
[ "${listen:-0}" -ge 1 ] || fail "sock_diag did not see the exporter's own listener"
[ "$tw_ss" -ge 5 ] || fail "test setup: expected >= 5 TIME_WAIT sockets, ss sees $tw_ss"
[ "${tw:-x}" = "$tw_ss" ] || fail "TIME_WAIT via sock_diag as nobody ($tw) != ss ($tw_ss)"
for m in timewait_sockstat_tw_sockets timewait_tcp_active_opens_total timewait_sysctl_tcp_max_tw_buckets timewait_sysctl_ip_local_port_range_start; do
  [ -n "$(val "$m")" ] || fail "$m missing: its /proc source was not read"
done
if grep -Eiq 'level=(error|warn)' "$work/exporter.log"; then
  cat "$work/exporter.log" >&2; fail "exporter logged errors or warnings as nobody"
fi
INNER

echo "--- exporter as nobody, no capabilities, in a private network namespace"
timeout 60 unshare --net bash "$work/inner.sh" "$work" "${drop[@]}" || fail "as nobody in a private network namespace"
echo "deploy_nonroot: ok"
RC=0
