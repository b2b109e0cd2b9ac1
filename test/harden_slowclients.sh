#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Clients that do not read, against the built binary, in a throwaway
# network namespace, with a large exposition (4,000 configured
# destinations: about 0.8 MB). Loopback's send buffers grow to about 4 MB,
# so the clients pipeline requests until the answers no longer fit:
# 1. 34 clients that reset the connection mid-answer give 1 or 2 log
#    lines about it (one per error class per minute), not one per family.
# 2. 45, then 500 connections (tools/stallclient: a 1-byte receive buffer,
#    300 pipelined GET /metrics each, never read) stay open (8 s, 13 s) while a real
#    scraper (curl, 4 s timeout) scrapes every 0.4 s from 1.5 s on: every
#    scrape that begins 3 s (45) or 6.5 s (500) into the flood answers 200
#    within its timeout (until then the flood's own answers, each encoded
#    alone, take the CPU; before the fix, 503 until the clients left); the
#    exporter's RSS stays under 400 MB (it grows with --web.max-requests times
#    the answer: 140-260 MB here) and, within 15 s of the clients leaving,
#    its FDs are back within 10 of before.
# Needs root (ip netns), curl, go. Bounded (timeout 120 s).
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init harden_slowclients 120 5 "ip netns" ip curl go -- "$@"
tw_exporter

tw_scene tw-slow 9977
CGO_ENABLED=0 go build -o "$TMP/stallclient" ./tools/stallclient || fail "go build stallclient"

{
  echo "destinations:"
  for i in $(seq 0 3999); do echo "  - {name: dest$i, address: \"10.$((i / 250)).$((i % 250)).1:443\"}"; done
} >"$TMP/config.yml"
ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$PORT --config.file="$TMP/config.yml" \
  --log.level=info >"$TMP/exporter.log" 2>&1 &
PID=$!
PIDS+=("$PID")
for _ in $(seq 50); do nsx curl -fsS -o /dev/null "$URL/-/healthy" 2>/dev/null && break; sleep 0.1; done
nsx curl -fsS -o "$TMP/metrics" "$URL/metrics" || fail "first scrape"
SIZE=$(stat -c %s "$TMP/metrics")
[ "$SIZE" -gt 500000 ] || fail "exposition of $SIZE bytes: too small to fill the socket buffers"
step "exposition: $SIZE bytes"

fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }

stalled() { # stalled CONNS SETTLE_MS HOLD_S: scrapes that begin SETTLE_MS into a flood of HOLD_S must answer
  local conns=$1 settle=$2 hold=$3 fd0 ok=0 n must=0 failed=0 codes="" peak_rss=0 peak_fds=0 r c t0 flood
  fd0=$(fds)
  flood=${EPOCHREALTIME/./}
  nsx "$TMP/stallclient" -addr 127.0.0.1:$PORT -conns "$conns" -requests 300 -hold "${hold}s" >/dev/null &
  local client=$!
  sleep 1.5
  n=0
  while [ $(((${EPOCHREALTIME/./} - flood) / 1000)) -lt $((hold * 1000 - 500)) ]; do # while the clients are there
    n=$((n + 1))
    t0=${EPOCHREALTIME/./}
    c=$(nsx curl -sS -m 4 -o /dev/null -w '%{http_code}' -H 'X-Prometheus-Scrape-Timeout-Seconds: 4' "$URL/metrics" 2>/dev/null)
    codes+="$c@$(((t0 - flood) / 100000)) "
    if [ "$c" = 200 ]; then ok=$((ok + 1)); fi
    if [ $(((t0 - flood) / 1000)) -ge "$settle" ]; then
      must=$((must + 1))
      [ "$c" = 200 ] || failed=$((failed + 1))
    fi
    r=$(rss_kb); [ "$r" -gt "$peak_rss" ] && peak_rss=$r
    r=$(fds); [ "$r" -gt "$peak_fds" ] && peak_fds=$r
    sleep 0.4
  done
  wait "$client"
  local fd1
  for _ in $(seq 60); do # the answers to them fail by the write deadline (10 s)
    fd1=$(fds)
    [ "$fd1" -le $((fd0 + 10)) ] && break
    sleep 0.25
  done
  echo "$conns connections: $ok/$n scrapes answered 200 (code@tenths of a second into the flood: $codes), peak RSS $((peak_rss / 1024)) MB, FDs $fd0 -> peak $peak_fds -> $fd1"
  [ "$must" -ge 2 ] || fail "$conns stalled connections: only $must scrapes from ${settle} ms on"
  [ "$failed" -eq 0 ] || fail "$conns stalled connections: $failed of the $must scrapes from ${settle} ms on failed"
  [ "$peak_rss" -le 409600 ] || fail "$conns stalled connections: RSS $((peak_rss / 1024)) MB"
  [ "$fd1" -le $((fd0 + 10)) ] || fail "$conns stalled connections: $fd1 FDs after they closed, $fd0 before"
}

step "1. clients that reset mid-answer"
before=$(grep -c 'error encoding and sending metric family' "$TMP/exporter.log")
nsx "$TMP/stallclient" -addr 127.0.0.1:$PORT -conns 34 -requests 10 -mode abort -hold 2s >/dev/null || fail "stallclient abort"
sleep 1
lines=$(($(grep -c 'error encoding and sending metric family' "$TMP/exporter.log") - before))
echo "34 aborted scrapes: $lines log lines"
[ "$lines" -ge 1 ] || fail "34 aborted scrapes logged nothing: no answer was cut short, so the throttling went untested"
[ "$lines" -le 2 ] || fail "34 aborted scrapes logged $lines lines, want at most 2"
step "2. clients that never read"
stalled 45 3000 8
stalled 500 6500 13

nsx curl -fsS -o /dev/null "$URL/metrics" || fail "scrape after the aborted ones"
echo "harden_slowclients: ok"
RC=0
