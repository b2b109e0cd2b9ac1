#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pods named from both cgroup viewpoints, on real cgroups: 120 network
# namespaces, each held by a process placed in a cgroup shaped as the kubelet
# or another runtime makes it, under cgroup v2 and the v1 hierarchies memory,
# pids and name=systemd: pods of the systemd and cgroupfs drivers in every QoS
# class, static pods (hash UIDs), the runc driver-mismatch form
# (<pod slice>:cri-containerd:<id>), and non-pods (docker, podman, a systemd
# service, a user session, containerd's k8s.io without a pod). The real
# exporter (--netns.discover, default cap, --netns.pod-log-dir on a
# /var/log/pods-shaped directory) must name every pod and no non-pod:
#  1. started from the host's cgroup namespace;
#  2. started with unshare -C from a pod-shaped cgroup, so that its cgroup
#     namespace is rooted at its own pod's container as in a DaemonSet: it
#     reads the cgroups from the host's namespace, and so names its own pod;
#  3. the same with setns(CLONE_NEWCGROUP) refused (seccomp, tools/nonetlink):
#     it reads the paths relative to its root (/../../../besteffort/pod<uid>/…);
#  4. from the host's, with max_namespaces = 1 + the pods: every pod is
#     visited and the non-pods are the ones dropped.
# Prints, per layout, the cgroup path of one holder from the host's view and
# from an unshare -C view, and the pod_uid the exporter read in runs 1-3.
# Needs root (cgroups, ip netns), go, unshare, curl. About 20 s.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init pods_cgroups 150 20 "cgroups and network namespaces" go ip unshare curl -- "$@"
NS=tw-pc-$$ # the exporter's own network namespace
NAMESPACES=("$NS")
TW_GRACE=0.3
PORT=9982
TEST=tw-pc-$$ # the test's cgroup in each hierarchy, below the script's own
PER_POD_LAYOUT=8 PER_OTHER_LAYOUT=2

# mountpoint TYPE [OPTION]: where the hierarchy of TYPE (cgroup2, or cgroup
# with OPTION among its super options) is mounted
mountpoint_of() {
  awk -v type="$1" -v opt="${2:-}" '{
    split($0, halves, " - "); split(halves[1], pre, " "); split(halves[2], post, " ")
    if (post[1] != type) next
    if (opt == "") { print pre[5]; exit }
    n = split(post[3], o, ","); for (i = 1; i <= n; i++) if (o[i] == opt) { print pre[5]; exit }
  }' /proc/self/mountinfo
}
# base TYPE [OPTION]: the test's cgroup directory in that hierarchy, below
# this script's own cgroup there (0:: for v2, the line naming OPTION for v1)
base() {
  local mnt own
  mnt=$(mountpoint_of "$@")
  [ -n "$mnt" ] || return 1
  own=$(awk -F: -v opt="${2:-}" '(opt == "" && $1 == "0") || (opt != "" && $2 == opt) { print $3; exit }' /proc/self/cgroup)
  echo "$mnt${own%/}/$TEST"
}
V2=$(base cgroup2) || skip "no cgroup2 mount"
V1=()
for c in memory pids name=systemd; do
  b=$(base cgroup "$c") || fail "no cgroup v1 $c hierarchy (this test needs the hybrid layout)"
  V1+=("$b")
done
BASES=("$V2" "${V1[@]}")
tw_on_exit() { # the killed processes leave their cgroups as they are reaped
  local b d left
  for _ in $(seq 50); do
    left=0
    for b in "${BASES[@]}"; do
      while read -r d; do rmdir "$d" 2>/dev/null; done < <(find "$b" -depth -type d 2>/dev/null)
      [ ! -d "$b" ] || left=1
    done
    [ "$left" = 1 ] || return 0
    sleep 0.1
  done
  echo "pods_cgroups: could not remove ${BASES[*]}"
}

# name|hierarchy|UID kind|path, with {U} the UID, {S} the UID with _ for -, {C} a container ID
LAYOUTS=(
  "v2 systemd burstable|v2|uuid|kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{S}.slice/cri-containerd-{C}.scope"
  "v2 systemd besteffort (crio)|v2|uuid|kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{S}.slice/crio-{C}.scope"
  "v2 systemd guaranteed|v2|uuid|kubepods.slice/kubepods-pod{S}.slice/cri-containerd-{C}.scope"
  "v2 systemd static pod|v2|static|kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{S}.slice/cri-containerd-{C}.scope"
  "v2 cgroupfs burstable|v2|uuid|kubepods/burstable/pod{U}/{C}"
  "v2 cgroupfs besteffort|v2|uuid|kubepods/besteffort/pod{U}/{C}"
  "v2 cgroupfs guaranteed|v2|uuid|kubepods/pod{U}/{C}"
  "v2 cgroupfs static pod|v2|static|kubepods/burstable/pod{U}/{C}"
  "v2 driver mismatch|v2|uuid|system.slice/containerd.service/kubepods-besteffort-pod{S}.slice:cri-containerd:{C}"
  "v1 cgroupfs besteffort|v1|uuid|kubepods/besteffort/pod{U}/{C}"
  "v1 systemd burstable|v1|uuid|kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{S}.slice/cri-containerd-{C}.scope"
  "v1 cgroupfs guaranteed static pod|v1|static|kubepods/pod{U}/{C}"
  "v1 driver mismatch|v1|uuid|system.slice/containerd.service/kubepods-burstable-pod{S}.slice:cri-containerd:{C}"
  "v2 docker (cgroupfs)|v2|none|docker/{C}"
  "v2 docker (systemd)|v2|none|system.slice/docker-{C}.scope"
  "v2 podman|v2|none|machine.slice/libpod-{C}.scope"
  "v2 systemd service|v2|none|system.slice/tw-pc.service"
  "v2 user session|v2|none|user.slice/user-0.slice/session-7.scope"
  "v2 containerd k8s.io, no pod|v2|none|k8s.io/{C}"
  "v1 docker (cgroupfs)|v1|none|docker/{C}"
  "v1 systemd service|v1|none|system.slice/tw-pc.service"
)
# dirs HIERARCHY PATH: the directories of PATH in the hierarchies (v1: all three)
dirs() {
  if [ "$1" = v2 ]; then echo "$V2/$2"; else printf '%s\n' "${V1[@]/%//$2}"; fi
}
# in_cgroups DIR... -- CMD...: exec CMD, moved into every DIR first; run it
# in a subshell or in the background (whose $! is then CMD's pid)
in_cgroups() {
  exec sh -c 'while [ "$1" != -- ]; do echo $$ >"$1/cgroup.procs" || exit 1; shift; done; shift; exec "$@"' sh "$@"
}

step "build exporter and nonetlink; namespaces held in kubelet-shaped and other cgroups"
tw_exporter
go build -o "$TMP/nonetlink" ./tools/nonetlink || fail "nonetlink build"
cp "$(command -v sleep)" "$TMP/twpchold" # a comm of its own, for the include filter
ip netns add "$NS" || fail "ip netns add $NS"
ip -n "$NS" link set lo up
HOLDERS=() # pid|layout|uid
i=0
for l in "${LAYOUTS[@]}"; do
  IFS='|' read -r name hier kind tmpl <<<"$l"
  n=$PER_POD_LAYOUT
  [ "$kind" = none ] && n=$PER_OTHER_LAYOUT
  for _ in $(seq "$n"); do
    i=$((i + 1))
    case $kind in
      uuid) uid=$(printf 'a%07x-%04x-4000-8000-%012x' $$ $i $i) ;;
      static) uid=$(printf 'b%07x%024x' $$ $i) ;;
      *) uid="" ;;
    esac
    rel=${tmpl//\{U\}/$uid}
    rel=${rel//\{S\}/${uid//-/_}}
    rel=${rel//\{C\}/$(printf 'c%07x%056x' $$ $i)}
    mapfile -t d < <(dirs "$hier" "$rel")
    mkdir -p "${d[@]}" || fail "mkdir ${d[*]}"
    in_cgroups "${d[@]}" -- unshare -n "$TMP/twpchold" 600 &
    PIDS+=($!)
    HOLDERS+=("$!|$name|$uid")
    [ -z "$uid" ] || mkdir -p "$TMP/pods/ns-$i"_"pod-$i"_"$uid"
  done
done
NPODS=$(printf '%s\n' "${HOLDERS[@]}" | awk -F'|' '$3 != ""' | wc -l)
for h in "${HOLDERS[@]}"; do # each in its cgroups and namespace once it runs twpchold
  pid=${h%%|*}
  for _ in $(seq 100); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = twpchold ] && continue 2
    sleep 0.05
  done
  fail "holder $pid (${h#*|}) did not start"
done
echo "  ${#HOLDERS[@]} namespaces, $NPODS of pods"

# The exporter's own pod, besteffort, cgroupfs driver, in v2 and every v1 hierarchy.
EXP_UID=$(printf 'e%07x-0000-4000-8000-000000000000' $$)
mapfile -t VIEW < <(dirs v2 "kubepods/besteffort/pod$EXP_UID/$(printf 'e%063x' $$)"; dirs v1 "kubepods/besteffort/pod$EXP_UID/$(printf 'e%063x' $$)")
mkdir -p "${VIEW[@]}" || fail "mkdir ${VIEW[*]}"
mkdir -p "$TMP/pods/monitoring_timewait-exporter-x_$EXP_UID"
printf 'netns: {include: "^twpchold$"}\n' >"$TMP/default.yml"
printf 'netns: {include: "^twpchold$", max_namespaces: %d}\n' $((NPODS + 1)) >"$TMP/capped.yml"

# scrape RUN CONFIG PREFIX...: start the exporter in $NS through PREFIX, keep
# one scrape in $TMP/RUN.prom, stop it
scrape() {
  local run=$1 cfg=$2 pid; shift 2
  "$@" ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$PORT --config.file="$cfg" \
    --netns.discover --netns.pod-log-dir="$TMP/pods" >"$TMP/$run.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do
    nsx curl -sf -m 30 -o "$TMP/$run.prom" "http://127.0.0.1:$PORT/metrics" && break
    sleep 0.1
  done
  kill "$pid"
  wait "$pid" 2>/dev/null
  [ -s "$TMP/$run.prom" ] || { cat "$TMP/$run.log"; fail "run $run: no scrape"; }
}
# pods RUN: "pid|uid|namespace|name" of each timewait_netns_info series
pods() {
  sed -n 's/^timewait_netns_info{.*,pid="\([0-9]*\)",pod_name="\([^"]*\)",pod_namespace="\([^"]*\)",pod_uid="\([^"]*\)"} 1$/\1|\4|\3|\2/p' "$TMP/$1.prom"
}
# check RUN OWN_UID DROPPED: every pod named, no non-pod (absent when
# dropped), the own namespace's pod OWN_UID, DROPPED namespaces dropped
check() {
  local run=$1 own_uid=$2 dropped=$3 h pid name uid got want bad=0
  pods "$run" >"$TMP/$run.pods"
  for h in "${HOLDERS[@]}"; do
    IFS='|' read -r pid name uid <<<"$h"
    got=$(awk -F'|' -v p="$pid" '$1 == p { print $2 "|" $3 "|" $4 }' "$TMP/$run.pods")
    want="||"
    [ -z "$uid" ] || want="$uid|ns-${HOLDERS_I[$pid]}|pod-${HOLDERS_I[$pid]}"
    [ -n "$uid" ] || [ "$dropped" = 0 ] || want="" # not visited
    [ "$got" = "$want" ] || { echo "  $name (pid $pid): got '$got', want '$want'"; bad=1; }
  done
  got=$(grep -o "^timewait_netns_info{.*netns=\"$NS\",.*pod_uid=\"[^\"]*\"" "$TMP/$run.prom" | sed 's/.*pod_uid="//; s/"$//')
  [ "$got" = "$own_uid" ] || { echo "  own namespace: pod_uid '$got', want '$own_uid'"; bad=1; }
  got=$(sed -n 's/^timewait_netns_dropped_namespaces \(.*\)/\1/p' "$TMP/$run.prom")
  [ "$got" = "$dropped" ] || { echo "  timewait_netns_dropped_namespaces $got, want $dropped"; bad=1; }
  [ "$bad" = 0 ] || fail "run $run: pods misnamed (above)"
  echo "  $(awk -F'|' '$2 != ""' "$TMP/$run.pods" | wc -l) namespaces named by pod, of $(wc -l <"$TMP/$run.pods") visited; dropped $dropped"
}
declare -A HOLDERS_I # pid -> the index in the pod's names
i=0
for h in "${HOLDERS[@]}"; do i=$((i + 1)); HOLDERS_I[${h%%|*}]=$i; done

step "1. the exporter in the host's cgroup namespace"
scrape host "$TMP/default.yml"
check host "" 0
step "2. unshare -C from its pod's cgroup: reads the host's view (setns), names its own pod too"
scrape unshare "$TMP/default.yml" in_cgroups "${VIEW[@]}" -- unshare -C
check unshare "$EXP_UID" 0
step "3. unshare -C, setns(CLONE_NEWCGROUP) refused: reads paths relative to its own root"
scrape relative "$TMP/default.yml" in_cgroups "${VIEW[@]}" -- "$TMP/nonetlink" -errno none -cgroupns -- unshare -C
check relative "" 0
step "4. max_namespaces $((NPODS + 1)) (own + pods): the non-pods are dropped, not the pods"
scrape capped "$TMP/capped.yml"
check capped "" $(( ${#HOLDERS[@]} - NPODS ))

step "per layout: a holder's cgroup from the host and from unshare -C in the exporter's pod; pod_uid of runs 1, 2, 3"
firstpids=()
declare -A seen
for h in "${HOLDERS[@]}"; do
  IFS='|' read -r pid name uid <<<"$h"
  [ -n "${seen[$name]:-}" ] || { seen[$name]=1; firstpids+=("$pid"); }
done
(in_cgroups "${VIEW[@]}" -- unshare -C sh -c 'for p; do echo "== $p"; cat "/proc/$p/cgroup"; done' sh "${firstpids[@]}") >"$TMP/nsview.txt" ||
  fail "reading the cgroups under unshare -C"
for pid in "${firstpids[@]}"; do
  for h in "${HOLDERS[@]}"; do [ "${h%%|*}" = "$pid" ] && IFS='|' read -r _ name uid <<<"$h"; done
  re='^0::' # the line of the layout's hierarchy: v2, or memory for v1
  [ "${name%% *}" = v1 ] && re='^[0-9]+:memory:'
  hostv=$(grep -m1 -E "$re" "/proc/$pid/cgroup" | cut -d: -f3-)
  nsv=$(awk -v p="== $pid" '$0 == p { on = 1; next } /^==/ { on = 0 } on' "$TMP/nsview.txt" | grep -m1 -E "$re" | cut -d: -f3-)
  uids=""
  for run in host unshare relative; do
    u=$(awk -F'|' -v p="$pid" '$1 == p { print $2 }' "$TMP/$run.pods")
    uids="$uids ${u:--}"
  done
  printf '  %s (uid %s)\n    host:       %s\n    unshare -C: %s\n    pod_uid host/unshare/relative:%s\n' \
    "$name" "${uid:-none}" "$hostv" "$nsv" "$uids"
done
RC=0
echo "pods_cgroups: ok (${#HOLDERS[@]} namespaces, $NPODS pods named in all 4 runs, no non-pod)"
