# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Helpers of the tests that run exporters with --netns.discover among many
# named namespaces (netns_busy.sh, netns_growth.sh), sourced after
# test/lib/netns.bash: the exporters run in namespace $OWN and select the
# test's namespaces with an include filter.

# tw_named_ns NAME: named namespace NAME with its loopback up, deleted on exit.
tw_named_ns() {
  ip netns add "$1" || fail "ip netns add $1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up || fail "loopback up in $1"
}

# tw_discovering_exporter NAME PORT CONFIG: $EXPORTER (./timewait_exporter
# if unset) with --netns.discover and --config.file=CONFIG in namespace
# $OWN on 127.0.0.1:PORT, logging to $TMP/exporter-NAME.log; its pid is in
# PIDS and PID_NAME. Returns once it answers /-/healthy.
tw_discovering_exporter() {
  ip netns exec "$OWN" "${EXPORTER:-./timewait_exporter}" --web.listen-address="127.0.0.1:$2" --netns.discover \
    --config.file="$3" >"$TMP/exporter-$1.log" 2>&1 &
  PIDS+=($!)
  printf -v "PID_$1" %s $!
  for _ in $(seq 100); do
    ip netns exec "$OWN" curl -fsS -o /dev/null "http://127.0.0.1:$2/-/healthy" 2>/dev/null && return
    sleep 0.05
  done
  fail "exporter ($1) did not start"
}
