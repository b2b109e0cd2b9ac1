#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Values the exporter must not lie about, against the built binary, with
# --path.procfs at a copy of a throwaway namespace's proc files:
# 1. With tcp_fin_timeout "60abc", `timewait_exporter doctor` on that copy,
#    made to find a port range of odd size and a lowered
#    tcp_max_tw_buckets, reports both (and the bad sysctl as incomplete),
#    not the unread fin_timeout. (What a scrape makes of it and of the
#    impossible sockstat "tw -5" and TcpExt TCPTimeWaitOverflow -3: the
#    collector test TestFaultImpossibleValues, in-process.)
# 2. With tcp_max_tw_buckets a FIFO (the read blocks):
#    - a scrape with X-Prometheus-Scrape-Timeout-Seconds "Inf" (garbage:
#      the 10 s default) answers 200 within 9.5 s (it pinned the run for
#      292 years, and every later scrape got its values);
#    - sockstat's tw then changes from 0 to 4242; a scrape without the
#      header that began meanwhile answers by 9.5 s, before a 10 s client
#      timeout (it answered at 10.004 s), with 4242, and one with a 2 s
#      timeout answers within 2 s without the old 0 as a success;
#    - then scrapes with "NaN" and "9.3e9" answer within 2 s with 4242.
# Needs root (ip netns), curl, jq, mkfifo. Bounded (timeout 90 s).
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
tw_init harden_values 90 5 "ip netns" ip curl jq mkfifo -- "$@"
tw_exporter

tw_scene tw-values 9979

tw_copy_proc "$TMP/orig"
sockstat_tw() { sed -i -E "s/^(TCP: .* tw )[-0-9]+/\1$1/" "$TMP/proc/net/sockstat"; }

start() { # start: the exporter on a fresh copy of orig at $TMP/proc
  ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$PORT --path.procfs="$TMP/proc" \
    --log.level=info >"$TMP/exporter.log" 2>&1 &
  EXP_PID=$!
  PIDS+=("$EXP_PID")
  for _ in $(seq 50); do nsx curl -fsS -o /dev/null "$URL/-/healthy" 2>/dev/null && return 0; sleep 0.1; done
  fail "exporter did not come up"
}
fresh() { rm -rf "$TMP/proc"; cp -a "$TMP/orig" "$TMP/proc"; }
# MS is curl's own time from its start to the answer's end, as a client's
# timeout counts it: not the start of `ip netns exec` and curl, which a
# loaded machine delays by hundreds of milliseconds.
scrape() { # scrape OUT [HEADER]: sets CODE and MS
  local h=() out
  [ -z "${2:-}" ] || h=(-H "X-Prometheus-Scrape-Timeout-Seconds: $2")
  out=$(nsx curl -sS -m 12 -o "$1" -w '%{http_code} %{time_total}' "${h[@]}" "$URL/metrics")
  CODE=${out% *}
  MS=$(awk -v s="${out#* }" 'BEGIN { printf "%d", s * 1000 }')
}
success() { awk -F'[{}" ]+' '/^timewait_scrape_collector_success\{/ { printf "%s=%s ", $3, $4 }' "$1"; }
value() { awk -v m="$2" '$1 == m { print $2 }' "$1"; }

step "1. tcp_fin_timeout = 60abc: the doctor"
fresh
echo 60abc >"$TMP/proc/sys/net/ipv4/tcp_fin_timeout"
printf '32768\t60998\n' >"$TMP/proc/sys/net/ipv4/ip_local_port_range"
echo 1000 >"$TMP/proc/sys/net/ipv4/tcp_max_tw_buckets"
nsx "$EXPORTER" doctor --path.procfs="$TMP/proc" --output=json >"$TMP/doctor.json"
rc=$?
rules=$(jq -r '[.findings[].rule] | join(" ")' "$TMP/doctor.json")
echo "doctor: exit $rc, rules: $rules"
[ "$rc" = 1 ] || fail "doctor exit $rc, want 1 (warnings)"
for r in incomplete port-range tw-buckets-lowered; do
  [[ " $rules " == *" $r "* ]] || fail "bad fin_timeout: doctor lacks the $r finding"
done
[[ " $rules " == *" fin-timeout "* ]] && fail "doctor judged the unread fin_timeout"
jq -e '.findings[] | select(.rule == "incomplete") | .observed[] | select(test("tcp_fin_timeout"))' "$TMP/doctor.json" >/dev/null ||
  fail "doctor's incomplete finding does not name tcp_fin_timeout"

step "2. a blocked read, headers missing or malformed"
fresh
sockstat_tw 0
rm "$TMP/proc/sys/net/ipv4/tcp_max_tw_buckets"
mkfifo "$TMP/proc/sys/net/ipv4/tcp_max_tw_buckets"
start
(scrape "$TMP/inf" Inf; echo "$CODE $MS" >"$TMP/inf.rc") &
bg=($!)
sleep 1
sockstat_tw 4242
sleep 0.5
(scrape "$TMP/none"; echo "$CODE $MS" >"$TMP/none.rc") &
bg+=($!)
sleep 0.5
scrape "$TMP/short" 2
echo "2 s header, during the run: HTTP $CODE after $MS ms, tw $(value "$TMP/short" timewait_sockstat_tw_sockets), $(success "$TMP/short")"
[ "$CODE" = 200 ] && [ "$MS" -le 2000 ] || fail "2 s header: HTTP $CODE after $MS ms"
if [ "$(value "$TMP/short" timewait_sockstat_tw_sockets)" = 0 ]; then fail "2 s header: the old tw 0 served"; fi
wait "${bg[@]}"
read -r code ms <"$TMP/inf.rc"
echo "Inf: HTTP $code after $ms ms, $(success "$TMP/inf")"
[ "$code" = 200 ] && [ "$ms" -le 9500 ] || fail "Inf: HTTP $code after $ms ms, want 200 within 9.5 s"
read -r code ms <"$TMP/none.rc"
echo "no header: HTTP $code after $ms ms, tw $(value "$TMP/none" timewait_sockstat_tw_sockets), $(success "$TMP/none")"
[ "$code" = 200 ] && [ "$ms" -le 9500 ] || fail "no header: HTTP $code after $ms ms, want 200 within 9.5 s"
[ "$(value "$TMP/none" timewait_sockstat_tw_sockets)" = 4242 ] || fail "no header: tw $(value "$TMP/none" timewait_sockstat_tw_sockets), want 4242"
for h in NaN 9.3e9; do
  scrape "$TMP/m" "$h"
  echo "$h: HTTP $CODE after $MS ms, tw $(value "$TMP/m" timewait_sockstat_tw_sockets), $(success "$TMP/m")"
  [ "$CODE" = 200 ] && [ "$MS" -le 2000 ] || fail "$h: HTTP $CODE after $MS ms"
  [ "$(value "$TMP/m" timewait_sockstat_tw_sockets)" = 4242 ] || fail "$h: tw $(value "$TMP/m" timewait_sockstat_tw_sockets), want 4242"
  [ "$(success "$TMP/m")" = "netstat=1 sockets=0 sockstat=1 sysctl=0 " ] || fail "$h: $(success "$TMP/m")"
done
echo "harden_values: ok"
RC=0
