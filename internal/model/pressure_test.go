// SPDX-License-Identifier: Apache-2.0

package model

import (
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// sock builds a crafted sock_diag reply. The family follows the source
// address (an IPv4-mapped IPv6 address is an AF_INET6 socket, as the kernel
// reports a dual-stack socket talking IPv4).
func sock(state uint8, src, dst string, expiresMs uint32) *sockdiag.Socket {
	s := &sockdiag.Socket{
		State:   state,
		Src:     netip.MustParseAddrPort(src),
		Dst:     netip.MustParseAddrPort(dst),
		Expires: expiresMs,
		Family:  unix.AF_INET,
	}
	if s.Src.Addr().Is6() {
		s.Family = unix.AF_INET6
	}
	if state == sockdiag.StateTimeWait {
		s.Timer = 3
	}
	return s
}

func TestReusePolicy(t *testing.T) {
	lo4, lo6, mappedLo := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("::ffff:127.0.0.1").Unmap()
	remote, local := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.1")
	const ts, noTS = true, false
	tests := []struct {
		name     string
		policy   ReusePolicy
		state    uint8
		expires  uint32 // ms left; age = 60 s - expires
		src, dst netip.Addr
		want     bool
	}{
		{"reuse off", ReusePolicy{0, ts, time.Second}, sockdiag.StateTimeWait, 1000, local, remote, false},
		{"reuse on, old enough", ReusePolicy{1, ts, time.Second}, sockdiag.StateTimeWait, 59000, local, remote, true},
		{"reuse on, exactly the delay", ReusePolicy{1, ts, 250 * time.Millisecond}, sockdiag.StateTimeWait, 59750, local, remote, true},
		{"reuse on, 1 ms too young", ReusePolicy{1, ts, 250 * time.Millisecond}, sockdiag.StateTimeWait, 59751, local, remote, false},
		{"reuse on, brand new", ReusePolicy{1, ts, time.Millisecond}, sockdiag.StateTimeWait, 60000, local, remote, false},
		{"reuse on, no timestamps", ReusePolicy{1, noTS, time.Second}, sockdiag.StateTimeWait, 1000, local, remote, false},
		{"reuse on, not TIME_WAIT", ReusePolicy{1, ts, time.Second}, sockdiag.StateEstablished, 0, local, remote, false},
		{"reuse on, FIN_WAIT2 mini-socket", ReusePolicy{1, ts, time.Second}, sockdiag.StateFinWait2, 1000, local, remote, false},
		{"loopback only, remote peer", ReusePolicy{2, ts, time.Second}, sockdiag.StateTimeWait, 1000, local, remote, false},
		{"loopback only, 127.0.0.1", ReusePolicy{2, ts, time.Second}, sockdiag.StateTimeWait, 1000, lo4, lo4, true},
		{"loopback only, ::1", ReusePolicy{2, ts, time.Second}, sockdiag.StateTimeWait, 1000, lo6, lo6, true},
		{"loopback only, unmapped ::ffff:127.0.0.1", ReusePolicy{2, ts, time.Second}, sockdiag.StateTimeWait, 1000, mappedLo, mappedLo, true},
		{"loopback only, loopback destination only", ReusePolicy{2, ts, time.Second}, sockdiag.StateTimeWait, 1000, local, lo4, true},
		{"loopback only, loopback source only", ReusePolicy{2, ts, time.Second}, sockdiag.StateTimeWait, 1000, lo4, remote, true},
		{"loopback only, too young", ReusePolicy{2, ts, time.Second}, sockdiag.StateTimeWait, 59500, lo4, lo4, false},
		{"unknown mode 3", ReusePolicy{3, ts, time.Second}, sockdiag.StateTimeWait, 1000, lo4, lo4, false},
	}
	for _, tc := range tests {
		s := &sockdiag.Socket{State: tc.state, Expires: tc.expires}
		if got := tc.policy.reusable(s, tc.src, tc.dst); got != tc.want {
			t.Errorf("%s: reusable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// pressureFixture is a crafted dump: listeners first, as the kernel sends
// them, then connections in every class.
func pressureFixture(t *testing.T, reuse ReusePolicy) *SocketStats {
	t.Helper()
	st := NewSocketStats(EphemeralPorts(PortRange{40000, 40999}, []PortRange{{40500, 40500}, {40990, 40999}}), reuse)
	if st.Usable() != 989 {
		t.Fatalf("Usable = %d, want 989", st.Usable())
	}
	add := func(n int, mk func(i int) *sockdiag.Socket) {
		for i := range n {
			st.Add(mk(i))
		}
	}
	tw, est := uint8(sockdiag.StateTimeWait), uint8(sockdiag.StateEstablished)
	port := func(base, i int) string { return strconv.Itoa(base + i) }
	// Listeners: 8080 on IPv4, 40123 (inside the ephemeral range!) on IPv4,
	// 9090 on IPv6 (dual stack), 7070 without any TIME_WAIT.
	st.Add(sock(sockdiag.StateListen, "0.0.0.0:8080", "0.0.0.0:0", 0))
	st.Add(sock(sockdiag.StateListen, "127.0.0.1:40123", "0.0.0.0:0", 0))
	st.Add(sock(sockdiag.StateListen, "[::]:9090", "[::]:0", 0))
	st.Add(sock(sockdiag.StateListen, "0.0.0.0:7070", "0.0.0.0:0", 0))
	// Inbound: 7 TIME_WAIT on 8080 (peer ports inside the range do not
	// matter), 2 on 40123, 3 on 9090 via v4-mapped, 1 established on 8080.
	add(7, func(i int) *sockdiag.Socket { return sock(tw, "127.0.0.1:8080", "127.0.0.1:"+port(40000, i), 30000) })
	add(2, func(i int) *sockdiag.Socket { return sock(tw, "127.0.0.1:40123", "127.0.0.1:"+port(40600, i), 30000) })
	add(3, func(i int) *sockdiag.Socket {
		return sock(tw, "[::ffff:127.0.0.1]:9090", "[::ffff:127.0.0.1]:"+port(50000, i), 30000)
	})
	st.Add(sock(est, "127.0.0.1:8080", "127.0.0.1:40001", 0))
	// Outbound to 10.0.0.5:5432 from 10.0.0.1: 20 TIME_WAIT (10 of them
	// 30 s old, 10 of them 0.5 s old) + 5 established over IPv4, and 4
	// TIME_WAIT more through a dual-stack socket (v4-mapped): one flow of 29.
	add(10, func(i int) *sockdiag.Socket { return sock(tw, "10.0.0.1:"+port(40000, i), "10.0.0.5:5432", 30000) })
	add(10, func(i int) *sockdiag.Socket { return sock(tw, "10.0.0.1:"+port(40010, i), "10.0.0.5:5432", 59500) })
	add(5, func(i int) *sockdiag.Socket { return sock(est, "10.0.0.1:"+port(40020, i), "10.0.0.5:5432", 0) })
	add(4, func(i int) *sockdiag.Socket {
		return sock(tw, "[::ffff:10.0.0.1]:"+port(40030, i), "[::ffff:10.0.0.5]:5432", 30000)
	})
	// The same destination from a second source IP: 6 TIME_WAIT. The
	// destination's TIME_WAIT sums both sources (30), the ratio is the
	// busiest source's (29).
	add(6, func(i int) *sockdiag.Socket { return sock(tw, "10.0.0.2:"+port(40000, i), "10.0.0.5:5432", 30000) })
	// IPv6 destination: 12 TIME_WAIT and 1 SYN_SENT.
	add(12, func(i int) *sockdiag.Socket {
		return sock(tw, "[2001:db8::2]:"+port(40100, i), "[2001:db8::1]:443", 30000)
	})
	st.Add(sock(sockdiag.StateSynSent, "[2001:db8::2]:40200", "[2001:db8::1]:443", 0))
	// Three small destinations, 1..3 TIME_WAIT each.
	for d := 1; d <= 3; d++ {
		add(d, func(i int) *sockdiag.Socket {
			return sock(tw, "10.0.0.1:"+port(40300+10*d, i), "10.0.1."+strconv.Itoa(d)+":80", 30000)
		})
	}
	// Other: local port reserved (40500), above the reserved tail (40995),
	// below the range (30000): not ephemeral, not listening.
	st.Add(sock(tw, "10.0.0.1:40500", "10.0.0.9:80", 30000))
	st.Add(sock(tw, "10.0.0.1:40995", "10.0.0.9:80", 30000))
	st.Add(sock(tw, "10.0.0.1:30000", "10.0.0.9:80", 30000))
	st.Add(sock(est, "10.0.0.1:30001", "10.0.0.9:80", 0))
	return st
}

func TestSocketStatsAdd(t *testing.T) {
	st := pressureFixture(t, ReusePolicy{Mode: 0, Timestamps: true, Delay: time.Second})
	if !st.HasPressure() {
		t.Fatal("HasPressure false with a port set")
	}
	// States per family: v4-mapped sockets are AF_INET6 sockets and count
	// there, as ss -tan lists them.
	wantV4 := map[uint8]uint64{sockdiag.StateListen: 3, sockdiag.StateTimeWait: 7 + 2 + 20 + 6 + 6 + 3, sockdiag.StateEstablished: 1 + 5 + 1}
	wantV6 := map[uint8]uint64{sockdiag.StateListen: 1, sockdiag.StateTimeWait: 3 + 4 + 12, sockdiag.StateSynSent: 1}
	for state := range st.States[0] {
		if got := st.States[0][state]; got != wantV4[uint8(state)] {
			t.Errorf("ipv4 state %d = %d, want %d", state, got, wantV4[uint8(state)])
		}
		if got := st.States[1][state]; got != wantV6[uint8(state)] {
			t.Errorf("ipv6 state %d = %d, want %d", state, got, wantV6[uint8(state)])
		}
	}
	if st.TimeWait.Inbound != 12 || st.TimeWait.Outbound != 20+4+6+12+6 || st.TimeWait.Other != 3 {
		t.Errorf("TimeWait by direction = %+v, want inbound 12 outbound 48 other 3", st.TimeWait)
	}
	wantPorts := []ListeningPort{{8080, 7}, {9090, 3}, {40123, 2}, {7070, 0}}
	if got := st.ListeningPorts(); !reflect.DeepEqual(got, wantPorts) {
		t.Errorf("ListeningPorts = %v, want %v", got, wantPorts)
	}
	// The listener on 40123 owns an ephemeral port: connect() skips it.
	const capacity = 988
	if st.Capacity() != capacity || st.EphemeralPortsListening() != 1 {
		t.Errorf("Capacity %d, listening %d: want %d, 1", st.Capacity(), st.EphemeralPortsListening(), capacity)
	}
	dests := st.Destinations()
	type row struct {
		addr     string
		tw, held uint64
		src      string
	}
	want := []row{
		{"10.0.0.5:5432", 30, 29, "10.0.0.1"},
		{"[2001:db8::1]:443", 12, 13, "2001:db8::2"},
		{"10.0.1.3:80", 3, 3, "10.0.0.1"},
		{"10.0.1.2:80", 2, 2, "10.0.0.1"},
		{"10.0.1.1:80", 1, 1, "10.0.0.1"},
	}
	if len(dests) != len(want) {
		t.Fatalf("Destinations = %+v, want %d", dests, len(want))
	}
	for i, w := range want {
		d := dests[i]
		if d.Addr.String() != w.addr || d.TimeWait != w.tw || d.Held != w.held || d.Source.String() != w.src {
			t.Errorf("destination %d = %s tw %d held %d from %s, want %+v", i, d.Addr, d.TimeWait, d.Held, d.Source, w)
		}
		if d.Utilization != float64(w.held)/capacity {
			t.Errorf("%s utilization %v, want %v", w.addr, d.Utilization, float64(w.held)/capacity)
		}
	}
	if got := st.MaxUtilization(); got != 29.0/capacity {
		t.Errorf("MaxUtilization = %v, want 29/%d", got, capacity)
	}

	// tcp_tw_reuse=1, delay 1 s: the 30-s-old TIME_WAIT sockets stop
	// counting against the ports; the 0.5-s-old ones and established still
	// do. TIME_WAIT counts are unchanged.
	st = pressureFixture(t, ReusePolicy{Mode: 1, Timestamps: true, Delay: time.Second})
	d := st.Destinations()[0]
	if d.Addr.String() != "10.0.0.5:5432" || d.TimeWait != 30 || d.Held != 15 || d.Source.String() != "10.0.0.1" {
		t.Errorf("with reuse: %+v, want tw 30, held 10 young + 5 established", d)
	}
	if got := st.MaxUtilization(); got != 15.0/capacity {
		t.Errorf("MaxUtilization with reuse = %v, want 15/%d", got, capacity)
	}
	// tcp_tw_reuse=2: loopback only; none of the flows is loopback.
	st = pressureFixture(t, ReusePolicy{Mode: 2, Timestamps: true, Delay: time.Second})
	if got := st.MaxUtilization(); got != 29.0/capacity {
		t.Errorf("MaxUtilization with reuse=2 to remote peers = %v, want 29/%d", got, capacity)
	}
}

func TestSocketStatsWithoutPortPolicy(t *testing.T) {
	st := NewSocketStats(nil, ReusePolicy{})
	st.Add(sock(sockdiag.StateTimeWait, "10.0.0.1:40000", "10.0.0.5:5432", 1000))
	st.Add(sock(sockdiag.StateEstablished, "[::1]:40000", "[::1]:80", 0))
	if st.HasPressure() || st.Usable() != 0 || st.MaxUtilization() != 0 || len(st.Destinations()) != 0 {
		t.Error("pressure computed without a port policy")
	}
	if st.States[0][sockdiag.StateTimeWait] != 1 || st.States[1][sockdiag.StateEstablished] != 1 {
		t.Errorf("states not counted: %v", st.States)
	}
	// Usable 0 (everything reserved): every connect() fails, so the ratio
	// is 1, not NaN or Inf.
	var empty PortSet
	st = NewSocketStats(&empty, ReusePolicy{})
	st.Add(sock(sockdiag.StateTimeWait, "10.0.0.1:40000", "10.0.0.5:5432", 1000))
	if st.MaxUtilization() != 1 || st.TimeWait.Other != 1 {
		t.Errorf("empty port set: max %v, %+v", st.MaxUtilization(), st.TimeWait)
	}
}
