#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mutation test of the alert rules: mixin/mutate changes one thing at a time
# in deploy/prometheus/rules/timewait.rules.yml (each threshold and number,
# comparison, for:, label matcher, range window and offset) and runs
# `promtool test rules` on the mixin's tests, mixin/tests/*.yml, against each mutant. Every
# mutant must be killed (the tests fail); equivalent mutants are listed with
# the reason they are skipped. Prints "mutation: K killed of N".
# Needs: go, promtool, promtool 3. About 2-3 minutes on 2 cores.
set -uo pipefail
# Every mutant must fail the tests. In `make test` they run on Prometheus 3
# (.tools/promtool3, built by make deps), the version users move to;
# `make mutation` runs them on Debian's Prometheus 2 as well (twice the
# promtool runs: about 760 s of CPU for 132 mutants). test/alerts_rules.sh
# runs the unmutated tests on both. -only REGEXP (passed on) runs the
# mutants of one alert.
PROMTOOLS=${PROMTOOLS:-../.tools/promtool3}
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init rules_mutation "${MUTATION_SECONDS:-660}" 10 "" go promtool .tools/promtool3 -- "$@"
cd mixin && timeout "$(( ${MUTATION_SECONDS:-660} - 60 ))" go run ./mutate \
  -rules ../deploy/prometheus/rules/timewait.rules.yml \
  -tests 'tests/*.yml' -promtool "$PROMTOOLS" "$@" || fail "a mutant survived, or the run did not finish"
RC=0
