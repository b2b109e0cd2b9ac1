#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The systemd units under a real systemd: a Debian rootfs (debootstrap,
# cached under /var/cache/timewait_exporter-test) is booted with
# systemd-nspawn on a private network (loopback only), with our files
# installed as docs/deploy.md says. A oneshot unit in the guest scrapes the
# exporter, records what it saw and powers off. Three boots:
#   default          sysusers user, all collectors 1, CapEff/CapBnd 0,
#                    NoNewPrivs 1, seccomp filter on: the whole sandbox
#                    (ProtectSystem, ProtectProc=invisible,
#                    RestrictAddressFamilies, SystemCallFilter, ...) lets the
#                    exporter work
#   socket           timewait_exporter.socket + socket-activation.conf: the
#                    service is started by the first connection
#   netns-discovery  netns-discovery.conf + --netns.discover: exactly
#                    CAP_SYS_ADMIN and CAP_SYS_PTRACE, and a named namespace
#                    made in the guest is exported with netns="blue"
# Needs root, systemd-nspawn (systemd-container) and debootstrap with Debian's
# package mirror for the first run; SKIPs (exit 0) when the rootfs cannot be
# had, unless DEPLOY_BOOT_REQUIRE=1. The debootstrap takes about 8 minutes,
# too long for every CI run on a new machine: it only happens with
# DEPLOY_BOOT_BUILD=1 (`make boot-rootfs`); without a cached rootfs the test
# SKIPs.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
# A first run debootstraps (up to 25 minutes) before the three boots.
tw_init deploy_systemd_boot $(( ${DEPLOY_BOOT_BUILD:-0} == 1 ? 3600 : 1200 )) 20 "" -- "$@"
# unavailable MSG: SKIP, or FAIL with DEPLOY_BOOT_REQUIRE=1.
unavailable() { [ "${DEPLOY_BOOT_REQUIRE:-0}" != 1 ] || fail "$*"; skip "$*"; }
[ "$(id -u)" -eq 0 ] || unavailable "needs root"
tw_exporter
src=deploy/systemd

need=()
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})) && command -v apt-get >/dev/null; then
  echo "installing ${need[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}"; } >/dev/null 2>&1 || true
fi
command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null || unavailable "systemd-nspawn or debootstrap unavailable"

cache=${DEPLOY_BOOT_CACHE:-/var/cache/timewait_exporter-test/bookworm-systemd}
if [ ! -x "$cache/lib/systemd/systemd" ] && [ "${DEPLOY_BOOT_BUILD:-0}" != 1 ]; then
  unavailable "no cached rootfs in $cache: make boot-rootfs builds it once (about 8 minutes)"
fi
if [ ! -x "$cache/lib/systemd/systemd" ]; then
  echo "--- debootstrap a Debian rootfs with systemd (once; cached in $cache)"
  mkdir -p "$(dirname "$cache")"
  tmproot=$(mktemp -d "$cache.tmp.XXXXXX")   # concurrent runs do not collide
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  if ! timeout 1500 debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,curl \
      bookworm "$tmproot" "${mirror:-http://deb.debian.org/debian}" >"$tmproot.log" 2>&1; then
    tail -5 "$tmproot.log" >&2; rm -rf "$tmproot" "$tmproot.log"; unavailable "debootstrap failed"
  fi
  rm -f "$tmproot.log"
  chmod 755 "$tmproot"    # mktemp made it 0700: the guest's / must be searchable
  # No first-boot questions on the console: a machine id, and firstboot masked.
  systemd-machine-id-setup --root="$tmproot" >/dev/null
  ln -sf /dev/null "$tmproot/etc/systemd/system/systemd-firstboot.service"
  mv -T "$tmproot" "$cache" 2>/dev/null || rm -rf "$tmproot"   # another run won the race
fi

work=$TMP

# boot NAME DROPIN...: fresh copy of the rootfs, our files, one boot.
boot() {
  local name=$1; shift
  local r=$work/$name
  cp -a "$cache" "$r"
  chmod 755 "$r"
  # The same for a rootfs cached before that was done here.
  [ -s "$r/etc/machine-id" ] || systemd-machine-id-setup --root="$r" >/dev/null
  ln -sf /dev/null "$r/etc/systemd/system/systemd-firstboot.service"
  install -m 0755 "$EXPORTER" "$r/usr/local/bin/timewait_exporter"
  mkdir -p "$r/etc/sysusers.d" "$r/etc/systemd/system/multi-user.target.wants" "$r/etc/systemd/system/sockets.target.wants"
  install -m 0644 "$src/timewait_exporter.sysusers.conf" "$r/etc/sysusers.d/timewait_exporter.conf"
  install -m 0644 "$src/timewait_exporter.default" "$r/etc/default/timewait_exporter"
  install -m 0644 "$src/timewait_exporter.service" "$r/etc/systemd/system/"
  for d in "$@"; do
    install -D -m 0644 "$src/$d" "$r/etc/systemd/system/timewait_exporter.service.d/$d"
  done
  if [ "$name" = socket ]; then
    install -m 0644 "$src/timewait_exporter.socket" "$r/etc/systemd/system/"
    ln -s /etc/systemd/system/timewait_exporter.socket "$r/etc/systemd/system/sockets.target.wants/"
  else
    ln -s /etc/systemd/system/timewait_exporter.service "$r/etc/systemd/system/multi-user.target.wants/"
  fi
  if [ "$name" = netns ]; then
    sed -i 's/^ARGS="/ARGS="--netns.discover /' "$r/etc/default/timewait_exporter"
  fi
  cat >"$r/usr/local/sbin/twcheck" <<'CHECK'
#!/bin/sh
# Runs in the guest after multi-user.target; writes key=value lines.
out=/twcheck.result
{
  [ -e /etc/systemd/system/timewait_exporter.socket ] && echo "before_connect=$(systemctl is-active timewait_exporter.service)"
  if grep -q netns.discover /etc/default/timewait_exporter; then ip netns add blue; fi
  i=0; until curl -fsS -o /tmp/metrics http://127.0.0.1:9966/metrics || [ $i -ge 50 ]; do i=$((i+1)); sleep 0.2; done
  echo "active=$(systemctl is-active timewait_exporter.service)"
  p=$(systemctl show -p MainPID --value timewait_exporter.service)
  echo "user=$(stat -c %U "/proc/$p")"
  echo "uid_expected=$(id -u timewait_exporter)"
  sed -n 's/^\(Uid\|CapEff\|CapBnd\|NoNewPrivs\|Seccomp\):[[:space:]]*\([^[:space:]]*\).*/\1=\2/p' "/proc/$p/status"
  grep '^timewait_scrape_collector_success' /tmp/metrics | sed 's/^/metric /'
  grep -c '^timewait_scrape_collector_success{.*} 1$' /tmp/metrics | sed 's/^/collectors_ok=/'
  grep -c '^timewait_scrape_collector_success{.*} 0$' /tmp/metrics | sed 's/^/collectors_failed=/'
  grep -q 'netns="blue"' /tmp/metrics && echo "netns_blue=yes"
  journalctl -u timewait_exporter.service --no-pager -o cat | sed 's/^/log /'
} >"$out" 2>&1
# Straight to PID 1 (not through logind/D-Bus, which the check does not need).
systemctl start --no-block poweroff.target
CHECK
  chmod 755 "$r/usr/local/sbin/twcheck"
  cat >"$r/etc/systemd/system/twcheck.service" <<'UNIT'
[Unit]
# Not after multi-user.target: the check needs only the exporter (and its socket).
After=timewait_exporter.service timewait_exporter.socket
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/twcheck
[Install]
WantedBy=multi-user.target
UNIT
  ln -s /etc/systemd/system/twcheck.service "$r/etc/systemd/system/multi-user.target.wants/"
  echo "--- boot ($name)"
  timeout 300 systemd-nspawn -q -D "$r" --boot --register=no --keep-unit --private-network --console=read-only \
    >"$work/$name.console" 2>&1 || true
  [ -s "$r/twcheck.result" ] || { sed 's/\x1b\[[0-9;]*m//g' "$work/$name.console" | tail -30 >&2; fail "$name: the guest's check did not run"; }
  result=$r/twcheck.result
  grep -v '^log ' "$result"
}
val() { sed -n "s/^$1=//p" "$result" | head -1; }
common() { # name
  [ "$(val active)" = active ] || { cat "$result" >&2; fail "$1: service not active"; }
  [ "$(val user)" = timewait_exporter ] || fail "$1: runs as $(val user), want timewait_exporter"
  [ "$(val Uid)" = "$(val uid_expected)" ] || fail "$1: uid"
  [ "$(val NoNewPrivs)" = 1 ] || fail "$1: NoNewPrivs"
  [ "$(val Seccomp)" = 2 ] || fail "$1: no seccomp filter (SystemCallFilter)"
  [ "$(val collectors_failed)" = 0 ] || { grep '^log ' "$result" >&2; fail "$1: a collector failed under the sandbox"; }
  [ "$(val collectors_ok)" -ge 4 ] || fail "$1: want >= 4 collectors succeeding"
}

boot default
common default
[ "$(val CapEff)" = 0000000000000000 ] || fail "default: CapEff $(val CapEff)"
[ "$(val CapBnd)" = 0000000000000000 ] || fail "default: CapBnd $(val CapBnd)"

boot socket socket-activation.conf
common socket
[ "$(val before_connect)" = inactive ] || fail "socket: service already $(val before_connect) before the first connection"
[ "$(val CapEff)" = 0000000000000000 ] || fail "socket: CapEff $(val CapEff)"

boot netns netns-discovery.conf
common netns
# CAP_SYS_PTRACE = 19, CAP_SYS_ADMIN = 21: 0x280000 and nothing else.
[ "$(val CapEff)" = 0000000000280000 ] || fail "netns: CapEff $(val CapEff), want exactly SYS_ADMIN+SYS_PTRACE"
[ "$(val CapBnd)" = 0000000000280000 ] || fail "netns: CapBnd $(val CapBnd)"
if ! "$EXPORTER" --help 2>&1 | grep -q netns.discover; then
  echo "WARN: exporter has no --netns.discover: namespace check skipped" >&2
else
  [ "$(val netns_blue)" = yes ] || { grep '^log ' "$result" >&2; fail "netns: the guest's namespace \"blue\" was not exported"; }
fi
echo "deploy_systemd_boot: ok"
RC=0
