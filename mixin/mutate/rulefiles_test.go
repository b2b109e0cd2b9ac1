// SPDX-License-Identifier: Apache-2.0

package main

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestWithRuleFiles(t *testing.T) {
	for _, tc := range []struct {
		name, in, err string
	}{
		{"relative path replaced", "rule_files:\n  - ../../deploy/r.yml\n  - other.yml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n", ""},
		{"no rule_files", "tests: []\n", "no rule_files"},
		{"not a mapping", "- a\n- b\n", "not a promtool test file"},
		{"not YAML", "rule_files: [\n", "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := withRuleFiles([]byte(tc.in), "timewait.rules.yml")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			if err := yaml.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			yaml.Unmarshal([]byte(tc.in), &want)
			want["rule_files"] = []any{"timewait.rules.yml"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
