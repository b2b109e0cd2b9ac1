# SPDX-License-Identifier: Apache-2.0
# Shared set-up of the end-to-end tests that run in throwaway named network
# namespaces (ip netns): a hard time bound, the root and tool checks, and a
# cleanup that stops what the test started, deletes its namespaces and keeps
# what a failed run wants kept. Not a test itself (`make e2e` runs
# test/*.sh). At the top of a test:
#
#   set -uo pipefail
#   . "$(dirname "$0")/lib/netns.bash"
#   tw_init NAME SECONDS KILL_AFTER WHY TOOL... -- "$@"
#
# The test then sets NAMESPACES (to delete; `ip netns pids` of each are
# killed) and TMP, adds what it starts to PIDS, may set TW_GRACE (seconds
# between TERM and KILL of PIDS), define tw_on_failure and tw_on_exit (run
# always, after the namespaces' processes are killed), and ends with
# RC=0. fail, nsx (in namespace $NS), tw_netns, tw_copy_proc, step,
# tw_exporter and the cgroup helpers (tw_pod_cgroups, tw_in_cgroup,
# tw_rm_cgroups) and tw_rules are defined here.

# tw_init changes to the repository root, re-executes the script under
# `timeout -k KILL_AFTER SECONDS` (once: NAME_INNER marks the inner run),
# skips without root (WHY says what root is for), fails without one of the
# TOOLs, and installs the cleanup.
tw_init() {
  TW_NAME=$1
  local secs=$2 kill=$3 why=$4 inner t self
  shift 4
  self=$(realpath "$0")
  cd "$(dirname "$self")/.." || exit 1
  inner=${TW_NAME^^}_INNER
  local tools=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do tools+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  if [ -z "${!inner:-}" ]; then
    exec timeout -k "$kill" "$secs" env "$inner=1" bash "$self" "$@"
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "$TW_NAME: SKIP (needs root for $why)"; exit 0
  fi
  for t in "${tools[@]}"; do
    command -v "$t" >/dev/null || { echo "$TW_NAME: $t not found (run make deps)"; exit 1; }
  done
  PIDS=()
  NAMESPACES=()
  TMP=""
  TW_GRACE=""
  RC=1
  trap tw_cleanup EXIT
  trap 'echo "$TW_NAME: interrupted or over time"; RC=1; exit 1' INT TERM
}

tw_cleanup() {
  local p n
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [ -n "$TW_GRACE" ]; then
    sleep "$TW_GRACE"
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  fi
  for n in "${NAMESPACES[@]}"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
  done
  if declare -F tw_on_exit >/dev/null; then
    tw_on_exit # what the test made outside its namespaces (cgroups), once their processes are gone
  fi
  if [ "$RC" -ne 0 ] && declare -F tw_on_failure >/dev/null; then
    tw_on_failure
  fi
  [ -z "$TMP" ] || rm -rf "$TMP"
  exit "$RC"
}

fail() { echo "$TW_NAME: FAIL: $*"; RC=1; exit 1; }

# tw_exporter sets EXPORTER: the binary `make build` made (make e2e builds
# it first), or, when the script runs alone without it, one built in $TMP.
tw_exporter() {
  EXPORTER=$PWD/timewait_exporter
  if [ ! -x "$EXPORTER" ]; then
    EXPORTER=$TMP/timewait_exporter
    CGO_ENABLED=0 go build -o "$EXPORTER" . || fail "go build of the exporter"
  fi
}
nsx() { ip netns exec "$NS" "$@"; }

# tw_netns PREFIX creates namespace $NS, PREFIX-<pid>, with its loopback
# up; the cleanup deletes it.
tw_netns() {
  NS=$1-$$
  NAMESPACES+=("$NS")
  ip netns add "$NS" || fail "ip netns add $NS"
  nsx ip link set lo up || fail "loopback up in $NS"
}

# tw_scene NAME PREFIX PORT: the opening of a test around one exporter in
# its own namespace: tw_netns PREFIX, TMP a fresh /tmp/NAME.XXXXXX, PORT and
# URL where the exporter is to listen, and on failure the tail of its log
# ($TMP/exporter.log).
tw_scene() {
  tw_netns "$2"
  TMP=$(mktemp -d "/tmp/$1.XXXXXX") || fail "mktemp"
  PORT=$3
  URL=http://127.0.0.1:$PORT
}
tw_on_failure() { [ -f "$TMP/exporter.log" ] && { echo "--- exporter log (tail)"; tail -20 "$TMP/exporter.log"; }; }

# tw_copy_proc DIR copies namespace $NS's proc files into a tree for
# --path.procfs: the four net/ files the collectors parse, every readable
# sysctl under net/ipv4.
tw_copy_proc() {
  local f
  mkdir -p "$1/net" "$1/sys/net/ipv4"
  for f in sockstat sockstat6 netstat snmp; do nsx cat "/proc/net/$f" >"$1/net/$f" || fail "copy /proc/net/$f"; done
  for f in /proc/sys/net/ipv4/*; do
    [ -f "$f" ] || continue
    nsx cat "$f" >"$1/sys/net/ipv4/${f##*/}" 2>/dev/null || rm -f "$1/sys/net/ipv4/${f##*/}"
  done
}
step() { echo "--- $(date -u +%T) $*"; }

# tw_pod_cgroups NAME: two cgroups under the cgroup2 mount's NAME-<pid>
# (CGTEST, removed on exit) shaped as the kubelet makes a pod's: CG1 (systemd
# driver, burstable) of pod UID1 and CG2 (cgroupfs driver, besteffort) of
# pod UID2, each a container's (it defines tw_on_exit). Skips the test
# without cgroup2.
tw_pod_cgroups() {
  local root cid=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  root=$(awk '$0 ~ / - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
  [ -n "$root" ] || { echo "$TW_NAME: SKIP (no cgroup2 mount)"; RC=0; exit 0; }
  UID1=5f2c9d3e-8a41-4b6e-9c0d-$(printf '%012x' $$)
  UID2=0a1b2c3d-4e5f-4a6b-8c7d-$(printf '%012x' $$)
  CGTEST=$root/$1-$$
  CG1=$CGTEST/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID1//-/_}.slice/cri-containerd-$cid.scope
  CG2=$CGTEST/kubepods/besteffort/pod$UID2/$cid
  tw_on_exit() { tw_rm_cgroups "$CGTEST"; }
  mkdir -p "$CG1" "$CG2" || fail "mkdir under $root"
}

# tw_in_cgroup NETNS CGROUP LOG CMD...: CMD in network namespace NETNS and
# in CGROUP from its start (a pod's process, as the kubelet places it),
# output appended to LOG, its pid added to PIDS. ip netns exec mounts a
# sysfs of the namespace over /sys, so the process stops itself and is
# moved from out here, then goes on to exec CMD.
tw_in_cgroup() {
  local n=$1 cg=$2 log=$3 pid
  shift 3
  ip netns exec "$n" sh -c 'kill -STOP $$; exec "$@"' sh "$@" >>"$log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ] && break
    sleep 0.05
  done
  echo "$pid" >"$cg/cgroup.procs" || fail "move $pid into $cg"
  kill -CONT "$pid"
}

# tw_rm_cgroups DIR: removes the cgroup tree DIR (in tw_on_exit: the
# killed processes leave their cgroups as they are reaped).
tw_rm_cgroups() {
  local d
  for _ in $(seq 50); do
    while read -r d; do rmdir "$d" 2>/dev/null; done < <(find "$1" -depth -type d 2>/dev/null)
    [ -d "$1" ] || return 0
    sleep 0.1
  done
  echo "$TW_NAME: could not remove $1"
}

# tw_rules OVERRIDE: $TMP/rules.yml, the mixin's rules rendered with the
# jsonnet OVERRIDE of _config (shorter for: windows, another selector).
tw_rules() {
  printf '%s\n' "$1" >"$TMP/override.jsonnet"
  (cd mixin && go run ./render -patch "$TMP/override.jsonnet" -out "$TMP/r" -only deploy/prometheus/rules/timewait.rules.yml) &&
    cp "$TMP/r/deploy/prometheus/rules/timewait.rules.yml" "$TMP/rules.yml" || fail "mixin render"
}
