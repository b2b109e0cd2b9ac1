// SPDX-License-Identifier: Apache-2.0

package main

import "strings"

// equivalent returns why mutant m of r cannot be told apart from r by any
// input, or "" when a test must kill it. Each entry is an argued exception,
// printed by the run.
func equivalent(r rule, m change) string {
	// A matcher removed from one selector while the same matcher stays on
	// another, when the selectors are joined only by binary operations that
	// match on all labels (no on/ignoring/by/without): a series the removed
	// matcher let in finds no partner with the same label set (the matched
	// label is one of them), so the result cannot change.
	if strings.HasPrefix(m.desc, "label matcher removed") {
		removed := strings.Trim(strings.TrimSpace(m.old), ",")
		allLabels := true
		for _, kw := range []string{" on(", " on (", "ignoring", " by ", " by(", "without", "group_left", "group_right"} {
			allLabels = allLabels && !strings.Contains(r.Expr, kw)
		}
		if allLabels && strings.Contains(m.r.Expr, removed) {
			return "the same matcher stays on the other operand of a binary operation that matches on all labels"
		}
	}
	return ""
}
