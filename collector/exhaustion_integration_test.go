// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"syscall"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
	"golang.org/x/sys/unix"
)

// The kernel as referee of "1 means the next connect() fails": each scene
// lays out the ephemeral ports of its own range (no other test uses
// 60000-62499), then connect()s to one destination, holding every
// connection, until the kernel answers EADDRNOTAVAIL. The exporter is
// scraped through its registry before every attempt; the scrape before the
// failing one must give that flow a ratio within one port of 1.

// exhaustion is what one scene measured.
type exhaustion struct {
	made     int                // connect() successes before EADDRNOTAVAIL
	capacity int                // usable - listening - odd, from the scraped gauges
	ratio    float64            // the flow's ratio scraped before the failing connect()
	earlier  float64            // its ratio two connections before that
	last     map[string]float64 // the scrape before the failing connect()
}

// exhaust sets the range lo-hi, runs setup (listeners, other clients) and
// drives connect() to target until it fails.
func exhaust(t *testing.T, lo, hi uint16, target netip.AddrPort, setup func(*twgen.Conns)) exhaustion {
	t.Helper()
	setSysctl(t, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", lo, hi))
	setSysctl(t, "net.ipv4.ip_local_reserved_ports", "")
	listen(t, target.Addr(), target.Port())
	conns := &twgen.Conns{}
	t.Cleanup(conns.Close)
	if setup != nil {
		setup(conns)
	}
	e := newTestExporter(t, "/proc", nil)
	ratioKey := destKey("timewait_destination_ephemeral_port_utilization_ratio", target.String(), "")
	var last map[string]float64
	var ratios []float64 // by connections made
	size := int(hi) - int(lo) + 1
	made, err := conns.Exhaust(target, 2*size, func(int) {
		last = scrape(t, e)
		ratios = append(ratios, last[ratioKey])
	})
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("after %d connections to %s: %v, want EADDRNOTAVAIL", made, target, err)
	}
	odd := 0
	if size%2 == 1 {
		odd = 1
	}
	if made < 2 {
		t.Fatalf("connect() failed after %d connections", made)
	}
	x := exhaustion{made: made, last: last, earlier: ratios[made-2],
		capacity: int(mustValue(t, last, "timewait_ephemeral_ports_usable")-mustValue(t, last, "timewait_ephemeral_ports_listening")) - odd,
		ratio:    mustValue(t, last, ratioKey),
	}
	t.Logf("range %d-%d (%d ports) to %s: kernel: EADDRNOTAVAIL after %d connect(); exporter: capacity %d, ratio %.4f (%.4f two connections earlier), max ratio %.4f, ports in use %v, listening %v",
		lo, hi, size, target, made, x.capacity, x.ratio, x.earlier, mustValue(t, last, "timewait_ephemeral_port_utilization_max_ratio"),
		last["timewait_ephemeral_ports_in_use"], last["timewait_ephemeral_ports_listening"])
	return x
}

// atOne asserts that x's ratio is within one port of 1 and is the host's
// maximum, and that it was still below 1 two connections earlier (the
// ratio is capped at 1: a capacity too small would reach it too early).
func atOne(t *testing.T, x exhaustion) {
	t.Helper()
	if math.Abs(x.ratio-1) > 1/float64(x.capacity) {
		t.Errorf("ratio %.4f one connection before EADDRNOTAVAIL (kernel: %d made, capacity %d), want 1 within 1/%d",
			x.ratio, x.made, x.capacity, x.capacity)
	}
	if x.earlier >= 1 {
		t.Errorf("ratio already %.4f two connections before EADDRNOTAVAIL (kernel: %d made, capacity %d)", x.earlier, x.made, x.capacity)
	}
	if got := mustValue(t, x.last, "timewait_ephemeral_port_utilization_max_ratio"); got != x.ratio {
		t.Errorf("max ratio %v, the exhausted flow's %v", got, x.ratio)
	}
}

func TestExhaustionPlain(t *testing.T) {
	nstest.Require(t)
	x := exhaust(t, 60000, 60499, netip.AddrPortFrom(lo4, 27000), nil)
	atOne(t, x)
	if x.capacity != 500 || x.made != 500 {
		t.Errorf("capacity %d, kernel made %d: want both 500", x.capacity, x.made)
	}
}

// listenInside starts 20 IPv4 and 20 IPv6 listeners on loopback, one on
// 0.0.0.0 and one on [::] (dual stack), spread over the range from lo:
// every one owns its port for connect() of both families.
func listenInside(t *testing.T, lo uint16) int {
	t.Helper()
	var v4, v6 []uint16
	for i := range uint16(20) {
		v4 = append(v4, lo+3+20*i)
		v6 = append(v6, lo+13+20*i)
	}
	listen(t, lo4, v4...)
	listen(t, lo6, v6...)
	listen(t, netip.IPv4Unspecified(), lo+401)
	listen(t, netip.IPv6Unspecified(), lo+451)
	return len(v4) + len(v6) + 2
}

func TestExhaustionListeners(t *testing.T) {
	nstest.Require(t)
	for _, tc := range []struct {
		name   string
		lo     uint16
		target netip.AddrPort
	}{
		{"ipv4 target", 60500, netip.AddrPortFrom(lo4, 27100)},
		{"ipv6 target", 61000, netip.AddrPortFrom(lo6, 27200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var listeners int
			x := exhaust(t, tc.lo, tc.lo+499, tc.target, func(*twgen.Conns) { listeners = listenInside(t, tc.lo) })
			atOne(t, x)
			if got := x.last["timewait_ephemeral_ports_listening"]; got != float64(listeners) {
				t.Errorf("listening ports in the range %v, made %d", got, listeners)
			}
			if x.made != 500-listeners {
				t.Errorf("kernel made %d connections, want 500 - %d listeners", x.made, listeners)
			}
		})
	}
}

// TestExhaustionOddRange: 499 ports, so __inet_hash_connect scans 498 per
// connect() and the unscanned one moves; the capacity counts 498.
func TestExhaustionOddRange(t *testing.T) {
	nstest.Require(t)
	x := exhaust(t, 61500, 61998, netip.AddrPortFrom(lo4, 27300), nil)
	atOne(t, x)
	if x.capacity != 498 || (x.made != 498 && x.made != 499) {
		t.Errorf("capacity %d, kernel made %d: want 498, and 498 or 499", x.capacity, x.made)
	}
}

// TestExhaustionBindBeforeConnect: 300 clients bind(127.0.0.1, 0) then
// connect() to another port. Their ports are bind()'s, lost to every
// destination, and the dump cannot tell them from connect()'s: the
// target's own ratio stays low while the pool-wide count shows the pool
// full. (The doctor's finding is checked in the doctor package.)
func TestExhaustionBindBeforeConnect(t *testing.T) {
	nstest.Require(t)
	const lo, hi, bound = 62000, 62499, 300
	other := netip.AddrPortFrom(lo4, 27401)
	x := exhaust(t, lo, hi, netip.AddrPortFrom(lo4, 27400), func(c *twgen.Conns) {
		listen(t, lo4, other.Port())
		for range bound {
			if err := c.Connect(other, lo4); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Logf("bind-before-connect: %d bound clients, target's ratio %.4f at EADDRNOTAVAIL (not within one port of 1: bind()'s ports are not visible as such)", bound, x.ratio)
	if x.made > 500-bound+2 || x.made < 500-bound-2 {
		t.Errorf("kernel made %d connections, want about %d", x.made, 500-bound)
	}
	if got := x.last["timewait_ephemeral_ports_in_use"]; got != 500 {
		t.Errorf("ephemeral ports in use %v at EADDRNOTAVAIL, want the whole pool, 500", got)
	}
	// No port shared: bind() took 300, and connect() could not give the
	// target any of them. TimeWaitEphemeralPoolExhausting reads this.
	sockets, ports := x.last["timewait_outbound_sockets"], x.last["timewait_outbound_local_ports"]
	t.Logf("bind-before-connect: %v outbound sockets on %v local ports", sockets, ports)
	if sockets != float64(x.made+bound) || ports != sockets {
		t.Errorf("outbound sockets %v on %v local ports, want %d on as many (made %d + bound %d)", sockets, ports, x.made+bound, x.made, bound)
	}
	// bind(ip, 0) draws from the same pool: it fails too.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	err = unix.Bind(fd, &unix.SockaddrInet4{Addr: lo4.As4()})
	t.Logf("bind(127.0.0.1:0) with the pool full: %v", err)
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("bind(127.0.0.1:0) with the pool full: %v, want EADDRINUSE", err)
	}
}
