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
	// label is one of them), so the result cannot change. The argument is
	// made in the smallest parenthesised group around the matcher that
	// holds it again: what is outside that group (the mixin's join that adds
	// a pod's labels) sees the same group result.
	if strings.HasPrefix(m.desc, "label matcher removed") {
		removed := strings.Trim(strings.TrimSpace(m.old), ",")
		scope := sharedScope(r.Expr, m.at, removed)
		allLabels := true
		for _, kw := range []string{" on(", " on (", "ignoring", " by ", " by(", "without", "group_left", "group_right"} {
			allLabels = allLabels && !strings.Contains(scope, kw)
		}
		if allLabels && strings.Count(scope, removed) >= 2 {
			return "the same matcher stays on the other operand of a binary operation that matches on all labels"
		}
	}
	return ""
}

// sharedScope returns the innermost parenthesised group of e around
// position at that holds s at least twice, or e itself. Quoted strings are
// skipped.
func sharedScope(e string, at int, s string) string {
	var open []int
	var quote byte
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(':
			open = append(open, i)
		case c == ')' && len(open) > 0:
			start := open[len(open)-1]
			open = open[:len(open)-1]
			if g := e[start : i+1]; start < at && at < i && strings.Count(g, s) >= 2 {
				return g
			}
		}
	}
	return e
}
