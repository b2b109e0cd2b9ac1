// SPDX-License-Identifier: Apache-2.0

package model

import (
	"net/netip"
	"slices"
	"testing"
)

func TestUtilizationOrder(t *testing.T) {
	d := func(addr string, tw uint64, util float64) Destination {
		return Destination{Addr: netip.MustParseAddrPort(addr), TimeWait: tw, Utilization: util}
	}
	tests := []struct {
		name  string
		dests []Destination
		want  []int
	}{
		{"empty", nil, []int{}},
		{"highest ratio first", []Destination{d("10.0.0.1:80", 50, 0.1), d("10.0.0.2:80", 0, 0.6), d("10.0.0.3:80", 5, 0.3)}, []int{1, 2, 0}},
		{"a tie goes to more TIME_WAIT, then the address", []Destination{d("10.0.0.9:80", 0, 0.3), d("10.0.0.2:80", 0, 0.3), d("10.0.0.5:80", 9, 0.3)}, []int{2, 1, 0}},
	}
	for _, tc := range tests {
		if got := UtilizationOrder(tc.dests); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
