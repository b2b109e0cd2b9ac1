// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// worstDump is the dump a namespace of n sockets could give at worst for
// the skip decision: listeners on the first l ports of the ephemeral set
// (they shrink the capacity), the other n-l sockets all from one source
// to one destination, on distinct ephemeral ports, none reusable. It
// returns the dump's max ratio, as the sockets collector would export it.
func worstDump(sys *Sysctls, n, l int, tw bool) float64 {
	set := sys.EphemeralPorts()
	st := NewSocketStatsFor(sys)
	var ports []uint16
	for p := int(sys.PortRange.Start); p <= int(sys.PortRange.End) && len(ports) < n; p++ {
		if set.Has(uint16(p)) {
			ports = append(ports, uint16(p))
		}
	}
	dst := netip.MustParseAddrPort("10.0.0.9:5432")
	state := uint8(sockdiag.StateEstablished)
	if tw {
		state = sockdiag.StateTimeWait
	}
	for i, p := range ports {
		s := &sockdiag.Socket{Family: unix.AF_INET, State: state, Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), p), Dst: dst}
		if i < l {
			s.State, s.Dst = sockdiag.StateListen, netip.AddrPort{}
		}
		st.Add(s)
	}
	return st.MaxUtilization()
}

// TestDecideDumpBound: for random ranges, reserved ports, counts, listener
// shares and warnings, a skipped namespace's worst possible dump (every
// socket towards one destination, any number of them listeners) stays
// below the warning, and its exported bound is at least that ratio.
func TestDecideDumpBound(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 1))
	skipped, dumped := 0, 0
	for i := range 1500 {
		start := 1024 + r.IntN(60000)
		size := 1 + r.IntN(min(65536-start, []int{3, 20, 21, 300, 2000, 28232}[r.IntN(6)]))
		sys := &Sysctls{PortRange: model.PortRange{Start: uint16(start), End: uint16(start + size - 1)}}
		if r.IntN(3) == 0 {
			a := start + r.IntN(size)
			sys.Reserved = []model.PortRange{{Start: uint16(a), End: uint16(min(a+r.IntN(size), 65535))}}
		}
		usable := sys.EphemeralPorts().Len()
		n := r.IntN(usable + 2)
		warning := 0.05 + 0.9*r.Float64()
		inuse, tw := r.IntN(n+1), 0
		tw = n - inuse
		d, err := DecideDump(&Sockstat{InUse: Some(inuse), TimeWait: Some(tw)}, sys, warning)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Skip {
			dumped++
			continue
		}
		skipped++
		for _, l := range []int{0, min(1, n), n / 2, n} {
			ratio := worstDump(sys, n, l, i%2 == 0)
			if ratio >= warning || ratio > d.MaxRatio {
				t.Fatalf("case %d: range %v reserved %v, %d sockets (%d listeners): skipped with bound %.4f < warning %.3f, but the dump's ratio is %.4f",
					i, sys.PortRange, sys.Reserved, n, l, d.MaxRatio, warning, ratio)
			}
		}
	}
	if skipped < 100 || dumped < 100 {
		t.Fatalf("the random cases do not exercise both outcomes: %d skipped, %d dumped", skipped, dumped)
	}
}

// TestDecideDump: the boundary and what makes a namespace always dumped.
func TestDecideDump(t *testing.T) {
	ip := Some[int]
	narrow := &Sysctls{PortRange: model.PortRange{Start: 40000, End: 40019}} // 20 ports
	odd := &Sysctls{PortRange: model.PortRange{Start: 40000, End: 40020}}    // 21 ports: one not scanned
	tests := []struct {
		name string
		st   *Sockstat
		sys  *Sysctls
		skip bool
	}{
		{"narrow range, 15 established: 0.75", &Sockstat{InUse: ip(15), TimeWait: ip(0)}, narrow, false},
		{"narrow range, exactly the warning: 14/20", &Sockstat{InUse: ip(10), TimeWait: ip(4)}, narrow, false},
		{"narrow range, just below: 13/20", &Sockstat{InUse: ip(10), TimeWait: ip(3)}, narrow, true},
		{"IPv6 sockets count too: 13+1", &Sockstat{InUse: ip(10), TimeWait: ip(3), InUse6: ip(1)}, narrow, false},
		{"odd range counts one port less: 14/20", &Sockstat{InUse: ip(14), TimeWait: ip(0)}, odd, false},
		{"no usable port at all", &Sockstat{InUse: ip(0), TimeWait: ip(0)}, &Sysctls{PortRange: model.PortRange{Start: 40000, End: 40000}, Reserved: []model.PortRange{{Start: 40000, End: 40000}}}, false},
		{"idle, default range", &Sockstat{InUse: ip(3), TimeWait: ip(2)}, &Sysctls{PortRange: model.PortRange{Start: 32768, End: 60999}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecideDump(tt.st, tt.sys, 0.7)
			if err != nil || d.Skip != tt.skip {
				t.Fatalf("DecideDump = %+v, %v; want skip %v", d, err, tt.skip)
			}
		})
	}
	for _, st := range []*Sockstat{nil, {TimeWait: ip(0)}, {InUse: ip(0)}} {
		if _, err := DecideDump(st, narrow, 0.7); err == nil {
			t.Errorf("DecideDump(%s) decided without the counts", fmt.Sprint(st))
		}
	}
}
