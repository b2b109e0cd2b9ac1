#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Mutation test of the alert rules: mixin/mutate changes one thing at a time
# in deploy/prometheus/rules/timewait.rules.yml (each threshold and number,
# comparison, for:, label matcher, range window and offset) and runs
# `promtool test rules` on deploy/prometheus/rules/*.test.yml against each mutant. Every
# mutant must be killed (the tests fail); equivalent mutants are listed with
# the reason they are skipped. Prints "mutation: K killed of N".
# Needs: go, promtool. About 30-60 s on 2 cores (two promtool runs at once).
set -uo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init rules_mutation 660 10 "" go promtool -- "$@"
cd mixin && timeout 600 go run ./mutate \
  -rules ../deploy/prometheus/rules/timewait.rules.yml \
  -tests '../deploy/prometheus/rules/*.test.yml' "$@" || fail "a mutant survived, or the run did not finish"
RC=0
