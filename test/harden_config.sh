#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A config file that is too big, too many keys or a FIFO, against the
# built binary, in a throwaway network namespace:
# 1. --config.check refuses a 10 MB file within 2 s and 100 MB of RSS
#    (it took 3 s and 790 MB; 31 s and 3.46 GB for a denser list), and
#    100,000 unknown keys (1 MB) within 5 s and 300 MB (48 s before);
# 2. the running exporter refuses a 10 MB file on reload within 2 s, its
#    RSS growing by less than 50 MB;
# 3. with a FIFO at --config.file, POST /-/reload answers 500 within 2 s;
#    300 more POSTs leave the exporter's FDs and goroutines within 5 of
#    before (each leaked one) and count in
#    timewait_exporter_config_reloads_failed_total; the FIFO replaced by a
#    valid file, a SIGHUP applies it.
# Needs root (ip netns), curl, /usr/bin/time, mkfifo. Bounded (timeout 120 s).
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init harden_config 120 5 "ip netns" ip curl mkfifo /usr/bin/time -- "$@"
tw_exporter

tw_scene tw-config 9978

{ echo "ports:"; for _ in $(seq 1200000); do echo "  - 8080"; done; } >"$TMP/big.yml"
for i in $(seq 0 99999); do printf 'k%05d: 1\n' "$i"; done >"$TMP/keys.yml"

step "1. --config.check"
check() { # check FILE MAX_S MAX_MB WANT
  local out s kb
  out=$(/usr/bin/time -f '%e %M' "$EXPORTER" --config.check --config.file="$1" 2>&1)
  read -r s kb <<<"$(tail -1 <<<"$out")"
  echo "$(basename "$1") ($(stat -c %s "$1") bytes): ${s} s, max RSS $((kb / 1024)) MB: $(head -1 <<<"$out" | cut -c1-100)"
  grep -q "$4" <<<"$out" || fail "$1: no \"$4\" in: $(head -3 <<<"$out")"
  awk -v s="$s" -v max="$2" 'BEGIN { exit !(s <= max) }' || fail "$1: --config.check took $s s"
  [ "$kb" -le $(($3 * 1024)) ] || fail "$1: --config.check used $((kb / 1024)) MB"
}
check "$TMP/big.yml" 2 100 "is larger than 1048576 bytes"
check "$TMP/keys.yml" 5 300 "and 99950 more problems"

echo "top_n: 5" >"$TMP/config.yml"
ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$PORT --config.file="$TMP/config.yml" \
  >"$TMP/exporter.log" 2>&1 &
PID=$!
PIDS+=("$PID")
for _ in $(seq 50); do nsx curl -fsS -o /dev/null "$URL/-/healthy" 2>/dev/null && break; sleep 0.1; done
metric() { nsx curl -fsS "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
reload() { nsx curl -sS -m 10 -o /dev/null -w '%{http_code}' -X POST "$URL/-/reload"; }

step "2. reloading a 10 MB file"
rss0=$(rss_kb)
cp "$TMP/big.yml" "$TMP/config.yml"
t0=${EPOCHREALTIME/./}
code=$(reload)
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
rss1=$(rss_kb)
echo "reload of 10 MB: HTTP $code after $ms ms, RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB"
[ "$code" = 500 ] || fail "reload of a 10 MB file answered $code"
[ "$ms" -le 2000 ] || fail "reload of a 10 MB file took $ms ms"
[ $((rss1 - rss0)) -le 51200 ] || fail "RSS grew by $(((rss1 - rss0) / 1024)) MB"

step "3. a FIFO at --config.file"
rm "$TMP/config.yml"
mkfifo "$TMP/config.yml"
t0=${EPOCHREALTIME/./}
code=$(reload)
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
[ "$code" = 500 ] || fail "reload of a FIFO answered $code"
[ "$ms" -le 2000 ] || fail "reload of a FIFO took $ms ms"
fd0=$(fds) g0=$(metric go_goroutines)
for _ in $(seq 300); do
  [ "$(reload)" = 500 ] || fail "a reload of the FIFO did not answer 500"
done
fd1=$(fds) g1=$(metric go_goroutines)
failed=$(metric timewait_exporter_config_reloads_failed_total)
echo "FIFO: first reload HTTP 500 after $ms ms; 300 more: FDs $fd0 -> $fd1, goroutines $g0 -> $g1, reloads_failed_total $failed"
[ "$fd1" -le $((fd0 + 5)) ] || fail "FDs $fd0 -> $fd1 over 300 reloads"
[ "$g1" -le $((g0 + 5)) ] || fail "goroutines $g0 -> $g1 over 300 reloads"
[ "$failed" = 302 ] || fail "timewait_exporter_config_reloads_failed_total $failed, want 302"
[ "$(metric timewait_exporter_config_last_reload_successful)" = 0 ] || fail "last reload reported successful"
rm "$TMP/config.yml"
printf 'destinations:\n  - {name: fifo_gone, address: "192.0.2.1:443"}\n' >"$TMP/config.yml"
kill -HUP "$PID"
for _ in $(seq 50); do [ "$(metric timewait_exporter_config_last_reload_successful)" = 1 ] && break; sleep 0.1; done
[ "$(metric timewait_exporter_config_last_reload_successful)" = 1 ] || fail "SIGHUP with a valid file not applied"
nsx curl -fsS -o "$TMP/metrics" "$URL/metrics" || fail "scrape after the SIGHUP"
grep -q 'name="fifo_gone"' "$TMP/metrics" || fail "the valid file's destination is not exported"
echo "SIGHUP after replacing the FIFO: applied"
echo "harden_config: ok"
RC=0
