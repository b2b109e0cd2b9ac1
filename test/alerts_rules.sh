#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Static checks of the alert rules, the runbook and the Grafana dashboards:
#  - every file the mixin renders (rules, PrometheusRule, alertmanager.yml,
#    dashboards, the doctor's defaults) is what mixin/ renders now (go-jsonnet)
#  - promtool check rules + promtool test rules (every alert before/after for:)
#  - every runbook_url anchor exists in docs/runbook.md
#  - dashboards parse as JSON, have
#    unique stable uids, ${datasource}/job/instance variables, a description
#    on every panel, only known metric names, and every PromQL expression
#    (variables substituted) parses (fed to promtool check rules), and each
#    dashboard passes Grafana's dashboard schema (grafana-foundation-sdk)
#  - the mixin's _config knobs (selector, title prefix, tags, data source
#    regex, cluster variable) reach the rendered dashboards
#  - none of the docs, rules or dashboards gives the known-wrong advice
# Needs: go, promtool, jq. Bounded: each step under `timeout`. Exits non-zero on failure.
set -uo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init alerts_rules 900 10 "" go promtool jq -- "$@"
RULES=deploy/prometheus/rules

TESTS=mixin/tests
# The rules run on Debian's Prometheus 2 (promtool) and on Prometheus 3, which
# leaves a range's left edge out: promtool 3, built once by make deps.
PROMTOOL3=$ROOT/.tools/promtool3
[ -x "$PROMTOOL3" ] || fail "$PROMTOOL3 not found (run make deps)"

# --- alert rules ---------------------------------------------------------
tw_check "committed files are the mixin's rendering" bash -c "cd mixin && go run ./render -check"
tw_check "promtool check rules" promtool check rules "$RULES/timewait.rules.yml"
tw_check "promtool test rules" promtool test rules "$TESTS"/*.yml
tw_check "promtool 3 check rules" "$PROMTOOL3" check rules "$RULES/timewait.rules.yml"
tw_check "promtool 3 test rules" "$PROMTOOL3" test rules "$TESTS"/*.yml

check_runbook() {
  local n=0 url anchor alerts tested
  alerts=$(sed -n 's/^ *- alert: *//p' "$RULES/timewait.rules.yml" | sort -u)
  for a in $alerts; do
    grep -q "alertname: $a\$" "$TESTS"/*.yml || { echo "alert $a has no promtool test"; return 1; }
  done
  # runbook_url .../docs/FILE.md#anchor, and the dashboards' runbook links
  while read -r url; do
    anchor=${url#*#} file=${url%%#*}
    file=docs/${file##*/}
    grep -q "<a id=\"$anchor\"></a>" "$file" || { echo "runbook link $url: no anchor in $file"; return 1; }
    n=$((n + 1))
  done < <({ sed -n 's/^ *runbook_url: *//p' "$RULES/timewait.rules.yml"
             grep -ho '"url": "https://[^"]*/docs/runbook[^"]*"' dashboards/*.json | cut -d'"' -f4; } | sort -u)
  [ "$n" -gt 0 ] || { echo "no runbook_url found"; return 1; }
  for a in $alerts; do
    grep -q "^## $a\$" docs/runbook*.md || { echo "docs/runbook*.md has no section '## $a'"; return 1; }
  done
}
tw_check "every alert tested, runbook_url anchors exist" check_runbook

# --- dashboards -----------------------------------------------------------
tw_check "dashboard lint (JSON, uids, variables, descriptions, metric names)" bash -c "
  cd mixin && go run ./dashcheck lint -dir ../dashboards -rules '$TMP/dashboard-exprs.yml'"
tw_check "dashboards pass Grafana's schema (grafana-foundation-sdk strict decode + Validate)" bash -c "
  cd mixin && go run ./schemacheck ../dashboards/*.json"
tw_check "every dashboard PromQL expression parses (promtool)" promtool check rules "$TMP/dashboard-exprs.yml"
tw_check "every dashboard PromQL expression parses (promtool 3)" "$PROMTOOL3" check rules "$TMP/dashboard-exprs.yml"

# The _config knobs reach the dashboards: rendered with other values, every
# raw metric in a query or variable carries the selector, none the default.
knobs() {
  local d=$TMP/knobs/dashboards got raw='(^|[^a-z_:])timewait_[a-z_]+\{[^}]*'
  printf '%s\n' "{ _config+:: { selector: 'job=\"node-tw\"', grafana+: { titlePrefix: 'K8s / TW / ', tags: ['tw-k8s', 'x'], datasourceRegex: '/^prom-/', showMultiCluster: false } } }" >"$TMP/knobs.jsonnet"
  (cd mixin && go run ./render -patch "$TMP/knobs.jsonnet" -out "$TMP/knobs") || return 1
  got=$(jq -c '[.title, .tags, .links[0].tags, (.templating.list[] | select(.name == "datasource") | .regex),
                (.templating.list[] | select(.name == "cluster") | .hide)]' "$d/timewait-overview.json")
  [ "$got" = '["K8s / TW / Overview",["tw-k8s","x"],["tw-k8s"],"/^prom-/",2]' ] || { echo "overview: $got"; return 1; }
  jq -r '.. | objects | (.expr?, .definition?) | strings' "$d"/*.json >"$TMP/knobs.exprs"
  [ "$(grep -cE "$raw" "$TMP/knobs.exprs")" -gt 50 ] || { echo "too few queries read"; return 1; }
  ! grep -q 'job="timewait"' "$TMP/knobs.exprs" || { echo "the default selector is left in a query"; return 1; }
  got=$(grep -oE "$raw" "$TMP/knobs.exprs" | grep -v 'job="node-tw"')
  [ -z "$got" ] || { echo "raw metrics without the selector:"; echo "$got" | head -3; return 1; }
}
tw_check "the _config knobs reach the dashboards (selector, title prefix, tags, data source regex, cluster variable)" knobs

# --- known-wrong advice must not appear as advice -------------------------
wrong_advice() {
  local files=(docs/runbook*.md "$RULES/timewait.rules.yml" dashboards/*.json)
  # setting tcp_tw_recycle, or any value for tcp_fin_timeout, or lowering tcp_max_tw_buckets
  if grep -nE 'tcp_tw_recycle *= *1|tcp_fin_timeout *= *[0-9]|(lower|decrease|reduce) (net\.ipv4\.)?tcp_max_tw_buckets' "${files[@]}" |
     grep -viE 'not|never|don.t|wrong'; then
    echo "wrong advice above"; return 1
  fi
  grep -q 'removed in Linux 4.12' docs/runbook.md || { echo "runbook lacks the tcp_tw_recycle warning"; return 1; }
  grep -q 'does not shorten TIME_WAIT' docs/runbook.md || { echo "runbook lacks the tcp_fin_timeout warning"; return 1; }
}
tw_check "no known-wrong advice" wrong_advice

tw_checks_done
