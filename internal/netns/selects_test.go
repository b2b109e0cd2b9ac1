// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
)

func TestSelects(t *testing.T) {
	cfg, err := config.Parse([]byte("netns:\n  include: ^(ci|web)-\n  exclude: -debug$\n"))
	if err != nil {
		t.Fatal(err)
	}
	all := config.Default().Netns
	tests := []struct {
		netns config.Netns
		names []string
		want  bool
	}{
		{all, []string{"anything"}, true},
		{all, nil, true},
		{cfg.Netns, []string{"ci-1"}, true},
		{cfg.Netns, []string{"other"}, false},
		{cfg.Netns, nil, false},
		{cfg.Netns, []string{"nginx", "web-1"}, true},    // any name may include
		{cfg.Netns, []string{"ci-1", "ci-debug"}, false}, // any name may exclude
	}
	for _, tt := range tests {
		if got := selects(tt.netns, tt.names...); got != tt.want {
			t.Errorf("selects(%q, %q) = %v, want %v", tt.netns.Include, tt.names, got, tt.want)
		}
	}
}
