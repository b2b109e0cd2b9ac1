// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
)

func TestEquivalentMatcherRemoved(t *testing.T) {
	const sel = `job="tw"`
	join := "\n* on (job, instance) group_left (pod) info"
	for _, tc := range []struct {
		name, expr string
		want       bool
	}{
		{"all-label match", `a{job="tw"} / (b{job="tw"} > 0) > 0.8`, true},
		{"all-label match inside a join", `(a{job="tw"} / (b{job="tw"} > 0) > 0.8)` + join, true},
		{"on() inside the group", `(a{job="tw"} / on (instance) b{job="tw"})` + join, false},
		{"the only occurrence", `(a{job="tw"} > 0.8)` + join, false},
		{"parentheses in a string", `(a{job="tw",x=")"} and b{job="tw"})` + join, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := strings.LastIndex(tc.expr, sel)
			m := change{desc: "label matcher removed", old: sel, at: at}
			if got := equivalent(rule{Expr: tc.expr}, m) != ""; got != tc.want {
				t.Errorf("equivalent(%q at %d) = %v, want %v", tc.expr, at, got, tc.want)
			}
		})
	}
}
