#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The systemd units, checked by systemd's own tools (Debian systemd package):
# - `systemd-analyze verify` of the service alone, with the socket-activation
#   drop-in and socket, and with the netns-discovery drop-in: any diagnostic
#   (unknown key, bad value, missing executable) fails the test;
# - `systemd-analyze security --offline` exposure stays at or below a
#   threshold for each variant, and the default mode has no capabilities;
# - the sysusers.d file creates the dedicated user (systemd-sysusers --root);
# - the EnvironmentFile's ARGS are flags the exporter accepts.
# test/deploy_systemd_boot.sh runs the units under a real systemd.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init deploy_systemd 180 10 "" systemd-analyze systemd-sysusers -- "$@"
tw_exporter
repo=$ROOT
src=deploy/systemd
bin=$EXPORTER
work=$TMP

# Lay out a unit directory: the units with ExecStart pointing at the built
# binary (verify checks that it exists and is executable), plus drop-ins.
layout() { # dir dropin...
  local d=$1; shift
  mkdir -p "$d/timewait_exporter.service.d"
  sed "s#/usr/local/bin/timewait_exporter#$bin#" "$src/timewait_exporter.service" >"$d/timewait_exporter.service"
  cp "$src/timewait_exporter.socket" "$d/"
  for f in "$@"; do
    sed "s#/usr/local/bin/timewait_exporter#$bin#" "$src/$f" >"$d/timewait_exporter.service.d/$f"
  done
}
verify() { # name dir units...
  local name=$1 d=$2; shift 2
  echo "--- systemd-analyze verify ($name)"
  (cd "$d" && systemd-analyze verify "$@") >"$work/verify.out" 2>&1 || { cat "$work/verify.out" >&2; fail "verify ($name) exited non-zero"; }
  if [ -s "$work/verify.out" ]; then cat "$work/verify.out" >&2; fail "verify ($name) printed diagnostics"; fi
}
security() { # name dir threshold
  local name=$1 d=$2 thr=$3
  (cd "$d" && systemd-analyze security --offline=yes --threshold="$thr" ./timewait_exporter.service) >"$work/sec.out" 2>&1 \
    || { cat "$work/sec.out" >&2; fail "security ($name): exposure above $thr"; }
  grep 'Overall exposure' "$work/sec.out" | sed "s/^/($name) /"
}

layout "$work/plain"
verify default "$work/plain" ./timewait_exporter.service
security default "$work/plain" 20   # 2.0 on systemd's 0-100 scale (it prints 0.0-10.0)
grep -q '^CapabilityBoundingSet=$' "$src/timewait_exporter.service" || fail "default mode must have an empty CapabilityBoundingSet="
grep -q '^NoNewPrivileges=yes$' "$src/timewait_exporter.service" || fail "NoNewPrivileges=yes missing"
grep -q '^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK$' "$src/timewait_exporter.service" || fail "RestrictAddressFamilies changed"

layout "$work/socket" socket-activation.conf
verify socket-activation "$work/socket" ./timewait_exporter.socket ./timewait_exporter.service
grep -q -- '--web.systemd-socket' "$work/socket/timewait_exporter.service.d/socket-activation.conf" || fail "socket drop-in must pass --web.systemd-socket"

layout "$work/netns" netns-discovery.conf
verify netns-discovery "$work/netns" ./timewait_exporter.service
security netns-discovery "$work/netns" 30   # 3.0

echo "--- systemd-sysusers creates the dedicated user"
mkdir -p "$work/root/etc"
systemd-sysusers --root="$work/root" "$repo/$src/timewait_exporter.sysusers.conf" 2>/dev/null
grep -q '^timewait_exporter:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$' "$work/root/etc/passwd" || fail "sysusers did not create timewait_exporter"
grep -q '^User=timewait_exporter$' "$src/timewait_exporter.service" || fail "service must run as the sysusers user"

echo "--- ARGS from timewait_exporter.default are accepted by the exporter"
# shellcheck disable=SC1090
ARGS=$(. "$src/timewait_exporter.default"; echo "$ARGS")
"$bin" --help >"$work/help" 2>&1 || true
for a in $ARGS; do
  f=${a%%=*}; f=${f#--}
  grep -Eq -- "--(\[no-\])?${f//./\\.}([= ]|$)" "$work/help" || fail "ARGS flag --$f unknown to the exporter"
done
echo "deploy_systemd: ok"
RC=0
