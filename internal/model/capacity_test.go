// SPDX-License-Identifier: Apache-2.0

package model

import (
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

func TestPortCapacityArithmetic(t *testing.T) {
	tests := []struct {
		name      string
		rng       PortRange
		usable    int
		bindOwned int
		want      int
	}{
		{"even range", PortRange{40000, 40499}, 500, 0, 500},
		{"odd range loses its unscanned port", PortRange{40000, 40498}, 499, 0, 498},
		{"listeners", PortRange{40000, 40499}, 500, 50, 450},
		{"listeners in an odd range", PortRange{40000, 40498}, 499, 50, 448},
		{"default range 32768-60999", PortRange{32768, 60999}, 28232, 0, 28232},
		{"one port: nothing to round", PortRange{40000, 40000}, 1, 0, 1},
		{"two ports", PortRange{40000, 40001}, 2, 0, 2},
		{"three ports", PortRange{40000, 40002}, 3, 0, 2},
		{"everything owned", PortRange{40000, 40499}, 500, 500, 0},
		{"owned and odd: below zero", PortRange{40000, 40002}, 3, 3, -1},
	}
	for _, tc := range tests {
		if got := portCapacity(tc.usable, tc.bindOwned, tc.rng.OddSize()); got != tc.want {
			t.Errorf("%s: capacity %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestUtilizationOf(t *testing.T) {
	tests := []struct {
		held     uint64
		capacity int
		want     float64
	}{
		{0, 500, 0},
		{250, 500, 0.5},
		{449, 450, 449.0 / 450},
		{450, 450, 1},
		{499, 498, 1}, // an odd range's last port was free this time
		{0, 0, 1},     // no port at all: the next connect() fails
		{3, -1, 1},
	}
	for _, tc := range tests {
		if got := utilizationOf(tc.held, tc.capacity); got != tc.want {
			t.Errorf("utilizationOf(%d, %d) = %v, want %v", tc.held, tc.capacity, got, tc.want)
		}
	}
}

// TestCapacityFromDump: the ports bind() owns come from the dump itself:
// listeners of either family on any address, bound_inactive sockets; each
// port once, only inside the ephemeral set.
func TestCapacityFromDump(t *testing.T) {
	tests := []struct {
		name                      string
		rng                       PortRange
		reserved                  []PortRange
		socks                     []*sockdiag.Socket
		capacity, listening, used int
	}{
		{name: "no sockets", rng: PortRange{40000, 40499}, capacity: 500},
		{name: "odd range", rng: PortRange{40000, 40498}, capacity: 498},
		{name: "listeners of both families, one port twice", rng: PortRange{40000, 40499},
			socks: []*sockdiag.Socket{
				sock(sockdiag.StateListen, "127.0.0.1:40010", "0.0.0.0:0", 0),
				sock(sockdiag.StateListen, "[::1]:40011", "[::]:0", 0),
				sock(sockdiag.StateListen, "[::]:40012", "[::]:0", 0),
				sock(sockdiag.StateListen, "0.0.0.0:40013", "0.0.0.0:0", 0),
				sock(sockdiag.StateListen, "[::]:40013", "[::]:0", 0),
				sock(sockdiag.StateListen, "0.0.0.0:8080", "0.0.0.0:0", 0),
			},
			capacity: 496, listening: 4, used: 4},
		{name: "listener on a reserved port counts once", rng: PortRange{40000, 40499},
			reserved: []PortRange{{40100, 40100}},
			socks:    []*sockdiag.Socket{sock(sockdiag.StateListen, "0.0.0.0:40100", "0.0.0.0:0", 0)},
			capacity: 499},
		{name: "bound_inactive and outbound", rng: PortRange{40000, 40499},
			socks: []*sockdiag.Socket{
				sock(sockdiag.StateBoundInactive, "0.0.0.0:40200", "0.0.0.0:0", 0),
				sock(sockdiag.StateEstablished, "10.0.0.1:40300", "10.0.0.5:443", 0),
				sock(sockdiag.StateTimeWait, "10.0.0.1:40300", "10.0.0.6:443", 1000),
				sock(sockdiag.StateTimeWait, "10.0.0.1:40301", "10.0.0.6:443", 1000),
			},
			capacity: 499, used: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := NewSocketStatsForRange(tc.rng, tc.reserved, ReusePolicy{})
			for _, s := range tc.socks {
				st.Add(s)
			}
			if got := st.Capacity(); got != tc.capacity {
				t.Errorf("Capacity %d, want %d", got, tc.capacity)
			}
			if got := st.EphemeralPortsListening(); got != tc.listening {
				t.Errorf("EphemeralPortsListening %d, want %d", got, tc.listening)
			}
			if got := st.EphemeralPortsInUse(); got != tc.used {
				t.Errorf("EphemeralPortsInUse %d, want %d", got, tc.used)
			}
			for _, d := range st.Destinations() {
				if d.Addr.String() == "0.0.0.0:0" {
					t.Errorf("a bound_inactive socket became a destination: %+v", d)
				}
			}
		})
	}
}
