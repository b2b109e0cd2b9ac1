// SPDX-License-Identifier: Apache-2.0

package model

import (
	"net/netip"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

func benchPolicy() (*PortSet, ReusePolicy) {
	var ports PortSet
	ports.AddRange(PortRange{32768, 60999})
	return &ports, ReusePolicy{Mode: 2, Timestamps: true, Delay: 0}
}

// syntheticSockets is a dump's worth of sockets without the kernel: n
// outbound TIME_WAIT sockets from two source IPs to 100 destinations, one
// listener with inbound TIME_WAIT, some established ones.
func syntheticSockets(n int) []sockdiag.Socket {
	out := []sockdiag.Socket{{Family: unix.AF_INET, State: sockdiag.StateListen,
		Src: netip.MustParseAddrPort("0.0.0.0:8080")}}
	for i := 0; i < n; i++ {
		s := sockdiag.Socket{Family: unix.AF_INET, State: sockdiag.StateTimeWait, Timer: 3, Expires: uint32(i % 60000)}
		src := netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i%2)})
		switch {
		case i%10 == 9: // inbound: local port is the listener's
			s.Src = netip.AddrPortFrom(src, 8080)
			s.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(32768+i%28000))
		case i%10 == 8: // established, outbound
			s.State = sockdiag.StateEstablished
			fallthrough
		default:
			s.Src = netip.AddrPortFrom(src, uint16(32768+i%28000))
			s.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(i % 100)}), 443)
		}
		out = append(out, s)
	}
	return out
}

// BenchmarkSocketStatsAdd is the aggregation alone, on synthetic sockets:
// the user-space cost per socket the exporter adds to the kernel's walk.
func BenchmarkSocketStatsAdd(b *testing.B) {
	socks := syntheticSockets(250_000)
	ports, policy := benchPolicy()
	b.ReportAllocs()
	for b.Loop() {
		st := NewSocketStats(ports, policy)
		for i := range socks {
			st.Add(&socks[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(socks)), "ns/socket")
}

// TestFlowTableAgreesWithMap checks the hand-written flow table against a
// Go map over enough flows to make it grow several times, IPv4 and IPv6.
func TestFlowTableAgreesWithMap(t *testing.T) {
	st := NewSocketStats(nil, ReusePolicy{})
	want := map[flowKey]int32{}
	for i := 0; i < 20_000; i++ {
		var k flowKey
		// Few distinct values per field, so keys repeat and collide.
		k.src = netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 3)}).As16()
		if i%5 == 0 {
			k.src = netip.MustParseAddr("2001:db8::1").As16()
		}
		k.dst = netip.AddrFrom4([4]byte{10, 2, byte(i % 7), byte(i % 251)}).As16()
		k.port = uint16(i % 13)
		got, slot := st.flowIndex.find(&k, st.keys)
		idx, seen := want[k]
		switch {
		case seen && got != idx:
			t.Fatalf("key %v: table says %d, map %d", k, got, idx)
		case !seen && got >= 0:
			t.Fatalf("key %v: table finds %d for a new key", k, got)
		case !seen:
			want[k] = int32(len(st.keys))
			st.keys = append(st.keys, k)
			st.flows = append(st.flows, flowStat{})
			st.flowIndex.insert(slot, st.keys)
		}
	}
	if len(st.keys) != len(want) || len(st.keys) < 1000 {
		t.Fatalf("%d keys in the table, %d in the map", len(st.keys), len(want))
	}
}
