#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The /doctor page in a real browser: in a throwaway network namespace with
# real port pressure (tcp_tw_reuse=0, 500 usable ports, 470 client-closed
# connections to 127.0.0.1:7000), start the exporter and load /doctor in
# headless Chromium (Debian's chromium package). Asserts the rendered DOM
# shows the critical verdict and the finding naming 127.0.0.1:7000 with its
# fix commands, and that the page loaded nothing from outside (no external
# assets: the exporter's log of requests is not needed, the page has no
# src/href to other hosts and the CSP forbids them). Saves a screenshot as
# test/artifacts/doctor.png (look at it: it must read well).
# Needs root (ip netns, sysctl), go (builds twgen), chromium, ss, curl.
# Bounded (timeout 150 s; each Chromium run 60 s); cleans up on any exit.
set -uo pipefail
# shellcheck source=test/lib/netns.bash
. "$(dirname "$0")/lib/netns.bash"
# shellcheck source=test/lib/doctor.bash
. "$(dirname "$0")/lib/doctor.bash"
tw_init doctor_chromium 150 10 "ip netns and sysctl" go ip ss curl chromium -- "$@"
tw_exporter

NS=tw-doctor-chr-$$
NAMESPACES=("$NS")
ART=$ROOT/test/artifacts
PORT=9966
URL=http://127.0.0.1:$PORT/doctor

tw_on_failure() {
  mkdir -p "$ART/doctor_chromium"
  cp "$TMP"/*.log "$TMP"/*.html "$ART/doctor_chromium/" 2>/dev/null
  echo "doctor_chromium: logs kept in $ART/doctor_chromium"
}
t0=$(date +%s.%N)

# One Chromium run: headless, no network services of its own, a fresh
# profile each time.
chrome() {
  local profile
  profile=$(mktemp -d "$TMP/profile.XXXXXX")
  nsx timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --disable-dev-shm-usage --hide-scrollbars \
    --user-data-dir="$profile" "$@"
}

doctor_netns

nsx "$EXPORTER" --web.listen-address=127.0.0.1:$PORT >"$TMP/exporter.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
  nsx curl -fsS -o /dev/null "http://127.0.0.1:$PORT/-/healthy" 2>/dev/null && break
  sleep 0.1
done
nsx curl -fsS -o /dev/null "http://127.0.0.1:$PORT/-/healthy" || fail "exporter did not come up"

doctor_fill

echo "--- chromium --dump-dom $URL"
t1=$(date +%s.%N)
chrome --dump-dom "$URL" >"$TMP/dom.html" 2>"$TMP/chromium-dom.log" || fail "chromium --dump-dom failed: $(tail -3 "$TMP/chromium-dom.log")"
printf 'rendered in %.1f s, %d bytes of DOM\n' "$(echo "$(date +%s.%N) - $t1" | bc)" "$(wc -c <"$TMP/dom.html")"
grep -q 'Verdict: <strong>CRITICAL</strong>' "$TMP/dom.html" || fail "DOM lacks the critical verdict"
grep -Eq "<h2><span class=\"badge critical\">CRITICAL</span>$DOCTOR_TITLE \([0-9]+ of 500\)</h2>" "$TMP/dom.html" \
  || fail "DOM lacks the finding naming $DEST"
grep -q 'data-rule="ephemeral-ports" data-severity="critical"' "$TMP/dom.html" || fail "finding section missing"
grep -q '<pre>sysctl -w net.ipv4.tcp_tw_reuse=1</pre>' "$TMP/dom.html" || fail "fix commands not rendered"
grep -q 'tcp_tw_recycle' "$TMP/dom.html" && fail "page mentions tcp_tw_recycle"
grep -Eiq '<(script|img|link|iframe)|src=|https?://[^"<]*"' "$TMP/dom.html" && fail "page references external assets"
echo "DOM shows the critical finding naming $DEST and its fixes"

echo "--- chromium --screenshot"
mkdir -p "$ART"
rm -f "$ART/doctor.png"
chrome --screenshot="$TMP/doctor.png" --window-size=1200,1600 "$URL" >"$TMP/chromium-shot.log" 2>&1 || fail "chromium --screenshot failed: $(tail -3 "$TMP/chromium-shot.log")"
[ -s "$TMP/doctor.png" ] || fail "no screenshot written"
head -c 8 "$TMP/doctor.png" | od -An -tx1 | grep -q '89 50 4e 47' || fail "screenshot is not a PNG"
cp "$TMP/doctor.png" "$ART/doctor.png"
echo "screenshot: test/artifacts/doctor.png ($(wc -c <"$ART/doctor.png") bytes)"

if grep -Eiq 'level=(error|warn)' "$TMP/exporter.log"; then
  cat "$TMP/exporter.log"; fail "exporter logged errors or warnings"
fi
RC=0
printf 'doctor_chromium: PASS in %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
