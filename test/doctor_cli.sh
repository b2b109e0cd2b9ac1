#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `timewait_exporter doctor` end to end, with the real binary (make build)
# in a throwaway network namespace: tcp_tw_reuse=0, ip_local_port_range of
# 500 ports, 470 client-closed connections to 127.0.0.1:7000 (real TIME_WAIT
# sockets, made by tools/twgen). Asserts:
#  - text output: exit status 2, the first finding is CRITICAL and names
#    127.0.0.1:7000, its fixes come in the documented order (connection
#    reuse, more destinations/source IPs, wider ip_local_port_range,
#    tcp_tw_reuse=1), and nothing mentions tcp_tw_recycle or sets
#    tcp_fin_timeout;
#  - --output=json: the same verdict, machine-readable (jq);
#  - /doctor and /doctor.json on the exporter's server behind
#    --web.config.file basic auth: 401 without, 200 with credentials, same
#    verdict; the landing page links /doctor;
#  - a fresh namespace with no pressure: exit status 0 and a plain OK;
#  - an unknown --output: exit status 3.
# Needs root (ip netns, sysctl), go (builds twgen), ss, curl, jq.
# Bounded (timeout 120 s); cleans up on any exit; outputs of a failed run
# are kept in test/artifacts/doctor_cli/.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
# shellcheck source=test/lib/doctor.bash
. "$(dirname "$0")/lib/doctor.bash"
tw_init doctor_cli 120 10 "ip netns and sysctl" go ip ss curl jq unshare -- "$@"
tw_exporter

NS=tw-doctor-cli-$$
NAMESPACES=("$NS")
ART=$ROOT/test/artifacts/doctor_cli
PORT=9966

tw_on_failure() {
  rm -rf "$ART"; mkdir -p "$ART"
  cp "$TMP"/*.txt "$TMP"/*.json "$TMP"/*.log "$TMP"/*.html "$ART"/ 2>/dev/null
  echo "doctor_cli: outputs kept in $ART"
}
t0=$(date +%s.%N)

doctor_netns

doctor_fill

echo "--- doctor (text)"
nsx "$EXPORTER" doctor >"$TMP/doctor.txt" 2>"$TMP/doctor.log"
rc=$?
cat "$TMP/doctor.txt"
[ "$rc" -eq 2 ] || fail "exit status $rc, want 2"
sed -n 3p "$TMP/doctor.txt" | grep -q '^Verdict: CRITICAL (exit status 2)' || fail "verdict line"
# The first finding, up to the blank line before the next one.
awk 'f && /^$/ {exit} /^\[/ {f=1} f' "$TMP/doctor.txt" >"$TMP/first.txt"
head -1 "$TMP/first.txt" | grep -Eq "^\[CRITICAL\] $DOCTOR_TITLE" || fail "first finding does not name $DEST: $(head -1 "$TMP/first.txt")"
line() { grep -n -F -- "$1" "$TMP/first.txt" | head -1 | cut -d: -f1; }
a=$(line "keep-alive") b=$(line "more destination IPs") c=$(line 'sysctl -w net.ipv4.ip_local_port_range="10240 65535"') d=$(line "sysctl -w net.ipv4.tcp_tw_reuse=1")
echo "fix order (lines): keep-alive=$a destinations=$b port_range=$c tw_reuse=$d"
[ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ -n "$d" ] || fail "a fix step is missing"
[ "$a" -lt "$b" ] && [ "$b" -lt "$c" ] && [ "$c" -lt "$d" ] || fail "fix steps out of order"
grep -q 'tcp_tw_recycle' "$TMP/doctor.txt" && fail "output mentions tcp_tw_recycle"
grep -Eq 'tcp_fin_timeout *=' "$TMP/doctor.txt" && fail "output sets tcp_fin_timeout"
grep -q '^\[WARNING\] tcp_tw_reuse=0' "$TMP/doctor.txt" || fail "no tcp_tw_reuse finding"

echo "--- doctor --output=json"
nsx "$EXPORTER" doctor --output=json >"$TMP/doctor.json" 2>>"$TMP/doctor.log"
rc=$?
[ "$rc" -eq 2 ] || fail "json: exit status $rc, want 2"
jq -e --arg d "$DEST" '.worst == "critical" and .exit_code == 2
  and .findings[0].rule == "ephemeral-ports" and .findings[0].subjects == [$d]
  and (.findings[0].fix | length) == 4
  and .findings[0].fix[3].commands == ["sysctl -w net.ipv4.tcp_tw_reuse=1"]' "$TMP/doctor.json" >/dev/null \
  || fail "json verdict: $(jq -c '{worst, exit_code, f: .findings[0] | {rule, subjects}}' "$TMP/doctor.json")"

echo "--- /doctor and /doctor.json behind --web.config.file basic auth"
# bcrypt of "doctor-test" (cost 10)
cat >"$TMP/web.yml" <<'EOF'
basic_auth_users:
  doctor: $2a$10$PFBpBo2A02ws6akh7ao/S.Awiy/TZ3tLSZbv6jbF/dGxKrXUcR6fm
EOF
ip netns exec "$NS" "$EXPORTER" --web.listen-address=127.0.0.1:$PORT --web.config.file="$TMP/web.yml" >"$TMP/exporter.log" 2>&1 &
PIDS+=($!)
up=
for _ in $(seq 50); do
  code=$(nsx curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/-/healthy")
  [ "$code" = 401 ] && { up=1; break; }
  sleep 0.1
done
[ -n "$up" ] || fail "exporter did not come up behind auth (last status $code)"
code=$(nsx curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/doctor")
[ "$code" = 401 ] || fail "/doctor without credentials: $code, want 401"
code=$(nsx curl -s -o "$TMP/doctor.html" -w '%{http_code}' -u doctor:doctor-test "http://127.0.0.1:$PORT/doctor")
[ "$code" = 200 ] || fail "/doctor with credentials: $code, want 200"
grep -Eq "$DOCTOR_TITLE" "$TMP/doctor.html" || fail "/doctor does not show the finding"
nsx curl -fsS -u doctor:doctor-test "http://127.0.0.1:$PORT/doctor.json" >"$TMP/web.json" || fail "/doctor.json"
jq -e --arg d "$DEST" '.worst == "critical" and .findings[0].subjects == [$d]' "$TMP/web.json" >/dev/null || fail "/doctor.json verdict"
nsx curl -fsS -u doctor:doctor-test "http://127.0.0.1:$PORT/" | grep -q 'href="/doctor"' || fail "landing page does not link /doctor"
echo "401 without credentials, 200 with; /doctor, /doctor.json and the landing page agree"

echo "--- a fresh namespace: healthy"
unshare --net "$EXPORTER" doctor >"$TMP/healthy.txt" 2>>"$TMP/doctor.log"
rc=$?
cat "$TMP/healthy.txt"
[ "$rc" -eq 0 ] || fail "healthy namespace: exit status $rc, want 0"
grep -q '^\[OK\] No TIME_WAIT problem' "$TMP/healthy.txt" || fail "no plain OK verdict"

echo "--- unknown --output"
nsx "$EXPORTER" doctor --output=yaml >/dev/null 2>&1
rc=$?
[ "$rc" -eq 3 ] || fail "--output=yaml: exit status $rc, want 3"

RC=0
printf 'doctor_cli: PASS in %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
