#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of per-destination pressure through the built binary
# (./timewait_exporter) and its config file, in a throwaway network
# namespace with tcp_tw_reuse=0 and a 1000-port ephemeral range:
# - 800 client-closed connections to 127.0.0.1:28000 (named "api" in the
#   config): its ratio in /metrics equals `ss dst` / 1000 (+-1%), and it is
#   the max ratio;
# - an IPv6 destination is labelled [::1]:28200;
# - 200 server-closed connections land under local port 27000 and
#   direction="inbound";
# - top_n 3 over 8 unnamed destinations: 3 exported, 5 dropped; a named
#   destination nobody talks to is exported at 0.
# Builds tools/twgen (go) into a temporary directory. Needs root, ip, ss,
# curl, go.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init pressure_e2e 180 10 "ip netns" go ip ss curl -- "$@"
tw_exporter
bin=$EXPORTER

ns=tw-pressure-$$
NAMESPACES=("$ns")
work=$TMP
tw_on_failure() {
  [ -f "$work/metrics" ] && { echo "--- pressure metrics" >&2; grep -E '^timewait_(destination|ephemeral|local_port|time_wait|pressure)' "$work/metrics" >&2; }
  [ -f "$work/exporter.log" ] && { echo "--- exporter log" >&2; cat "$work/exporter.log" >&2; }
}
in_ns() { ip netns exec "$ns" "$@"; }
val() { awk -v m="$1" '$1 == m { print $2 }' "$work/metrics"; }
# Scrape from local port 40000, outside the ephemeral range, so the scrape's
# own connection is not an outbound destination.
scrape() { in_ns curl -fsS --max-time 10 --local-port 40000 "http://127.0.0.1:9966/metrics" >"$work/metrics" || fail "scrape failed"; }
# twgen in the background, holding its listeners; waits until its
# connections are all closed.
twgen() {
  local log=$work/twgen.$RANDOM
  ip netns exec "$ns" "$work/twgen" -hold 60s "$@" 2>"$log" &
  PIDS+=($!)
  for _ in $(seq 300); do
    grep -q 'connections closed' "$log" && { cat "$log"; return; }
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$log" >&2; fail "twgen $* exited"; }
    sleep 0.1
  done
  fail "twgen $* did not finish"
}

go build -o "$work/twgen" ./tools/twgen
ip netns add "$ns"
in_ns ip link set lo up
in_ns sysctl -qw net.ipv4.tcp_tw_reuse=0

cat >"$work/config.yml" <<'YAML'
destinations:
  - name: api
    address: 127.0.0.1:28000
  - name: idle
    address: 192.0.2.1:9
ports: [27000]
top_n: 3
YAML
ip netns exec "$ns" "$bin" --web.listen-address=127.0.0.1:9966 --config.file="$work/config.yml" >"$work/exporter.log" 2>&1 &
PIDS+=($!)

# Server-closed load first, while client ports come from the default range.
twgen -side server -n 200 -ports 1 -base 27000
in_ns sysctl -qw net.ipv4.ip_local_port_range="50000 50999"
twgen -n 800 -ports 1 -base 28000
twgen -n 42 -ports 7 -base 28100     # 7 small IPv4 destinations, 6 each
twgen -addr ::1 -n 50 -ports 1 -base 28200
sleep 0.2

n_main=$(in_ns ss -Htan dst 127.0.0.1:28000 | wc -l)
n_in=$(in_ns ss -Htan state time-wait sport = :27000 | wc -l)
n_v6=$(in_ns ss -Htan state time-wait dst '[::1]:28200' | wc -l)
scrape
[ "$(val 'timewait_scrape_collector_success{collector="sockets"}')" = 1 ] || fail "sockets collector failed"
[ "$(val timewait_ephemeral_ports_usable)" = 1000 ] || fail "usable ports $(val timewait_ephemeral_ports_usable), want 1000"
ratio=$(val 'timewait_destination_ephemeral_port_utilization_ratio{destination="127.0.0.1:28000",name="api"}')
maxr=$(val timewait_ephemeral_port_utilization_max_ratio)
echo "api: ss $n_main sockets -> $(awk -v n="$n_main" 'BEGIN { print n / 1000 }'), exporter ratio $ratio, max $maxr"
[ "$n_main" -ge 790 ] || fail "setup: ss sees $n_main sockets to 127.0.0.1:28000"
awk -v r="$ratio" -v n="$n_main" 'BEGIN { d = r - n / 1000; exit !(d <= 0.01 && d >= -0.01) }' || fail "ratio $ratio != $n_main/1000"
[ "$maxr" = "$ratio" ] || fail "max ratio $maxr is not the api destination's $ratio"

v6=$(val 'timewait_destination_time_wait_sockets{destination="[::1]:28200",name=""}')
echo "[::1]:28200: ss $n_v6 TIME_WAIT, exporter ${v6:-missing}"
[ -n "$v6" ] && [ $((v6 - n_v6)) -le 2 ] && [ $((n_v6 - v6)) -le 2 ] || fail "IPv6 destination: exporter '${v6}', ss $n_v6"

port=$(val 'timewait_local_port_time_wait_sockets{port="27000"}')
inbound=$(val 'timewait_time_wait_sockets{direction="inbound"}')
echo "port 27000: ss $n_in server-side TIME_WAIT, exporter $port, inbound $inbound"
[ "$n_in" -ge 195 ] || fail "setup: ss sees $n_in server-side TIME_WAIT"
[ $((port - n_in)) -le 2 ] && [ $((n_in - port)) -le 2 ] || fail "local port 27000: exporter $port, ss $n_in"
[ "$inbound" = "$port" ] || fail "inbound $inbound != port 27000's $port"

unnamed=$(grep -c '^timewait_destination_time_wait_sockets{destination="[^"]*",name=""}' "$work/metrics" || true)
dropped=$(val 'timewait_pressure_series_dropped{kind="destination"}')
echo "top_n 3: $unnamed unnamed destination series, $dropped dropped"
[ "$unnamed" = 3 ] || fail "want 3 unnamed destination series, got $unnamed"
[ "$dropped" = 5 ] || fail "want 5 dropped destinations (8 unnamed - 3), got $dropped"
grep -q '^timewait_destination_time_wait_sockets{destination="192.0.2.1:9",name="idle"} 0$' "$work/metrics" || fail "named idle destination not exported at 0"
grep -q '^timewait_destination_time_wait_sockets{destination="\[::1\]:28200",name=""}' "$work/metrics" || fail "the busiest unnamed destination [::1]:28200 is not in the top 3"
echo "pressure_e2e: ok"
RC=0
