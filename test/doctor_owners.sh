#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The doctor names who churns connections (issue 22), with the real binary
# and real processes in two throwaway network namespaces (tcp_tw_reuse=0,
# so no TIME_WAIT socket leaves early), each with a server (tools/churn
# -serve) and four clients: tools/churn under four names (symlinks, so
# each has its own comm), run at once for about 14 s:
#   tw-steady   50 closes/s to :PORT1, holding 2 idle connections
#   tw-bursty   150 closes at once every 4 s to :PORT2, holding 2
#   tw-idle     5 idle connections to :PORT3, no closes
#   tw-oneshot  20 closes/s to :PORT4, no live connection
# 1. In namespace A, `doctor --output=json` from inside it: each of the
#    first three destinations names the right pid and comm (with its live
#    sockets), the fourth says "no live socket" with its rate; each rate is
#    within 10 % of the rate the client logged (its closes from the first
#    to the snapshot, over that span), tw-steady is steady and tw-bursty a
#    burst.
# 2. In namespace B, the clients run in kubelet-shaped cgroups (steady and
#    idle in pod 1, systemd driver; bursty in pod 2, cgroupfs driver) and
#    the doctor runs from the host with --netns.discover, as a DaemonSet
#    does: the same checks, and each owner's pod (uid, namespace and name
#    from a /var/log/pods-shaped directory) and container are named.
#    In B also tw-mover, 3 idle connections to :7205, made in one cgroup
#    and moved to another before the doctor runs: the lookup reads the
#    processes of the live sockets' cgroups first and stops once every
#    live socket has a holder, so a holder outside them must still be
#    found, by reading on (it is named, with its pid); the lookup read
#    the cgroups' processes first (owner_lookup.processes_in_cgroups).
#    The same doctor again, started with unshare -C from a pod-shaped
#    cgroup of its own (a DaemonSet's private cgroup namespace): the same
#    checks, pods named and the sockets' cgroups read first.
# 3. In namespace A as nobody without CAP_SYS_PTRACE: no failure, the
#    owners are "needs CAP_SYS_PTRACE".
# The text report of 2 is printed. Needs root, go, ip, jq, setpriv, cgroup2.
# About 30 s.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init doctor_owners 120 10 "ip netns, sysctl and cgroups" go ip jq setpriv -- "$@"
chmod 755 "$TMP"
tw_exporter
ART=$PWD/test/artifacts/doctor_owners
tw_on_failure() {
  rm -rf "$ART"; mkdir -p "$ART"
  cp "$TMP"/*.json "$TMP"/*.txt "$TMP"/*.log "$ART"/ 2>/dev/null
  echo "doctor_owners: outputs kept in $ART"
}
CGO_ENABLED=0 go build -o "$TMP/churn" ./tools/churn || fail "go build tools/churn"
for n in tw-steady tw-bursty tw-idle tw-oneshot tw-mover; do ln -s churn "$TMP/$n"; done
tw_pod_cgroups tw-owners
mkdir -p "$TMP/pods/shop_cart-1_$UID1" "$TMP/pods/batch_report-2_$UID2"

declare -A PID
# scene NAME NETNS BASEPORT [CG_STEADY CG_BURSTY]: server and clients of one scene
scene() {
  local name=$1 ns=$2 base=$3 cgs=${4:-} cgb=${5:-} c
  ip netns add "$ns" || fail "ip netns add $ns"
  NAMESPACES+=("$ns")
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=0
  ip netns exec "$ns" "$TMP/churn" -serve "127.0.0.1:$((base+1)),127.0.0.1:$((base+2)),127.0.0.1:$((base+3)),127.0.0.1:$((base+4)),127.0.0.1:$((base+5))" >>"$TMP/$name-server.log" 2>&1 &
  PIDS+=($!)
  sleep 0.3
  start() { # start NAME-CLIENT CGROUP ARGS...
    local key=$1 cg=$2
    shift 2
    if [ -n "$cg" ]; then
      tw_in_cgroup "$ns" "$cg" "$TMP/$key.err" "$@"
      PID[$key]=${PIDS[-1]}
    else
      ip netns exec "$ns" "$@" 2>>"$TMP/$key.err" &
      PID[$key]=$!
      PIDS+=($!)
    fi
  }
  start "$name-steady" "$cgs" "$TMP/tw-steady" -dst "127.0.0.1:$((base+1))" -rate 50 -hold 2 -log "$TMP/$name-steady.log"
  start "$name-bursty" "$cgb" "$TMP/tw-bursty" -dst "127.0.0.1:$((base+2))" -burst 150 -every 4s -hold 2 -log "$TMP/$name-bursty.log"
  start "$name-idle" "$cgs" "$TMP/tw-idle" -dst "127.0.0.1:$((base+3))" -hold 5
  start "$name-oneshot" "" "$TMP/tw-oneshot" -dst "127.0.0.1:$((base+4))" -rate 20 -log "$TMP/$name-oneshot.log"
}
NSA=tw-owa-$$ NSB=tw-owb-$$
step "scenes: $NSA (plain), $NSB (pods)"
scene a "$NSA" 7100
scene b "$NSB" 7200 "$CG1" "$CG2"
mkdir "$CGTEST/mover-before" "$CGTEST/mover-after" || fail "mkdir the mover's cgroups"
tw_in_cgroup "$NSB" "$CGTEST/mover-before" "$TMP/b-mover.err" "$TMP/tw-mover" -dst 127.0.0.1:7205 -hold 3
PID[b-mover]=${PIDS[-1]}
for _ in $(seq 50); do # its 3 connections made in mover-before
  [ "$(ip netns exec "$NSB" ss -tnH state established dst 127.0.0.1:7205 | wc -l)" = 3 ] && break
  sleep 0.1
done
echo "${PID[b-mover]}" >"$CGTEST/mover-after/cgroup.procs" || fail "move tw-mover"
sleep 14

step "doctor in $NSA"
ip netns exec "$NSA" "$EXPORTER" doctor --output=json >"$TMP/a.json" 2>"$TMP/a.err"
[ $? -lt 3 ] || fail "doctor in $NSA could not run: $(cat "$TMP/a.err")"
step "doctor from the host, --netns.discover"
printf 'netns:\n  include: "^%s$"\n' "$NSB" >"$TMP/config.yml"
"$EXPORTER" doctor --netns.discover --config.file="$TMP/config.yml" --netns.pod-log-dir="$TMP/pods" --output=json >"$TMP/b.json" 2>"$TMP/b.err"
[ $? -lt 3 ] || fail "doctor with discovery could not run: $(cat "$TMP/b.err")"
"$EXPORTER" doctor --netns.discover --config.file="$TMP/config.yml" --netns.pod-log-dir="$TMP/pods" >"$TMP/b.txt" 2>&1
step "doctor from its own pod's cgroup in a cgroup namespace of its own (unshare -C), as a DaemonSet runs"
CGX=$CGTEST/kubepods/besteffort/pod-exporter/exporter
mkdir -p "$CGX" || fail "mkdir $CGX"
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec unshare -C "$@"' sh "$CGX" \
  "$EXPORTER" doctor --netns.discover --config.file="$TMP/config.yml" --netns.pod-log-dir="$TMP/pods" --output=json >"$TMP/cgns.json" 2>"$TMP/cgns.err"
[ $? -lt 3 ] || fail "doctor under unshare -C could not run: $(cat "$TMP/cgns.err")"
step "doctor in $NSA as nobody"
ip netns exec "$NSA" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$EXPORTER" doctor --output=json >"$TMP/nobody.json" 2>"$TMP/nobody.err"
[ $? -lt 3 ] || fail "doctor as nobody could not run: $(cat "$TMP/nobody.err")"

# flow FILE SCOPE-REGEX PORT: the owners finding's flow towards 127.0.0.1:PORT
flow() {
  jq -c --arg s "$2" --arg d "127.0.0.1:$3" \
    '[.findings[] | select(.rule == "owners" and (.scope | test($s))) | .flows[] | select(.destination == $d)][0] // empty' "$1"
}
# driven LOG SNAPTIME: closes/s the client logged from its first close to
# the snapshot (it started under 60 s ago, so every close is still in
# TIME_WAIT, and the doctor's window is that same span)
driven() {
  awk -v t="$2" '$1 <= t { n++; if (!first || $1 < first) first = $1 } END { printf "%.2f", n / ((t - first) / 1000) }' "$1"
}
within() { awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= r * b) }'; }

check() { # check NAME FILE SCOPE-REGEX BASEPORT POD? (NAME: scene[/run])
  local name=$1 file=$2 scope=$3 base=$4 pods=${5:-} scene=${1%%/*} snap f key want rate win drv
  snap=$(jq -r '.time' "$file" | xargs -I{} date -d {} +%s%3N)
  for key in steady bursty idle oneshot; do
    case $key in steady) port=$((base+1));; bursty) port=$((base+2));; idle) port=$((base+3));; oneshot) port=$((base+4));; esac
    f=$(flow "$file" "$scope" "$port")
    [ -n "$f" ] || fail "$name: no owners flow for 127.0.0.1:$port in $file"
    echo "$name $key: $(jq -c '{closes_per_second, window_seconds, shape, live_sockets, seconds_to_exhaustion, owners: [.owners[] | {pid, comm, live_sockets, container, pod_namespace, pod_name, pod_uid}], owner_unknown_reason}' <<<"$f")"
    if [ "$key" = oneshot ]; then
      [ "$(jq '.owners | length' <<<"$f")" = 0 ] && jq -e '.owner_unknown_reason | test("no live socket")' <<<"$f" >/dev/null ||
        fail "$name oneshot: want owner unknown (no live socket): $f"
    else
      want=${PID[$scene-$key]}
      [ "$(jq '.owners[0].pid' <<<"$f")" = "$want" ] && [ "$(jq -r '.owners[0].comm' <<<"$f")" = "tw-$key" ] ||
        fail "$name $key: owner is not pid $want tw-$key: $f"
    fi
    if [ "$key" != idle ]; then
      rate=$(jq '.closes_per_second' <<<"$f")
      win=$(jq '.window_seconds' <<<"$f")
      drv=$(driven "$TMP/$scene-$key.log" "$snap")
      echo "$name $key: measured $rate closes/s over $win s, driven $drv closes/s"
      within "$rate" "$drv" 0.10 || fail "$name $key: rate $rate/s not within 10 % of the driven $drv/s"
    fi
    case $key in
      steady|oneshot) jq -e '.shape == "steady"' <<<"$f" >/dev/null || fail "$name $key: not steady: $f";;
      bursty) jq -e '.shape == "burst"' <<<"$f" >/dev/null || fail "$name bursty: not a burst: $f";;
    esac
    if [ -n "$pods" ] && [ "$key" != oneshot ]; then
      case $key in bursty) uid=$UID2 pn=batch/report-2;; *) uid=$UID1 pn=shop/cart-1;; esac
      [ "$(jq -r '.owners[0] | "\(.pod_uid) \(.pod_namespace)/\(.pod_name) \(.container)"' <<<"$f")" = "$uid $pn 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" ] ||
        fail "$name $key: pod $uid $pn and its container not named: $f"
    fi
  done
}
check a "$TMP/a.json" '^$' 7100
echo "a lookup: $(jq -c '[.findings[] | select(.rule == "owners" and .scope == "") | .owner_lookup][0]' "$TMP/a.json")"
check b "$TMP/b.json" "^$NSB" 7200 pods
step "a holder that left its sockets' cgroup"
f=$(flow "$TMP/b.json" "^$NSB" 7205)
echo "b mover: $(jq -c '{live_sockets, owners: [.owners[] | {pid, comm, live_sockets}], owner_unknown_reason}' <<<"$f")"
[ "$(jq -c '[.owners[] | [.pid, .comm, .live_sockets]]' <<<"$f")" = "[[${PID[b-mover]},\"tw-mover\",3]]" ] ||
  fail "tw-mover (pid ${PID[b-mover]}, moved out of its sockets' cgroup) not named with its 3 connections: $f"
lookup=$(jq -c --arg s "^$NSB" '[.findings[] | select(.rule == "owners" and (.scope | test($s))) | .owner_lookup][0]' "$TMP/b.json")
echo "b lookup: $lookup"
jq -e '.processes_in_cgroups >= 3' <<<"$lookup" >/dev/null || fail "the lookup did not read the live sockets' cgroups first: $lookup"
step "the same from unshare -C: the pods named, the sockets' cgroups read first"
check b/cgns "$TMP/cgns.json" "^$NSB" 7200 pods
lookup=$(jq -c --arg s "^$NSB" '[.findings[] | select(.rule == "owners" and (.scope | test($s))) | .owner_lookup][0]' "$TMP/cgns.json")
echo "cgns lookup: $lookup"
jq -e '.processes_in_cgroups >= 3' <<<"$lookup" >/dev/null || fail "under unshare -C the lookup did not read the live sockets' cgroups first: $lookup"
step "as nobody"
f=$(flow "$TMP/nobody.json" '^$' 7101)
jq -e '.owner_unknown_reason == "needs CAP_SYS_PTRACE" and (.owners | length) == 0' <<<"$f" >/dev/null ||
  fail "as nobody: want owner unknown (needs CAP_SYS_PTRACE): $f"
echo "nobody: $(jq -c '{closes_per_second, owner_unknown_reason}' <<<"$f")"
step "text report (doctor --netns.discover)"
sed -n '/^\[INFO\] pid/,/^$/p' "$TMP/b.txt"
# the text run's rates against the clients' logs over the window it printed
# (its snapshot was that long after each client's first close)
flat=$(tr -s ' \n' ' ' <"$TMP/b.txt")
for key in steady bursty oneshot; do
  case $key in steady) port=7201;; bursty) port=7202;; oneshot) port=7204;; esac
  read -r rate win < <(grep -oE "127\.0\.0\.1:$port from 127\.0\.0\.1: [0-9.]+ closes/s over the last [0-9.]+ s" <<<"$flat" | awk '{print $4, $9}')
  [ -n "${win:-}" ] || fail "text report: no rate for 127.0.0.1:$port"
  drv=$(awk -v w="$win" 'NR == 1 { first = $1 } $1 <= first + w * 1000 { n++ } END { printf "%.2f", n / w }' "$TMP/b-$key.log")
  echo "text report, tw-$key: measured $rate closes/s over $win s, driven $drv closes/s"
  within "$rate" "$drv" 0.10 || fail "text report, tw-$key: rate $rate/s not within 10 % of the driven $drv/s"
done
RC=0
echo "doctor_owners: PASS"
