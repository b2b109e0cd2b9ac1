// SPDX-License-Identifier: Apache-2.0

// Scenarios of the rules about the ephemeral port pool: ports per
// destination, bind-before-connect and the layout of the port range.

package doctor

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

var portScenarios = []scenario{
	// 1. ephemeral ports per destination
	{name: "ephemeral critical", host: func() *host {
		return narrow().set("net.ipv4.tcp_tw_reuse", 0).listen(5432).listen(50000).
			outbound("10.0.0.1", "10.0.0.5:5432", 470).outbound("10.0.0.1", "10.0.0.6:6379", 10)
	}, cfg: func() *config.Config {
		c := config.Default()
		c.Destinations = []config.Destination{{Name: "postgres", Address: "10.0.0.5:5432", AddrPort: netip.MustParseAddrPort("10.0.0.5:5432")}}
		return c
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "ephemeral-ports", Critical)
		contains(t, f, "10.0.0.5:5432 (postgres)", "94%", "470 of 500", "EADDRNOTAVAIL", "fixed 60 s", "source 10.0.0.1")
		if len(f.Subjects) != 1 || f.Subjects[0] != "10.0.0.5:5432" {
			t.Errorf("subjects %v, want only 10.0.0.5:5432", f.Subjects)
		}
		inOrder(t, f, "keep-alive", "more destination IPs", "IP_BIND_ADDRESS_NO_PORT",
			"ip_local_reserved_ports=30000-32767,50000", "ip_local_port_range=\"10240 65535\"", "sysctl -w net.ipv4.tcp_tw_reuse=1")
		contains(t, f, "outgoing connections only", "timestamps", "ss -tnp state established dst 10.0.0.5:5432")
		if r.ExitCode != 2 {
			t.Errorf("exit code %d, want 2", r.ExitCode)
		}
		none(t, r, "healthy")
	}},
	{name: "ephemeral warning", host: func() *host {
		return narrow().outbound("10.0.0.1", "10.0.0.5:443", 375)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "ephemeral-ports", Warning)
		contains(t, f, "75%", "10.0.0.5:443")
		if r.ExitCode != 1 {
			t.Errorf("exit code %d, want 1", r.ExitCode)
		}
	}},
	{name: "ephemeral below threshold", host: func() *host {
		return narrow().outbound("10.0.0.1", "10.0.0.5:443", 300)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "ephemeral-ports")
	}},
	{name: "ephemeral configured thresholds", host: func() *host {
		return narrow().outbound("10.0.0.1", "10.0.0.5:443", 300)
	}, cfg: func() *config.Config {
		c := config.Default()
		c.Doctor = config.Doctor{UtilizationWarning: 0.5, UtilizationCritical: 0.55}
		return c
	}, check: func(t *testing.T, r *Report) {
		one(t, r, "ephemeral-ports", Critical)
	}},
	{name: "ephemeral ipv6 loopback reuse on", host: func() *host {
		h := newHost().set("net.ipv4.tcp_tw_reuse", 1).portRange(10240, 65535).reserve(10240, 64999)
		h.nextPort = 65000 // 536 usable ports
		return h.outboundState("::1", "[::1]:8080", 500, sockdiag.StateEstablished)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "ephemeral-ports", Critical)
		contains(t, f, "ss -tnp state established dst [::1]:8080", "already applies", "already wide")
	}},
	{name: "ephemeral listeners and odd range", host: func() *host {
		// 499 ports, two of them listening: connect() can use 496.
		return newHost().portRange(40000, 40498).listen(40450).listen(40451).
			outbound("10.0.0.1", "10.0.0.5:5432", 430)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "ephemeral-ports", Warning)
		contains(t, f, "430 of the 496 ports connect() can use", "(499 usable)",
			"minus 2 ports of the range with a listener", "minus 1 because the range has an odd number of ports")
	}},
	{name: "ephemeral listeners and bound sockets", host: func() *host {
		// 500 ports: two listening, three bound and unconnected (one of
		// them on a listener's port): connect() can use 496.
		return newHost().portRange(40000, 40499).listen(40450).listen(40451).
			bindOnly(40451).bindOnly(40452).bindOnly(40453).
			outbound("10.0.0.1", "10.0.0.5:5432", 430)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "ephemeral-ports", Warning)
		contains(t, f, "430 of the 496 ports connect() can use",
			"minus 4 ports of the range that bind() owns (2 with a listener, the others held by bound, unconnected sockets")
	}},

	// 8. bind-before-connect
	{name: "bind before connect", host: func() *host {
		h := narrow()
		for i := 0; i < 5; i++ {
			h.outbound("10.0.0.1", fmt.Sprintf("10.0.1.%d:443", i+1), 80)
		}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "bind-before-connect", Warning)
		contains(t, f, "400 of 500", "5 destinations", "IP_BIND_ADDRESS_NO_PORT", "global pool")
		none(t, r, "ephemeral-ports")
	}},
	{name: "bind before connect critical", host: func() *host {
		h := narrow()
		for i := 0; i < 10; i++ {
			h.outbound("10.0.0.1", fmt.Sprintf("10.0.1.%d:443", i+1), 48)
		}
		return h
	}, check: func(t *testing.T, r *Report) {
		one(t, r, "bind-before-connect", Critical)
	}},
	{name: "connect shares ports", host: func() *host {
		// 40000-40299, 40100-40399, 40200-40499: every port in use, each
		// destination at 60 %, ports shared as connect() shares them.
		h := narrow()
		for i := 0; i < 3; i++ {
			h.nextPort = 40000 + uint16(i)*100
			h.outbound("10.0.0.1", fmt.Sprintf("10.0.1.%d:443", i+1), 300)
		}
		return h
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "bind-before-connect")
	}},
	{name: "two destinations, no port shared", host: func() *host {
		// connect() alone tries the same half of the range (the low
		// parity) first for every destination, so two destinations of 200
		// on 400 distinct ports out of 500 are bind()'s doing.
		return narrow().outbound("10.0.0.1", "10.0.1.1:443", 200).outbound("10.0.0.1", "10.0.1.2:443", 200)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "bind-before-connect", Warning)
		contains(t, f, "400 of 500 usable", "over 2 destinations")
	}},
	{name: "one flow under tcp_tw_reuse", host: func() *host {
		// 470 reusable TIME_WAIT towards one destination hold none of its
		// ports (ratio near 0) yet occupy 470 of the pool, none shared
		// with the 10 sockets to a second one: one flow explains them.
		return narrow().set("net.ipv4.tcp_tw_reuse", 1).
			outboundOld("10.0.0.1", "10.0.1.1:443", 470).outbound("10.0.0.1", "10.0.1.2:443", 10)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "bind-before-connect")
		none(t, r, "ephemeral-ports")
	}},
	{name: "one busy destination", host: func() *host {
		// 480 ports, none shared, but 470 of them one destination's.
		return narrow().outbound("10.0.0.1", "10.0.1.1:443", 470).outbound("10.0.0.1", "10.0.1.2:443", 10)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "bind-before-connect")
		one(t, r, "ephemeral-ports", Critical)
	}},

	// 9. port range layout
	{name: "listener inside range", host: func() *host {
		return newHost().reserve(9000, 9010).listen(40100).listen(32768).listen(8080)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "port-range", Warning)
		contains(t, f, "32768, 40100", "EADDRINUSE", "sysctl -w net.ipv4.ip_local_reserved_ports=9000-9010,32768,40100")
	}},
	{name: "listener reserved", host: func() *host {
		return newHost().reserve(40100, 40100).listen(40100).listen(8080)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "port-range")
	}},
	{name: "same parity", host: func() *host {
		return newHost().portRange(40000, 40498)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "port-range", Info)
		contains(t, f, "both even", "ip_local_port_range=\"40000 40499\"")
	}},
	{name: "same parity at top", host: func() *host {
		return newHost().portRange(1025, 65535)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "port-range", Info)
		contains(t, f, "both odd", "ip_local_port_range=\"1024 65535\"")
	}},
}
