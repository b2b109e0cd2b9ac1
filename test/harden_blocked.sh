#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A read that blocks in the kernel, against the built binary: --path.procfs
# points at a copy of a throwaway namespace's proc files, one of them
# replaced by a FIFO (no writer: open(2) blocks; with a writer that never
# writes: read(2) blocks), as a procfs file behind a stuck lock or a hung
# hostPath mount would. The files are those the exporter really reads: a
# first run over a full copy of /proc/sys/net/ipv4 and the net/ files
# finds them by their access time. For each file:
# - a scrape with X-Prometheus-Scrape-Timeout-Seconds: 2 answers 200 within
#   3 s, the collector reading the file at 0, the others at 1 (a blocked
#   sysctl also fails sockets, which still exports its state counts);
# - the next scrape too, without waiting for the read again;
# - the log says once that the collector was abandoned, still blocked;
# - /doctor.json answers and names the source;
# - `timewait_exporter doctor --doctor.timeout=1s` under `timeout` exits by
#   itself within 2 s, with the source reported unread; another exits 3
#   within 1 s of SIGTERM;
# - the exporter exits 0 within 1 s of SIGTERM.
# Needs root (ip netns), curl, mkfifo, timeout, find. Bounded (timeout 120 s).
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init harden_blocked 120 5 "ip netns" ip curl mkfifo timeout find -- "$@"
tw_exporter

tw_netns tw-blocked
PORT=9966
URL=http://127.0.0.1:$PORT
tw_on_failure() { [ -f "$TMP/exporter.log" ] && { echo "--- exporter log"; cat "$TMP/exporter.log"; }; }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# The namespace's proc files: every readable sysctl under net/ipv4, the
# four net/ files the collectors parse.
tw_copy_proc "$TMP/orig"

start() { # start PROCROOT: the exporter in $NS, once it answers
  # Not through nsx: $! must be the exporter (ip netns exec execs it).
  ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$PORT --path.procfs="$1" --doctor.timeout=1s \
    --log.level=info >"$TMP/exporter.log" 2>&1 &
  EXP_PID=$!
  PIDS+=("$EXP_PID")
  for _ in $(seq 50); do
    nsx curl -fsS -o /dev/null "$URL/-/healthy" 2>/dev/null && return 0
    kill -0 "$EXP_PID" 2>/dev/null || fail "exporter exited"
    sleep 0.1
  done
  fail "exporter did not come up"
}
stop() { # stop: SIGTERM, must exit 0 within 1 s
  local t0 rc
  t0=$(now_ms)
  kill -TERM "$EXP_PID"
  wait "$EXP_PID"
  rc=$? STOP_MS=$(($(now_ms) - t0))
  [ "$rc" -eq 0 ] || fail "exporter exited $rc on SIGTERM"
  [ "$STOP_MS" -le 1000 ] || fail "exporter took ${STOP_MS} ms to exit on SIGTERM"
}
scrape() { # scrape OUT: sets CODE and MS
  local t0
  t0=$(now_ms)
  CODE=$(nsx curl -sS -m 10 -o "$1" -w '%{http_code}' -H 'X-Prometheus-Scrape-Timeout-Seconds: 2' "$URL/metrics")
  MS=$(($(now_ms) - t0))
}
success() { awk -F'[{}" ]+' '/^timewait_scrape_collector_success\{/ { printf "%s=%s ", $3, $4 }' "$1"; }

# Which files are read: access times before and after a scrape and a
# diagnosis of the untouched copy (where every collector succeeds).
step "finding the files the exporter reads"
find "$TMP/orig" -type f -exec touch -a -d @0 {} +
start "$TMP/orig"
scrape "$TMP/metrics"
[ "$(success "$TMP/metrics")" = "netstat=1 sockets=1 sockstat=1 sysctl=1 " ] || fail "baseline: $(success "$TMP/metrics")"
nsx curl -fsS -o /dev/null "$URL/doctor.json" || fail "baseline /doctor.json"
stop
mapfile -t FILES < <(cd "$TMP/orig" && find . -type f -newerat @86400 | sed 's|^\./||' | sort)
echo "read: ${FILES[*]}"
for want in net/sockstat net/sockstat6 net/netstat net/snmp sys/net/ipv4/ip_local_port_range \
  sys/net/ipv4/ip_local_reserved_ports sys/net/ipv4/tcp_max_tw_buckets; do
  [[ " ${FILES[*]} " == *" $want "* ]] || fail "$want not among the files read: access times not updated?"
done

# blocked FILE MODE: one case, as in the header.
blocked() {
  local file=$1 mode=$2 failed want c got t0 rc ms writer=""
  case $file in
    net/sockstat*) failed="sockstat" ;;
    net/*) failed="netstat" ;;
    *) failed="sockets sysctl" ;;
  esac
  rm -rf "$TMP/proc"
  cp -a "$TMP/orig" "$TMP/proc"
  rm "$TMP/proc/$file"
  mkfifo "$TMP/proc/$file"
  if [ "$mode" = read ]; then exec {writer}<>"$TMP/proc/$file"; fi
  start "$TMP/proc"

  # The doctor command, in parallel: by its own timeout, and on SIGTERM.
  (t0=$(now_ms); timeout -k 1 5 ip netns exec "$NS" "$EXPORTER" doctor --path.procfs="$TMP/proc" \
    --doctor.timeout=1s >"$TMP/doctor.txt" 2>&1; echo "$? $(($(now_ms) - t0))" >"$TMP/doctor.rc") &
  local doctors=($!)
  (ip netns exec "$NS" "$EXPORTER" doctor --path.procfs="$TMP/proc" >"$TMP/doctor-term.txt" 2>&1 &
    p=$!; sleep 0.5; t0=$(now_ms); kill -TERM $p; wait $p; echo "$? $(($(now_ms) - t0))" >"$TMP/doctor-term.rc") &
  doctors+=($!)

  want=""
  for c in netstat sockets sockstat sysctl; do
    if [[ " $failed " == *" $c "* ]]; then want+="$c=0 "; else want+="$c=1 "; fi
  done
  local times=""
  for i in 1 2; do
    scrape "$TMP/metrics"
    times+="scrape $i ${MS} ms, "
    [ "$CODE" = 200 ] || fail "$file ($mode): scrape $i answered $CODE"
    [ "$MS" -le 3000 ] || fail "$file ($mode): scrape $i took $MS ms, timeout 2 s"
    got=$(success "$TMP/metrics")
    [ "$got" = "$want" ] || fail "$file ($mode): scrape $i: {$got}, want {$want}"
    grep -q '^timewait_tcp_sockets{family="ipv4",state="listen"} [1-9]' "$TMP/metrics" || fail "$file ($mode): no sockets state counts"
  done
  t0=$(now_ms)
  nsx curl -fsS -m 5 -o "$TMP/doctor.json" "$URL/doctor.json" || fail "$file ($mode): /doctor.json did not answer"
  ms=$(($(now_ms) - t0))
  grep -q "still blocked" "$TMP/doctor.json" || fail "$file ($mode): /doctor.json does not report the blocked source"
  times+="/doctor.json $ms ms, "
  wait "${doctors[@]}"
  read -r rc ms <"$TMP/doctor.rc"
  { [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ]; } || { cat "$TMP/doctor.txt"; fail "$file ($mode): doctor exited $rc, want the report's 1 or 2"; }
  [ "$ms" -le 2000 ] || fail "$file ($mode): doctor took $ms ms with --doctor.timeout=1s"
  grep -q "abandoned at the deadline, still blocked" "$TMP/doctor.txt" || fail "$file ($mode): doctor does not name the blocked source"
  times+="doctor (1 s timeout) exit $rc after $ms ms, "
  read -r rc ms <"$TMP/doctor-term.rc"
  [ "$rc" -eq 3 ] || fail "$file ($mode): doctor exited $rc on SIGTERM, want 3"
  [ "$ms" -le 1000 ] || fail "$file ($mode): doctor took $ms ms to exit on SIGTERM"
  times+="doctor SIGTERM exit $rc after $ms ms, "
  stop
  times+="exporter SIGTERM $STOP_MS ms"
  [ -z "$writer" ] || exec {writer}>&-
  c=${failed##* } # the collector that reads the file
  [ "$(grep -c "level=ERROR.*collector=$c err=\"abandoned at the deadline, still blocked" "$TMP/exporter.log")" = 1 ] ||
    fail "$file ($mode): want one error line saying $c was abandoned, still blocked"
  printf 'ok   %-40s %-4s failed={%s}: %s\n' "$file" "$mode" "$failed" "$times"
}

for f in "${FILES[@]}"; do blocked "$f" open; done
blocked net/netstat read
blocked sys/net/ipv4/ip_local_port_range read
echo "harden_blocked: ok (${#FILES[@]} files)"
RC=0
