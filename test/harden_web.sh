#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The exporter's web surface, end to end, in a private network namespace:
# 1. TLS + basic auth through --web.config.file (exporter-toolkit), with a
#    throwaway self-signed certificate: right password 200, wrong password,
#    unknown user and no credentials 401, plain HTTP to the TLS port gets no
#    metrics, TLS < 1.2 refused; no pprof/expvar/debug endpoints; /-/reload
#    POST only (GET 405) and behind the same auth.
# 2. A bad web config (syntax, unknown field, missing certificate, a
#    plain-text password instead of a bcrypt hash, no such file) makes the
#    exporter exit non-zero at once, saying which file is wrong.
# 3. Concurrency under the race detector: a -race build serves many
#    concurrent scrapes (30 at a time, within --web.max-requests) while the config is
#    reloaded (POST /-/reload and SIGHUP, valid and invalid files); every
#    scrape succeeds, no data race, clean exit. With --web.max-requests=1 the
#    excess gets 503, nothing else.
# 4. A client that never finishes its request headers is disconnected after
#    ReadHeaderTimeout (10 s).
# Needs ./timewait_exporter (make build), go, openssl, curl, unshare, ip.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init harden_web 420 10 "a private network namespace" go openssl curl unshare ip -- "$@"
tw_exporter

work=$TMP
cp "$EXPORTER" "$work/timewait_exporter"
echo "--- building a -race binary"
go build -race -o "$work/timewait_exporter_race" .

cp test/lib/inner.bash "$work/"
cat >"$work/inner.sh" <<'INNER'
work=$1
cd "$work"
source "$work/inner.bash"

wait_up() { # wait_up PID URL [curl args]
  local pid=$1 url=$2; shift 2
  for _ in $(seq 100); do
    curl -sS -o /dev/null "$@" "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work"/*.log >&2; fail "exporter exited"; }
    sleep 0.1
  done
  fail "exporter did not come up at $url"
}
code() { curl -sS -o "$work/body" -w '%{http_code}' "$@" || true; }
expect() { # expect WANT DESCRIPTION curl-args...
  local want=$1 what=$2; shift 2
  local got; got=$(code "$@")
  [ "$got" = "$want" ] || fail "$what: HTTP $got, want $want"
  echo "ok   $what: $got"
}

echo "--- 1. TLS and basic auth"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout key.pem -out cert.pem 2>/dev/null
chmod 600 key.pem
# bcrypt (cost 10) of "s3cret-scrape".
cat >web.yml <<'EOF'
tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
basic_auth_users:
  prometheus: $2a$10$qo9f4UVNuR6adSOLE6XEsOqJKkzAwxf9wNJGKiDIX0O7JTiRx4ddC
EOF
./timewait_exporter --web.listen-address=127.0.0.1:9443 --web.config.file=web.yml >tls.log 2>&1 &
pid=$!; pids+=("$pid")
url=https://127.0.0.1:9443
tls=(--cacert cert.pem)
good=(-u prometheus:s3cret-scrape)
wait_up "$pid" "$url/-/healthy" "${tls[@]}"

expect 200 "metrics with the right password" "${tls[@]}" "${good[@]}" "$url/metrics"
grep -q '^timewait_scrape_collector_success{collector="sockets"} 1$' body || fail "TLS scrape has no successful sockets collector"
expect 401 "wrong password"  "${tls[@]}" -u prometheus:wrong "$url/metrics"
expect 401 "unknown user"    "${tls[@]}" -u admin:s3cret-scrape "$url/metrics"
expect 401 "no credentials"  "${tls[@]}" "$url/metrics"
expect 401 "no credentials, healthy" "${tls[@]}" "$url/-/healthy"
grep -q timewait_ body && fail "401 body leaks metrics"
got=$(code "http://127.0.0.1:9443/metrics")
grep -q timewait_ body && fail "plain HTTP to the TLS port got metrics"
[ "$got" != 200 ] || fail "plain HTTP to the TLS port answered 200"
echo "ok   plain HTTP to the TLS port: HTTP $got, no metrics"
if curl -sS -o /dev/null "${tls[@]}" "${good[@]}" --tls-max 1.1 "$url/metrics" 2>/dev/null; then fail "TLS 1.1 accepted"; fi
echo "ok   TLS 1.1 refused"
curl -sS -o /dev/null "${tls[@]}" "${good[@]}" "$url/metrics" --tlsv1.3 || fail "TLS 1.3 refused"
for p in /debug/pprof/ /debug/pprof/heap /debug/pprof/goroutine /debug/pprof/cmdline /debug/vars /debug/metrics /metrics/debug /-/quit; do
  expect 404 "no $p" "${tls[@]}" "${good[@]}" "$url$p"
done
expect 405 "GET /-/reload" "${tls[@]}" "${good[@]}" "$url/-/reload"
expect 405 "PUT /-/reload" "${tls[@]}" "${good[@]}" -X PUT "$url/-/reload"
expect 401 "POST /-/reload without credentials" "${tls[@]}" -X POST "$url/-/reload"
expect 200 "POST /-/reload" "${tls[@]}" "${good[@]}" -X POST "$url/-/reload"
expect 200 "landing page" "${tls[@]}" "${good[@]}" "$url/"
expect 401 "doctor without credentials" "${tls[@]}" "$url/doctor"
expect 200 "doctor" "${tls[@]}" "${good[@]}" "$url/doctor"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "--- 2. a bad web config stops the exporter at startup"
printf 'tls_server_config:\n  cert_file: [\n' >bad-syntax.yml
printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_user:\n  a: b\n' >bad-field.yml
printf 'tls_server_config:\n  cert_file: missing.pem\n  key_file: key.pem\n' >bad-cert.yml
printf 'basic_auth_users:\n  prometheus: plaintext\n' >bad-hash.yml
for f in bad-syntax.yml bad-field.yml bad-cert.yml bad-hash.yml no-such-file.yml; do
  rc=0
  timeout 10 ./timewait_exporter --web.listen-address=127.0.0.1:9444 --web.config.file="$f" >bad.log 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "$f: exporter exited 0"
  [ "$rc" -ne 124 ] || { cat bad.log >&2; fail "$f: exporter kept running on a bad web config"; }
  grep -qi 'level=error' bad.log || { cat bad.log >&2; fail "$f: no error logged"; }
  grep -q "$f" bad.log || { cat bad.log >&2; fail "$f: the error does not name the file"; }
  echo "ok   $f: exit $rc: $(grep -i 'level=error' bad.log | sed 's/.*msg=//' | head -1)"
done

echo "--- 3. concurrent scrapes and reloads under -race"
printf 'top_n: 5\n' >config.yml
GORACE=halt_on_error=0 ./timewait_exporter_race --web.listen-address=127.0.0.1:9966 --config.file=config.yml \
  --log.level=info >race.log 2>&1 &
rpid=$!; pids+=("$rpid")
wait_up "$rpid" http://127.0.0.1:9966/-/healthy

# 4. Slow-loris client, in the background meanwhile: headers never finished.
( exec 3<>/dev/tcp/127.0.0.1/9966
  printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n' >&3
  start=$(date +%s)
  if timeout 20 cat <&3 >/dev/null; then echo "closed after $(( $(date +%s) - start )) s" >slowloris.result
  else echo "still open after 20 s" >slowloris.result; fi ) &
slow=$!

reloads=0 bad=0
( for i in $(seq 60); do
    case $((i % 3)) in
      0) printf 'top_n: 7\nports: [8080]\n' >config.yml.new ;;
      1) printf 'top_n: 3\n' >config.yml.new ;;
      2) printf 'top_n: -1\n' >config.yml.new ;;   # invalid: rejected, old one kept
    esac
    mv config.yml.new config.yml
    if ((i % 2)); then
      c=$(curl -sS -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9966/-/reload)
      echo "post $((i % 3)) $c"
    else
      kill -HUP "$rpid"; echo "hup $((i % 3)) -"
    fi
    sleep 0.05
  done >reloads.txt ) &
reloader=$!

n=300
curl -sS -Z --parallel-max 30 -w '%{http_code}\n' -o 'scrape_#1' \
  "http://127.0.0.1:9966/metrics?n=[1-$n]" >codes.txt 2>curl.err || true
wait "$reloader"
ok=$(grep -c '^200$' codes.txt || true)
[ "$ok" -eq "$n" ] || { sort codes.txt | uniq -c >&2; fail "$ok of $n concurrent scrapes answered 200"; }
bad_bodies=0
for f in scrape_*; do
  [ "$(grep -c '^timewait_scrape_collector_success{.*} 1$' "$f")" -ge 4 ] || bad_bodies=$((bad_bodies + 1))
done
[ "$bad_bodies" -eq 0 ] || fail "$bad_bodies scrapes had a failed or missing collector"
echo "ok   $n scrapes, 30 at a time, all 200 with every collector successful"
# Valid reloads answer 200, invalid ones are refused (and keep the old config).
awk '$1 == "post" && $2 != 2 && $3 != 200 { bad = 1 } $1 == "post" && $2 == 2 && $3 == 200 { bad = 1 } END { exit bad }' reloads.txt \
  || { cat reloads.txt >&2; fail "reload answers"; }
echo "ok   $(grep -c . reloads.txt) reloads during the scrapes ($(grep -c '^post' reloads.txt) POST, $(grep -c '^hup' reloads.txt) SIGHUP; every third file invalid)"
printf 'top_n: 4\n' >config.yml
curl -fsS -o /dev/null -X POST http://127.0.0.1:9966/-/reload
curl -fsS -o last.txt http://127.0.0.1:9966/metrics
grep -q '^timewait_exporter_config_last_reload_successful 1$' last.txt || fail "last reload not reported successful"
# The slow client must see the server's own timeout, not the shutdown.
wait "$slow" || true
result=$(cat slowloris.result)
case $result in
  "closed after "*) s=${result#closed after }; s=${s% s}
     [ "$s" -ge 8 ] && [ "$s" -le 13 ] || fail "slow client: $result (ReadHeaderTimeout is 10 s)"
     echo "ok   slow client with unfinished headers: $result" ;;
  *) fail "slow client: $result" ;;
esac
kill -TERM "$rpid"; rc=0; wait "$rpid" || rc=$?
if grep -q 'DATA RACE' race.log; then grep -A30 'DATA RACE' race.log | head -80 >&2; fail "data race"; fi
[ "$rc" -eq 0 ] || { tail -20 race.log >&2; fail "race binary exited $rc"; }
echo "ok   no data race, clean exit on SIGTERM"


echo "--- in-flight limit"
./timewait_exporter_race --web.listen-address=127.0.0.1:9967 --web.max-requests=1 >limit.log 2>&1 &
lpid=$!; pids+=("$lpid")
wait_up "$lpid" http://127.0.0.1:9967/-/healthy
curl -sS -Z --parallel-max 40 -w '%{http_code}\n' -o /dev/null "http://127.0.0.1:9967/metrics?n=[1-200]" >limit.txt 2>curl.err || true
others=$(grep -cv '^\(200\|503\)$' limit.txt || true)
[ "$others" -eq 0 ] || { sort limit.txt | uniq -c >&2; fail "with --web.max-requests=1 some answers were neither 200 nor 503"; }
echo "ok   --web.max-requests=1, 40 at a time: $(grep -c '^200$' limit.txt) x 200, $(grep -c '^503$' limit.txt || true) x 503"
# Every rejected scrape counts in promhttp's own counter (this last scrape
# is alone, so it is not rejected).
rejected=$(grep -c '^503$' limit.txt || true)
counted=$(curl -sS http://127.0.0.1:9967/metrics | awk '$1 == "promhttp_metric_handler_requests_total{code=\"503\"}" {print $2}')
[ "$counted" = "$rejected" ] || fail "promhttp_metric_handler_requests_total{code=\"503\"} is ${counted:-absent}, but $rejected scrapes got 503"
echo "ok   the $rejected rejected scrapes count in promhttp_metric_handler_requests_total{code=\"503\"}"
kill "$lpid"; wait "$lpid" 2>/dev/null || true
grep -q 'DATA RACE' limit.log && fail "data race (limit run)"
true
INNER

timeout 300 unshare --net bash "$work/inner.sh" "$work" || fail "the web surface in a private network namespace"
echo "harden_web: ok"
RC=0
