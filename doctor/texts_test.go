// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestPct(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want string
	}{
		{0.898, "89.8%"},
		{0.8999, "89.9%"},
		{449.0 / 500, "89.8%"},
		{0.9, "90%"},
		{0.94, "94%"},
		{470.0 / 500, "94%"},
		{0.29, "29%"}, // 0.29*1000 is 289.99999999999994
		{0.07, "7%"},
		{2000.0 / 28232, "7%"},
		{120000.0 / 131072, "91.5%"},
		{0, "0%"},
		{1, "100%"},
	} {
		if got := pct(tc.r); got != tc.want {
			t.Errorf("pct(%v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// A value below a threshold never prints at or above the printed
// threshold, for every threshold a config may hold with up to one decimal
// in percent and values from far below to a hair below it.
func TestPctNeverReachesThreshold(t *testing.T) {
	shown := func(r float64) float64 {
		v, err := strconv.ParseFloat(strings.TrimSuffix(pct(r), "%"), 64)
		if err != nil {
			t.Fatalf("pct(%v) = %q: %v", r, pct(r), err)
		}
		return v
	}
	for tenths := 1; tenths <= 1000; tenths++ {
		th := float64(tenths) / 1000
		if got := shown(th); got*10 != float64(tenths) {
			t.Fatalf("threshold %v shown as %v%%", th, got)
		}
		for _, r := range []float64{math.Nextafter(th, 0), th - 1e-9, th - 1e-4, th - 0.0004999, th - 0.001, th - 0.05} {
			if r >= 0 && shown(r) >= shown(th) {
				t.Errorf("%v (below the threshold %v) shown as %s, threshold as %s", r, th, pct(r), pct(th))
			}
		}
	}
}

// 449 of 500 ports is below the critical 90 %: a warning, and no "90%"
// anywhere but the threshold.
func TestEphemeralJustBelowCritical(t *testing.T) {
	r := scenario{host: func() *host {
		return narrow().set("net.ipv4.tcp_tw_reuse", 0).outbound("10.0.0.1", "10.0.0.5:443", 449)
	}}.report()
	f := one(t, r, "ephemeral-ports", Warning)
	contains(t, f, "are 89.8% used (449 of 500)", "(89.8%)", "critical at 90%")
	if n := strings.Count(all(f), "90%"); n != 1 {
		t.Errorf("\"90%%\" appears %d times, want once (the threshold):\n%s", n, all(f))
	}
}

// The fix steps say what each buys: widening the default range to
// 10240-65535 with the NodePort range reserved about doubles the ports;
// tcp_tw_reuse=1 makes a port reusable after tcp_tw_reuse_delay instead of
// 60 s.
func TestEphemeralStepsStateSizes(t *testing.T) {
	h := newHost().set("net.ipv4.tcp_tw_reuse", 0).listen(40100).
		outbound("10.0.0.1", "10.0.0.5:443", 26000)
	f := one(t, scenario{host: func() *host { return h }}.report(), "ephemeral-ports", Critical)
	// 55296 ports in 10240-65535, less 2768 NodePorts and the listener;
	// 28232 in the default range, less the listener.
	contains(t, f, "from 32768-60999 to 10240-65535: 52527 usable ports instead of 28231, 1.9× as many",
		"NodePort range 30000-32767", "udp_lib_get_port", "sysctl -w net.ipv4.ip_local_reserved_ports=30000-32767,40100",
		"about 60× as many connections per second", "tcp_tw_reuse_delay (1 s) instead of 60 s",
		"ss -tnp state established dst 10.0.0.5:443", "belong to no process")
	if strings.Contains(all(f), "ss -tnp dst") {
		t.Errorf("ss without a state filter lists TIME_WAIT sockets, which have no process:\n%s", all(f))
	}

	h = narrow().set("net.ipv4.tcp_tw_reuse", 0).set("net.ipv4.tcp_tw_reuse_delay", 100).
		outbound("10.0.0.1", "10.0.0.5:443", 470)
	f = one(t, scenario{host: func() *host { return h }}.report(), "ephemeral-ports", Critical)
	contains(t, f, "52528 usable ports instead of 500, 105× as many", "about 600× as many", "(0.1 s) instead of 60 s")

	// Before Linux 6.14 there is no tcp_tw_reuse_delay; the kernel waits 1 s.
	h = narrow().set("net.ipv4.tcp_tw_reuse", 0).unset("net.ipv4.tcp_tw_reuse_delay").
		outbound("10.0.0.1", "10.0.0.5:443", 470)
	f = one(t, scenario{host: func() *host { return h }}.report(), "ephemeral-ports", Critical)
	contains(t, f, "about 60× as many", "(1 s) instead of 60 s", "(Linux 6.14+)")
}

// A range that already hands out the NodePorts is left as it is: the host
// evidently does not keep them apart, and reserving them would shrink it.
func TestWidenKeepsNodePortsOfCurrentRange(t *testing.T) {
	h := newHost().set("net.ipv4.tcp_tw_reuse", 0).portRange(20000, 39999).
		outbound("10.0.0.1", "10.0.0.5:443", 19000)
	f := one(t, scenario{host: func() *host { return h }}.report(), "ephemeral-ports", Critical)
	contains(t, f, "from 20000-39999 to 10240-65535: 55296 usable ports instead of 20000, 2.8× as many")
	if strings.Contains(all(f), "NodePort") {
		t.Errorf("NodePort range reserved although the current range covers it:\n%s", all(f))
	}
}
