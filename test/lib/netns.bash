# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The layer over test/lib/prelude.bash (sourced here first) for the
# end-to-end tests that run in throwaway named network namespaces (ip
# netns). A test sources this instead of the prelude and starts as the
# prelude says (tw_init ...). Defined here: nsx (a command in namespace
# $NS), tw_netns and tw_scene (a namespace, an exporter's port and URL),
# tw_copy_proc, the pod cgroup helpers (tw_pod_cgroups, tw_in_cgroup,
# tw_rm_cgroups), tw_rules, and a default tw_on_failure that prints the tail
# of $TMP/exporter.log.

# shellcheck source=test/lib/prelude.bash
. "${BASH_SOURCE[0]%/*}/prelude.bash"

nsx() { ip netns exec "$NS" "$@"; }

# tw_netns PREFIX creates namespace $NS, PREFIX-<pid>, with its loopback
# up; the cleanup deletes it.
tw_netns() {
  NS=$1-$$
  NAMESPACES+=("$NS")
  ip netns add "$NS" || fail "ip netns add $NS"
  nsx ip link set lo up || fail "loopback up in $NS"
}

# tw_scene PREFIX PORT: the opening of a test around one exporter in its
# own namespace: tw_netns PREFIX, PORT and URL where the exporter is to
# listen (on failure, the default tw_on_failure prints the tail of its log,
# $TMP/exporter.log).
tw_scene() {
  tw_netns "$1"
  PORT=$2
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

# tw_pod_cgroups NAME: two cgroups under the cgroup2 mount's NAME-<pid>
# (CGTEST, removed on exit) shaped as the kubelet makes a pod's: CG1 (systemd
# driver, burstable) of pod UID1 and CG2 (cgroupfs driver, besteffort) of
# pod UID2, each a container's (it defines tw_on_exit). Skips the test
# without cgroup2.
tw_pod_cgroups() {
  local root cid=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  root=$(awk '$0 ~ / - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
  [ -n "$root" ] || skip "no cgroup2 mount"
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
