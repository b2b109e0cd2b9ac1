#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mutation test of the alert rules: mixin/mutate changes one thing at a time
# in deploy/prometheus/rules/timewait.rules.yml (each threshold and number,
# comparison, for:, label matcher, range window and offset) and runs
# `promtool test rules` on the mixin's tests, mixin/tests/*.yml, against each mutant. Every
# mutant must be killed (the tests fail); equivalent mutants are listed with
# the reason they are skipped. Prints "mutation: K killed of N".
# Needs: go, promtool. About 30-60 s on 2 cores (two promtool runs at once).
set -uo pipefail
cd "$(dirname "$0")/.."
for tool in go promtool; do
  command -v "$tool" >/dev/null || { echo "rules_mutation: $tool not found (run make deps)"; exit 1; }
done
# Every mutant must fail the tests on Debian's Prometheus 2 and on Prometheus
# 3 (.tools/promtool3, built by make deps): twice the promtool runs, about
# 760 s of CPU for 132 mutants (11.5 min on 2 cores at load 7-13).
# -only REGEXP (passed on) runs the mutants of one alert.
[ -x .tools/promtool3 ] || { echo "rules_mutation: .tools/promtool3 not found (run make deps)"; exit 1; }
cd mixin && timeout 1200 go run ./mutate \
  -rules ../deploy/prometheus/rules/timewait.rules.yml \
  -tests 'tests/*.yml' -promtool promtool,../.tools/promtool3 "$@"
