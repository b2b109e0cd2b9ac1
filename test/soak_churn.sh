#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Soak under TIME_WAIT churn, in a throwaway network namespace:
# - tools/twgen -duration keeps opening and closing loopback connections
#   (client closes first) from CHURN_PARALLEL threads, so that sockets churn through
#   TIME_WAIT for SOAK_SECONDS (default 90; the long form, `make soak`, runs
#   1800), at CHURN_RATE per second: 10,000 by default, about 600,000
#   TIME_WAIT after 60 s, whose walk stays well inside the scrape deadline
#   on a loaded 2-core machine; 0, `make soak`'s, is as fast as the threads
#   go (about 33,000/s and 1.8M TIME_WAIT here, a walk of 2.3 s quiet that
#   passed the 9 s deadline at load 4);
# - SCRAPERS (4) clients (tools/scrapeload) scrape /metrics every 100 ms each,
#   Prometheus-style (a tick that finds the client's previous scrape still
#   running is skipped), with the scrape-timeout header; the first also
#   reads /proc/net/sockstat right before and after each of its scrapes.
# Asserts:
# - no scrape fails: every answer is 200 with all four collectors at
#   success 1, and the exporter logs no error or warning;
# - timewait_tcp_sockets{state="time_wait"} (both families, from sock_diag)
#   lies within the kernel's sockstat tw read just before and after the
#   scrape, give or take TOLERANCE_PCT (default 3%, at least 2000 sockets)
#   plus twice the sockets that entered TIME_WAIT during the scrape (a walk
#   under churn misses some of those made and of those expiring);
# - go_goroutines and process_open_fds are flat: an idle scrape before the
#   churn vs. one after it (+2 each); RSS under load: last sample vs. the
#   first after 10% of the run (x1.5 + 16 MiB).
# Prints the achieved churn rate (TcpExt TW entries per second), scrapes
# done and failed, and the start/max/end figures.
# Needs ./timewait_exporter (make build), go, unshare, ip, curl.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
export SOAK_SECONDS=${SOAK_SECONDS:-90}
tw_init soak_churn $((SOAK_SECONDS + 420)) 10 "a private network namespace" go unshare ip curl -- "$@"
tw_exporter

export SCRAPERS=${SCRAPERS:-4}
export CHURN_PARALLEL=${CHURN_PARALLEL:-8}
export CHURN_RATE=${CHURN_RATE:-10000}

work=$TMP
cp "$EXPORTER" "$work/timewait_exporter"
CGO_ENABLED=0 go build -o "$work/twgen" ./tools/twgen
CGO_ENABLED=0 go build -o "$work/scrapeload" ./tools/scrapeload

cp test/lib/inner.bash "$work/"
cat >"$work/inner.sh" <<'INNER'
work=$1
cd "$work"
source "$work/inner.bash"

# No loopback reuse (counts would drift), ephemeral ports above the
# listeners (20000-21999), room for every TIME_WAIT socket.
echo 0 >/proc/sys/net/ipv4/tcp_tw_reuse
echo "30000 65535" >/proc/sys/net/ipv4/ip_local_port_range
echo 4000000 >/proc/sys/net/ipv4/tcp_max_tw_buckets

./timewait_exporter --web.listen-address=127.0.0.1:9966 --log.level=info >exporter.log 2>&1 &
epid=$!; pids+=("$epid")
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:9966/-/healthy 2>/dev/null && break; sleep 0.1; done
kill -0 "$epid" || fail "exporter did not start"

tcpext_tw() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "TW") c = i; h = 1 } else print $c }' /proc/net/netstat; }
sockstat_tw() { # builtin only: no process start between the reads and the scrape
  local a b c d e f g rest
  while read -r a b c d e f g rest; do
    [ "$a" = "TCP:" ] && { echo "$g"; return; }
  done </proc/net/sockstat
}

# figures NAME: goroutines, open fds and RSS from one scrape made alone.
figures() {
  curl -fsS -o quiet.txt http://127.0.0.1:9966/metrics
  awk -v n="$1" '/^go_goroutines / { g = $2 } /^process_open_fds / { f = $2 } /^process_resident_memory_bytes / { r = $2 }
    END { printf "%s %d %d %.0f\n", n, g, f, r }' quiet.txt
}
sleep 1
curl -fsS -o /dev/null http://127.0.0.1:9966/metrics
read -r _ qg0 qf0 qr0 < <(figures start)

start=$(date +%s)
end=$((start + SOAK_SECONDS))
tw0=$(tcpext_tw)

# Churn: tools/twgen connects and closes from CHURN_PARALLEL threads
# (blocking system calls), at most CHURN_RATE connections/s.
./twgen -duration "${SOAK_SECONDS}s" -ports 100 -base 20000 -parallel "$CHURN_PARALLEL" -rate "$CHURN_RATE" 2>twgen.log &
pids+=("$!")

# Scrapers, and the checker against sockstat (tools/scrapeload).
rc=0
./scrapeload -url http://127.0.0.1:9966/metrics -clients "$SCRAPERS" -interval 100ms \
  -duration "${SOAK_SECONDS}s" -sockstat /proc/net/sockstat -tolerance "${TOLERANCE_PCT:-3}" >scrapeload.out || rc=$?
for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
tw1=$(tcpext_tw)
elapsed=$(($(date +%s) - start))
rate=$(( (tw1 - tw0) / elapsed ))
twnow=$(sockstat_tw)

echo "churn: $((tw1 - tw0)) timewait mini-sockets created in ${elapsed}s = ${rate}/s (TcpExt TW: TIME_WAIT, and FIN_WAIT2 ones with a timeout over 4 s); sockstat tw now $twnow"
cat twgen.log
grep -v '^flat:' scrapeload.out

[ "$rc" -eq 0 ] || fail "scrapeload reported failed or inconsistent scrapes"
kill -0 "$epid" || fail "exporter died"
if grep -Ei 'level=(error|warn)' exporter.log; then fail "exporter logged errors or warnings"; fi
sleep 1
read -r _ qg1 qf1 qr1 < <(figures end)
echo "idle before/after the churn: goroutines $qg0 -> $qg1, open fds $qf0 -> $qf1, RSS $((qr0 / 1048576)) -> $((qr1 / 1048576)) MiB"
[ "$qg1" -le $((qg0 + 2)) ] || fail "goroutines grew: $qg0 -> $qg1 (idle)"
[ "$qf1" -le $((qf0 + 2)) ] || fail "open fds grew: $qf0 -> $qf1 (idle)"
read -r _ _ _ _ _ _ _ _ r0 r1 < <(grep '^flat:' scrapeload.out)
[ "$r1" -le $((r0 * 3 / 2 + 16777216)) ] || fail "RSS grew under load: $r0 -> $r1"
[ "$rate" -gt 0 ] || fail "no churn"
INNER

timeout $((SOAK_SECONDS + 300)) unshare --net bash "$work/inner.sh" "$work" || fail "the soak in a private network namespace"
echo "soak_churn: ok"
RC=0
