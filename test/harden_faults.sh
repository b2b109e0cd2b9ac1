#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fault injection against the built binary, run as nobody (no capabilities,
# no_new_privs) in a private network namespace, with --path.procfs pointing
# at a copy of the namespace's own proc files that each case breaks: the
# faults that need a real process, permission denied (chmod 000, only
# meaningful unprivileged, which is why this runs as nobody) and netlink
# refused by a seccomp filter (tools/nonetlink). Missing, empty and cut
# files fail the same way for any user: the collector tests
# TestFaultMissingAndCut and TestFaultProcFiles run them in-process. For
# each case, over SCRAPES scrapes:
# - every scrape answers 200 and the healthy collectors report success 1
#   with their metrics;
# - the affected collector(s) report timewait_scrape_collector_success 0;
# - the log has exactly one error line per affected collector, whatever
#   the number of scrapes (repeats go to debug);
# and one case repairs the file while running: success 1 again and one
# "collector recovered" line.
# Needs ./timewait_exporter (make build), go, unshare, setpriv, ip, curl.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init harden_faults 400 10 "the namespace and dropping to nobody" go unshare setpriv ip curl -- "$@"
tw_exporter

work=$TMP
chmod 755 "$work"
install -m 755 "$EXPORTER" "$work/timewait_exporter"
cp test/lib/inner.bash "$work/"
CGO_ENABLED=0 go build -o "$work/nonetlink" ./tools/nonetlink
chmod 755 "$work/nonetlink"

cat >"$work/inner.sh" <<'INNER'
work=$1
source "$work/inner.bash"
SCRAPES=${SCRAPES:-4}
drop=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs)
port=9966

# A procfs copy of this namespace: the files the collectors read.
mkproc() {
  if [ ! -d "$work/proc.orig" ]; then
    mkdir -p "$work/proc.orig/net" "$work/proc.orig/sys/net/ipv4"
    for f in sockstat sockstat6 netstat snmp; do cat "/proc/net/$f" >"$work/proc.orig/net/$f"; done
    for f in tcp_tw_reuse tcp_tw_reuse_delay tcp_fin_timeout tcp_max_tw_buckets tcp_timestamps tcp_rfc1337 \
             tcp_max_orphans ip_local_port_range ip_local_reserved_ports; do
      if [ -e "/proc/sys/net/ipv4/$f" ]; then cat "/proc/sys/net/ipv4/$f" >"$work/proc.orig/sys/net/ipv4/$f"; fi
    done
    chmod -R a+rX "$work/proc.orig"
  fi
  rm -rf "$work/proc"
  cp -a "$work/proc.orig" "$work/proc"
}

start() { # start [wrapper...] -- exporter args
  local pre=()
  while [ "$1" != -- ]; do pre+=("$1"); shift; done; shift
  "${drop[@]}" "${pre[@]}" "$work/timewait_exporter" --web.listen-address=127.0.0.1:$port --log.level=info "$@" \
    >"$work/exporter.log" 2>&1 &
  pid=$!
  pids=("$pid") # one exporter at a time: the cleanup stops the current one
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/-/healthy" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work/exporter.log" >&2; fail "exporter exited"; }
    sleep 0.1
  done
  fail "exporter did not come up"
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }


# check NAME FAILED... : SCRAPES scrapes, then the assertions above.
check() {
  local name=$1; shift
  local failed=" $* "
  for i in $(seq "$SCRAPES"); do
    code=$(curl -sS -o "$work/metrics" -w '%{http_code}' "http://127.0.0.1:$port/metrics")
    [ "$code" = 200 ] || fail "$name: scrape $i answered $code"
    want=""
    for c in netstat sockets sockstat sysctl; do
      if [[ $failed == *" $c "* ]]; then want+="$c=0 "; else want+="$c=1 "; fi
    done
    got=$(awk -F'[{}" ]+' '/^timewait_scrape_collector_success\{/ { printf "%s=%s ", $3, $4 }' "$work/metrics")
    [ "$got" = "$want" ] || fail "$name: scrape $i: collector success {$got}, want {$want}"
  done
  # The healthy collectors' metrics are all there.
  [[ $failed == *" sockets "* ]] || grep -q '^timewait_tcp_sockets{family="ipv4",state="listen"} [1-9]' "$work/metrics" || fail "$name: sockets metrics missing"
  [[ $failed == *" sockstat "* ]] || grep -q '^timewait_sockstat_tw_sockets ' "$work/metrics" || fail "$name: sockstat metrics missing"
  [[ $failed == *" netstat "* ]] || grep -q '^timewait_tcpext_tw_total ' "$work/metrics" || fail "$name: netstat metrics missing"
  [[ $failed == *" sysctl "* ]] || grep -q '^timewait_sysctl_tcp_max_tw_buckets ' "$work/metrics" || fail "$name: sysctl metrics missing"
  # The failed ones' own metrics are not (no made-up zeros), except the
  # sockets state counts, which do not need the sysctls. netstat and
  # sockstat keep the series of their other file (partial files) and lose
  # those of the broken one: one of each pair below is gone.
  has() { grep -q "^$1 " "$work/metrics"; }
  [[ $failed != *" netstat "* ]] || ! { has timewait_tcpext_tw_total && has timewait_tcp_active_opens_total; } ||
    fail "$name: failed netstat still exported the series of both files"
  [[ $failed != *" sockstat "* ]] || ! { has timewait_sockstat_tw_sockets && has 'timewait_sockstat_tcp_inuse_sockets{family="ipv6"}'; } ||
    fail "$name: failed sockstat still exported the series of both files"
  local errors; errors=$(grep -ci 'level=error' "$work/exporter.log" || true)
  [ "$errors" -eq "$#" ] || { cat "$work/exporter.log" >&2; fail "$name: $errors error lines over $SCRAPES scrapes, want $# (one per failed collector)"; }
  for c in "$@"; do
    grep -i 'level=error' "$work/exporter.log" | grep -q "collector=$c " || fail "$name: no error line for $c"
  done
  echo "ok   $name: failed={$*} over $SCRAPES scrapes, $errors error line(s)"
  grep -i 'level=error' "$work/exporter.log" | sed 's/^/     log: /' || true
}

# run NAME SETUP FAILED... : fresh fixture, SETUP breaks it, start, check.
run() {
  local name=$1 setup=$2; shift 2
  mkproc
  eval "$setup"
  start -- --path.procfs="$work/proc"
  check "$name" "$@"
  stop
}

run "baseline as nobody"               ':'
run "netstat permission denied"        'chmod 000 $work/proc/net/netstat' netstat
run "snmp permission denied"           'chmod 000 $work/proc/net/snmp' netstat
run "sockstat permission denied"       'chmod 000 $work/proc/net/sockstat' sockstat
run "sockstat6 permission denied"      'chmod 000 $work/proc/net/sockstat6' sockstat
run "sysctl permission denied"         'chmod 000 $work/proc/sys/net/ipv4/tcp_max_tw_buckets' sysctl
run "reserved ports permission denied" 'chmod 000 $work/proc/sys/net/ipv4/ip_local_reserved_ports' sockets sysctl
run "net/ directory not searchable"    'chmod 000 $work/proc/net' netstat sockstat

# netlink refused (seccomp), real /proc: only the sockets collector fails.
start "$work/nonetlink" -- 
check "netlink socket refused (seccomp, EACCES)" sockets
grep -i 'level=error' "$work/exporter.log" | grep -q 'permission denied' || fail "netlink error does not say permission denied"
stop
start "$work/nonetlink" -errno EAFNOSUPPORT --
check "netlink not supported (seccomp, EAFNOSUPPORT)" sockets
stop

# Recovery while running: the file is repaired between scrapes.
mkproc
chmod 000 "$work/proc/net/netstat"
start -- --path.procfs="$work/proc"
check "netstat denied, then repaired" netstat
chmod 644 "$work/proc/net/netstat"
curl -fsS -o "$work/metrics" "http://127.0.0.1:$port/metrics"
grep -q '^timewait_scrape_collector_success{collector="netstat"} 1$' "$work/metrics" || fail "netstat did not recover"
[ "$(grep -c 'msg="collector recovered" collector=netstat' "$work/exporter.log")" = 1 ] || { cat "$work/exporter.log" >&2; fail "recovery not logged once"; }
chmod 000 "$work/proc/net/netstat"
curl -fsS -o "$work/metrics" "http://127.0.0.1:$port/metrics"
[ "$(grep -ci 'level=error' "$work/exporter.log")" = 2 ] || fail "a failure after recovery must be logged again"
echo "ok   recovery logged once at info; the next failure logged again at error"
stop
INNER

timeout 300 unshare --net bash "$work/inner.sh" "$work" || fail "the fault cases in a private network namespace"
echo "harden_faults: ok"
RC=0
