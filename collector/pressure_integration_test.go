// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

func mustConfig(t *testing.T, yaml string) func() *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return func() *config.Config { return cfg }
}

func destKey(metric, dest, name string) string {
	return fmt.Sprintf(`%s{destination=%q,name=%q}`, metric, dest, name)
}

// inRange reports whether a socket's local port is in [lo, hi] and not in
// skip: what the exporter counts as holding an ephemeral port.
func inRange(lo, hi uint16, skip ...uint16) func(kernelSocket) bool {
	return func(s kernelSocket) bool {
		p := s.Local.Port()
		for _, r := range skip {
			if p == r {
				return false
			}
		}
		return p >= lo && p <= hi
	}
}

// TestPressureMatchesKernel fills ~80% of a 1000-port range towards one
// destination and a little towards others (one of them IPv6), with
// server-closed load on another listener, and compares every pressure
// metric with what ss reports just before the scrape.
func TestPressureMatchesKernel(t *testing.T) {
	nstest.Require(t)
	// Inbound (server-closed) load first, while client ports still come
	// from the wide default range: with the narrow one, a client port could
	// wrap onto a server-side TIME_WAIT 4-tuple.
	inbound := listen(t, lo4, 23000)
	const nInbound = 150
	dial(t, inbound, nInbound, twgen.ServerCloses)

	const lo, hi = 50000, 50999
	setSysctl(t, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", lo, hi))
	setSysctl(t, "net.ipv4.ip_local_reserved_ports", "")
	main := listen(t, lo4, 23100)[0]
	small := listen(t, lo4, 23101, 23102, 23103)
	v6 := listen(t, lo6, 23200)[0]
	dial(t, []netip.AddrPort{main}, 790, twgen.ClientCloses)
	holdOpen(t, main, 10)
	for i, d := range small {
		dial(t, []netip.AddrPort{d}, 10*(i+1), twgen.ClientCloses)
	}
	dial(t, []netip.AddrPort{v6}, 40, twgen.ClientCloses)
	time.Sleep(100 * time.Millisecond)

	e := newTestExporter(t, "/proc", nil)
	check := func(usable float64, reserved ...uint16) {
		t.Helper()
		toMain := count(ss(t, "dst", main.String()), inRange(lo, hi, reserved...))
		twMain := count(ss(t, "state", "time-wait", "dst", main.String()), inRange(lo, hi, reserved...))
		twV6 := count(ss(t, "state", "time-wait", "dst", v6.String()), inRange(lo, hi, reserved...))
		twInbound := count(ss(t, "state", "time-wait", "sport", "=", ":23000"), func(kernelSocket) bool { return true })
		outSockets, outPorts := outboundPorts(ss(t), inRange(lo, hi, reserved...))
		ms := scrape(t, e)
		toMainAfter := count(ss(t, "dst", main.String()), inRange(lo, hi, reserved...))

		if got := mustValue(t, ms, "timewait_ephemeral_ports_usable"); got != usable {
			t.Fatalf("timewait_ephemeral_ports_usable %v, want %v", got, usable)
		}
		ratio := mustValue(t, ms, destKey("timewait_destination_ephemeral_port_utilization_ratio", "127.0.0.1:23100", ""))
		want := float64(toMain) / usable
		t.Logf("usable %v: ss %d (after scrape %d) sockets towards %s, ratio %.4f, exporter %.4f; TIME_WAIT ss %d exporter %v",
			usable, toMain, toMainAfter, main, want, ratio, twMain, ms[destKey("timewait_destination_time_wait_sockets", "127.0.0.1:23100", "")])
		if toMain < 780 {
			t.Fatalf("setup: ss sees only %d sockets towards %s", toMain, main)
		}
		if !within(ratio, want, 0.01) {
			t.Errorf("ratio towards %s = %v, ss count / usable = %d/%v = %v", main, ratio, toMain, usable, want)
		}
		if got := mustValue(t, ms, "timewait_ephemeral_port_utilization_max_ratio"); got != ratio {
			t.Errorf("max ratio %v, busiest destination's %v", got, ratio)
		}
		if got := mustValue(t, ms, destKey("timewait_destination_time_wait_sockets", "127.0.0.1:23100", "")); !within(got, float64(twMain), 2) {
			t.Errorf("TIME_WAIT towards %s: exporter %v, ss %d", main, got, twMain)
		}
		// IPv6 destination label is [addr]:port.
		if got := mustValue(t, ms, destKey("timewait_destination_time_wait_sockets", "[::1]:23200", "")); !within(got, float64(twV6), 2) || twV6 < 40-len(reserved)-2 {
			t.Errorf("TIME_WAIT towards [::1]:23200: exporter %v, ss %d", got, twV6)
		}
		if got := mustValue(t, ms, destKey("timewait_destination_ephemeral_port_utilization_ratio", "[::1]:23200", "")); !within(got, float64(twV6)/usable, 0.01) {
			t.Errorf("ratio towards [::1]:23200: exporter %v, ss %d/%v", got, twV6, usable)
		}
		for i, d := range small {
			n := count(ss(t, "dst", d.String()), inRange(lo, hi, reserved...))
			if got := mustValue(t, ms, destKey("timewait_destination_time_wait_sockets", d.String(), "")); !within(got, float64(n), 2) || n < 10*(i+1)-2-len(reserved) {
				t.Errorf("TIME_WAIT towards %s: exporter %v, ss %d", d, got, n)
			}
		}
		// Server-closed connections: inbound, under the listening port.
		port := mustValue(t, ms, `timewait_local_port_time_wait_sockets{port="23000"}`)
		if !within(port, float64(twInbound), 2) || twInbound < nInbound-5 {
			t.Errorf("local port 23000: exporter %v, ss %d (made %d)", port, twInbound, nInbound)
		}
		if got := mustValue(t, ms, `timewait_time_wait_sockets{direction="inbound"}`); got != port {
			t.Errorf("inbound TIME_WAIT %v, want all on port 23000 (%v)", got, port)
		}
		// No listening port of this namespace sees client-closed TIME_WAIT.
		for _, p := range []string{"23100", "23101", "23200"} {
			if v, ok := ms[fmt.Sprintf(`timewait_local_port_time_wait_sockets{port=%q}`, p)]; ok {
				t.Errorf("listening port %s exported with %v server-side TIME_WAIT", p, v)
			}
		}
		// connect() shares local ports between destinations: fewer
		// distinct ports than sockets.
		t.Logf("outbound: ss %d sockets on %d distinct local ports; exporter %v on %v", outSockets, outPorts,
			ms["timewait_outbound_sockets"], ms["timewait_outbound_local_ports"])
		if got := mustValue(t, ms, "timewait_outbound_sockets"); !within(got, float64(outSockets), 3) {
			t.Errorf("outbound sockets %v, ss %d with a local port in %d-%d", got, outSockets, lo, hi)
		}
		if got := mustValue(t, ms, "timewait_outbound_local_ports"); !within(got, float64(outPorts), 3) || outPorts >= outSockets {
			t.Errorf("outbound local ports %v, ss %d distinct (of %d sockets: connect() should share some)", got, outPorts, outSockets)
		}
		if got := mustValue(t, ms, "timewait_outbound_max_flow_sockets"); !within(got, float64(toMain), 3) {
			t.Errorf("max flow sockets %v, ss %d towards %s (the busiest flow)", got, toMain, main)
		}
		outbound := count(ss(t, "state", "time-wait"), inRange(lo, hi, reserved...))
		if got := mustValue(t, ms, `timewait_time_wait_sockets{direction="outbound"}`); !within(got, float64(outbound), 3) {
			t.Errorf("outbound TIME_WAIT %v, ss %d with a local port in %d-%d", got, outbound, lo, hi)
		}
	}
	t.Run("range", func(t *testing.T) { check(1000) })
	t.Run("reserved", func(t *testing.T) {
		// 11 reserved ports inside the range (some held by live sockets,
		// which then no longer count as ephemeral) and 11 outside.
		setSysctl(t, "net.ipv4.ip_local_reserved_ports", "50500,50990-50999,51000-51010")
		reserved := []uint16{50500}
		for p := uint16(50990); p <= 50999; p++ {
			reserved = append(reserved, p)
		}
		check(1000-11, reserved...)
	})
}

// TestPressureTopN: 50 destinations, top_n 5: the 5 busiest are exported,
// plus the named ones (even at 0), and the other 45 are counted as
// dropped.
func TestPressureTopN(t *testing.T) {
	nstest.Require(t)
	const lo, hi = 52000, 52999
	setSysctl(t, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", lo, hi))
	targets := listen(t, lo4, twgen.Ports(24000, 50)...)
	for i, d := range targets {
		dial(t, []netip.AddrPort{d}, i+1, twgen.ClientCloses) // 24049 busiest
	}
	time.Sleep(100 * time.Millisecond)
	kernelDests := map[netip.AddrPort]int{}
	for _, s := range ss(t, "state", "time-wait") {
		if inRange(lo, hi)(s) {
			kernelDests[s.Peer]++
		}
	}
	if len(kernelDests) != 50 {
		t.Fatalf("setup: ss sees TIME_WAIT towards %d destinations, want 50", len(kernelDests))
	}

	// top_n 5 and a named destination nobody talks to.
	e := newTestExporter(t, "/proc", mustConfig(t, "top_n: 5\ndestinations:\n  - name: ghost\n    address: 192.0.2.1:9\n"))
	ms := scrape(t, e)
	tw := series(ms, "timewait_destination_time_wait_sockets")
	if len(tw) != 6 || len(series(ms, "timewait_destination_ephemeral_port_utilization_ratio")) != 6 {
		t.Errorf("want 5 + 1 named destination series, got %v", tw)
	}
	for port := 24045; port <= 24049; port++ {
		dst := fmt.Sprintf("127.0.0.1:%d", port)
		want := kernelDests[netip.MustParseAddrPort(dst)]
		if got, ok := ms[destKey("timewait_destination_time_wait_sockets", dst, "")]; !ok || !within(got, float64(want), 1) {
			t.Errorf("%s: exported %v (%v), ss %d", dst, got, ok, want)
		}
	}
	if got := mustValue(t, ms, destKey("timewait_destination_time_wait_sockets", "192.0.2.1:9", "ghost")); got != 0 {
		t.Errorf("named unseen destination: %v", got)
	}
	if got := mustValue(t, ms, destKey("timewait_destination_ephemeral_port_utilization_ratio", "192.0.2.1:9", "ghost")); got != 0 {
		t.Errorf("named unseen destination ratio: %v", got)
	}
	if got := mustValue(t, ms, `timewait_pressure_series_dropped{kind="destination"}`); got != 45 {
		t.Errorf("dropped destinations %v, want 45", got)
	}
	// The max ratio covers every destination, not only the exported ones:
	// the busiest has 50 sockets.
	if got := mustValue(t, ms, "timewait_ephemeral_port_utilization_max_ratio"); !within(got, 50.0/1000, 0.002) {
		t.Errorf("max ratio %v, want 50/1000", got)
	}

	// A named destination among the quiet ones is exported under its name
	// and does not take a top-N slot: 5 + 1 exported, 44 dropped.
	e = newTestExporter(t, "/proc", mustConfig(t, "top_n: 5\ndestinations:\n  - name: quiet\n    address: 127.0.0.1:24000\n"))
	ms = scrape(t, e)
	if got := mustValue(t, ms, destKey("timewait_destination_time_wait_sockets", "127.0.0.1:24000", "quiet")); !within(got, 1, 0) {
		t.Errorf("named destination 127.0.0.1:24000: %v, want 1", got)
	}
	if n := len(series(ms, "timewait_destination_time_wait_sockets")); n != 6 {
		t.Errorf("%d destination series, want 6", n)
	}
	if got := mustValue(t, ms, `timewait_pressure_series_dropped{kind="destination"}`); got != 44 {
		t.Errorf("dropped destinations %v, want 44", got)
	}
}

// TestPressureReuse: with tcp_tw_reuse on and timestamps negotiated, TIME_WAIT
// sockets older than tcp_tw_reuse_delay do not hold a port for connect();
// the ratio leaves them out while the TIME_WAIT count keeps them.
func TestPressureReuse(t *testing.T) {
	nstest.Require(t)
	if _, err := os.Stat("/proc/sys/net/ipv4/tcp_tw_reuse_delay"); err != nil {
		t.Skip("kernel without tcp_tw_reuse_delay")
	}
	const lo, hi, held = 54000, 54999, 10
	setSysctl(t, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", lo, hi))
	setSysctl(t, "net.ipv4.tcp_timestamps", "1")
	dst := listen(t, lo4, 25000)[0]
	// Made with reuse off, so none of them recycles another.
	dial(t, []netip.AddrPort{dst}, 300, twgen.ClientCloses)
	holdOpen(t, dst, held)
	time.Sleep(300 * time.Millisecond) // every TIME_WAIT is older than 100 ms

	e := newTestExporter(t, "/proc", nil)
	key := destKey("timewait_destination_ephemeral_port_utilization_ratio", dst.String(), "")
	twKey := destKey("timewait_destination_time_wait_sockets", dst.String(), "")
	tests := []struct {
		reuse, delayMs, timestamps string
		reusable                   bool
	}{
		{"0", "100", "1", false},
		{"1", "60000", "1", false}, // none is 60 s old
		{"1", "100", "1", true},
		{"2", "100", "1", true}, // loopback destination
		// Not tested: tcp_timestamps=0 set while these sockets exist. The
		// exporter then counts them as held, but the kernel decides on the
		// timestamps each TIME_WAIT socket negotiated, not on the sysctl:
		// measured, connect() still recycles one (TWRecycled +1).
	}
	for _, tc := range tests {
		name := fmt.Sprintf("reuse=%s,delay=%sms,timestamps=%s", tc.reuse, tc.delayMs, tc.timestamps)
		t.Run(name, func(t *testing.T) {
			setSysctl(t, "net.ipv4.tcp_tw_reuse", tc.reuse)
			setSysctl(t, "net.ipv4.tcp_tw_reuse_delay", tc.delayMs)
			setSysctl(t, "net.ipv4.tcp_timestamps", tc.timestamps)
			tw := count(ss(t, "state", "time-wait", "dst", dst.String()), inRange(lo, hi))
			est := count(ss(t, "state", "established", "dst", dst.String()), inRange(lo, hi))
			ms := scrape(t, e)
			want := float64(tw+est) / 1000
			if tc.reusable {
				want = float64(est) / 1000
			}
			got := mustValue(t, ms, key)
			t.Logf("ss: %d TIME_WAIT + %d established; ratio %v, want %v", tw, est, got, want)
			if tw < 290 || est != held {
				t.Fatalf("setup: ss sees %d TIME_WAIT, %d established", tw, est)
			}
			if !within(got, want, 0.002) {
				t.Errorf("ratio %v, want %v", got, want)
			}
			if got := mustValue(t, ms, twKey); !within(got, float64(tw), 2) {
				t.Errorf("TIME_WAIT %v, ss %d: reusable sockets still count as TIME_WAIT", got, tw)
			}
			// Reuse or not, every socket of the flow occupies its port.
			if got := mustValue(t, ms, "timewait_outbound_max_flow_sockets"); !within(got, float64(tw+est), 2) {
				t.Errorf("max flow sockets %v, ss %d TIME_WAIT + %d established: reuse must not lower it", got, tw, est)
			}
			if got := mustValue(t, ms, "timewait_sysctl_tcp_tw_reuse_delay_seconds"); got*1000 != mustAtof(t, tc.delayMs) {
				t.Errorf("timewait_sysctl_tcp_tw_reuse_delay_seconds %v, set %s ms", got, tc.delayMs)
			}
		})
	}
}

// TestPressureExhaustion checks what ratio 1 means against the kernel: with
// every usable port towards a destination held, the next connect() to it
// fails with EADDRNOTAVAIL while another destination still works; once
// tcp_tw_reuse lets connect() take over old TIME_WAIT sockets, the ratio
// drops to 0 and the kernel really does reuse one (TcpExt TWRecycled).
func TestPressureExhaustion(t *testing.T) {
	nstest.Require(t)
	const lo, hi, usable = 56000, 56099, 100
	setSysctl(t, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", lo, hi))
	setSysctl(t, "net.ipv4.tcp_timestamps", "1")
	targets := listen(t, lo4, 26000, 26001)
	full, other := targets[0], targets[1]
	dial(t, []netip.AddrPort{full}, usable, twgen.ClientCloses)
	time.Sleep(100 * time.Millisecond)

	e := newTestExporter(t, "/proc", nil)
	ms := scrape(t, e)
	if got := mustValue(t, ms, destKey("timewait_destination_ephemeral_port_utilization_ratio", full.String(), "")); got != 1 {
		t.Fatalf("ratio towards the full destination %v, want 1 (ss: %d sockets)", got, count(ss(t, "dst", full.String()), inRange(lo, hi)))
	}
	if got := mustValue(t, ms, "timewait_ephemeral_port_utilization_max_ratio"); got != 1 {
		t.Errorf("max ratio %v, want 1", got)
	}
	if c, err := net.Dial("tcp", full.String()); err == nil {
		c.Close()
		t.Fatal("connect() to the destination at ratio 1 succeeded")
	} else if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("connect() at ratio 1: %v, want EADDRNOTAVAIL", err)
	}
	holdOpen(t, other, 1) // another destination has its own 100 ports

	setSysctl(t, "net.ipv4.tcp_tw_reuse", "1")
	setSysctl(t, "net.ipv4.tcp_tw_reuse_delay", "100")
	time.Sleep(200 * time.Millisecond)
	ms = scrape(t, e)
	if got := mustValue(t, ms, destKey("timewait_destination_ephemeral_port_utilization_ratio", full.String(), "")); got != 0 {
		t.Errorf("ratio with every TIME_WAIT reusable %v, want 0", got)
	}
	recycled := mustValue(t, ms, "timewait_tcpext_tw_recycled_total")
	holdOpen(t, full, 1)
	ms = scrape(t, e)
	if got := mustValue(t, ms, "timewait_tcpext_tw_recycled_total"); got != recycled+1 {
		t.Errorf("TWRecycled %v -> %v, want +1 for the connect() that reused a TIME_WAIT port", recycled, got)
	}
	if got := mustValue(t, ms, destKey("timewait_destination_ephemeral_port_utilization_ratio", full.String(), "")); got != 0.01 {
		t.Errorf("ratio after the reusing connect() %v, want 1/100 (the new established socket)", got)
	}
}

func mustAtof(t *testing.T, s string) float64 {
	t.Helper()
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatal(err)
	}
	return f
}
