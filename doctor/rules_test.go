// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

// scenario is one fabricated namespace and what the doctor must say.
type scenario struct {
	name  string
	host  func() *host
	cfg   func() *config.Config // nil: defaults
	check func(t *testing.T, r *Report)
}

func (s scenario) report() *Report {
	var cfg *config.Config
	if s.cfg != nil {
		cfg = s.cfg()
	}
	return Diagnose([]*kernel.Snapshot{s.host().snapshot()}, cfg)
}

// find returns the findings of one rule.
func find(r *Report, rule string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// one asserts exactly one finding of rule with severity sev and returns it.
func one(t *testing.T, r *Report, rule string, sev Severity) Finding {
	t.Helper()
	fs := find(r, rule)
	if len(fs) != 1 {
		t.Fatalf("want one %s finding, got %d; report:\n%s", rule, len(fs), textOf(r))
	}
	if fs[0].Severity != sev {
		t.Fatalf("%s: severity %s, want %s; report:\n%s", rule, fs[0].Severity, sev, textOf(r))
	}
	return fs[0]
}

func none(t *testing.T, r *Report, rule string) {
	t.Helper()
	if fs := find(r, rule); len(fs) != 0 {
		t.Fatalf("want no %s finding; report:\n%s", rule, textOf(r))
	}
}

func textOf(r *Report) string {
	var b strings.Builder
	_ = RenderText(&b, r)
	return b.String()
}

// all is every text of a finding, in reading order.
func all(f Finding) string {
	parts := []string{f.Title}
	parts = append(parts, f.Observed...)
	parts = append(parts, f.Why)
	for _, s := range f.Fix {
		parts = append(parts, s.Text)
		parts = append(parts, s.Commands...)
	}
	return strings.Join(parts, "\n")
}

func contains(t *testing.T, f Finding, want ...string) {
	t.Helper()
	text := all(f)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s finding lacks %q:\n%s", f.Rule, w, text)
		}
	}
}

// inOrder asserts that each want appears in the fix steps, in this order.
func inOrder(t *testing.T, f Finding, want ...string) {
	t.Helper()
	var steps []string
	for _, s := range f.Fix {
		steps = append(steps, s.Text+"\n"+strings.Join(s.Commands, "\n"))
	}
	text := strings.Join(steps, "\n--\n")
	last := -1
	for _, w := range want {
		i := strings.Index(text, w)
		if i < 0 {
			t.Fatalf("fix lacks %q:\n%s", w, text)
		}
		if i < last {
			t.Fatalf("fix has %q out of order:\n%s", w, text)
		}
		last = i
	}
}

// narrow is a namespace with 500 usable ephemeral ports.
func narrow() *host { return newHost().portRange(40000, 40499) }

var scenarios = []scenario{
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

	// 2. tcp_tw_reuse / tcp_timestamps
	{name: "reuse default remote pressure", host: func() *host {
		return narrow().outbound("10.0.0.1", "10.0.0.5:443", 375)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-reuse", Warning)
		contains(t, f, "tcp_tw_reuse=2", "10.0.0.5:443", "never a listener")
		inOrder(t, f, "Reuse connections first", "sysctl -w net.ipv4.tcp_tw_reuse=1")
	}},
	{name: "reuse off remote some pressure", host: func() *host {
		return narrow().set("net.ipv4.tcp_tw_reuse", 0).outbound("10.0.0.1", "10.0.0.5:443", 200)
	}, check: func(t *testing.T, r *Report) {
		one(t, r, "tw-reuse", Info)
		none(t, r, "ephemeral-ports")
		one(t, r, "healthy", OK)
	}},
	{name: "reuse default loopback", host: func() *host {
		return narrow().outbound("127.0.0.1", "127.0.0.1:7000", 400)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "tw-reuse")
	}},
	{name: "reuse off loopback", host: func() *host {
		return narrow().set("net.ipv4.tcp_tw_reuse", 0).outbound("127.0.0.1", "127.0.0.1:7000", 470)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-reuse", Warning)
		contains(t, f, "tcp_tw_reuse=0", "127.0.0.1:7000", "default 2")
		g := one(t, r, "ephemeral-ports", Critical)
		contains(t, g, "sysctl -w net.ipv4.tcp_tw_reuse=1")
	}},
	{name: "reuse on", host: func() *host {
		return narrow().set("net.ipv4.tcp_tw_reuse", 1).outboundState("10.0.0.1", "10.0.0.5:443", 400, sockdiag.StateEstablished)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "tw-reuse")
		f := one(t, r, "ephemeral-ports", Warning)
		contains(t, f, "tcp_tw_reuse=1 already applies")
	}},
	{name: "timestamps off", host: func() *host {
		return narrow().set("net.ipv4.tcp_timestamps", 0).set("net.ipv4.tcp_tw_reuse", 1).outbound("10.0.0.1", "10.0.0.5:443", 460)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-reuse", Warning)
		contains(t, f, "tcp_timestamps=0", "cannot reuse", "sysctl -w net.ipv4.tcp_timestamps=1")
		g := one(t, r, "ephemeral-ports", Critical)
		contains(t, g, "cannot help while net.ipv4.tcp_timestamps=0")
	}},
	{name: "timestamps off quiet", host: func() *host {
		return newHost().set("net.ipv4.tcp_timestamps", 0).set("net.ipv4.tcp_tw_reuse", 0)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "tw-reuse")
	}},
	{name: "timestamps off default reuse", host: func() *host {
		return newHost().set("net.ipv4.tcp_timestamps", 0)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-reuse", Info)
		contains(t, f, "tcp_tw_reuse=2 cannot reuse")
	}},

	// 3. tcp_max_tw_buckets overflow / headroom
	{name: "buckets near", host: func() *host {
		h := newHost()
		h.extraTW = 120000
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-buckets", Warning)
		contains(t, f, "91.5%", "Never lower it", "sysctl -w net.ipv4.tcp_max_tw_buckets=262144", "256 bytes")
	}},
	{name: "buckets overflowed earlier", host: func() *host {
		h := newHost()
		h.overflows = 1234
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-buckets", Warning)
		contains(t, f, "overflowed 1234 times since the namespace started", "rate(timewait_tcpext_tcp_time_wait_overflow_total[5m])", "no longer logs")
	}},
	{name: "buckets overflowing", host: func() *host {
		h := newHost().set("net.ipv4.tcp_max_tw_buckets", 200000).inbound(80, 100)
		h.extraTW = 199900
		h.overflows = 50
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-buckets", Critical)
		contains(t, f, "100%", "sysctl -w net.ipv4.tcp_max_tw_buckets=400000", "orphaned FIN_WAIT2 mini-sockets")
	}},
	{name: "buckets fine", host: func() *host {
		h := newHost().inbound(80, 100)
		return h
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "tw-buckets")
	}},

	// 4. tcp_max_tw_buckets lowered
	{name: "buckets lowered", host: func() *host {
		return newHost().set("net.ipv4.tcp_max_tw_buckets", 5000)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-buckets-lowered", Warning)
		contains(t, f, "5000", "131072", "sysctl -w net.ipv4.tcp_max_tw_buckets=131072")
	}},
	{name: "buckets lowered child netns", host: func() *host {
		return newHost().set("net.ipv4.tcp_ehash_entries", -65536).set("net.ipv4.tcp_max_tw_buckets", 32767)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-buckets-lowered", Warning)
		contains(t, f, "default of 32768")
	}},
	{name: "buckets raised", host: func() *host {
		return newHost().set("net.ipv4.tcp_max_tw_buckets", 1<<20)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "tw-buckets-lowered")
	}},
	{name: "buckets default unknown", host: func() *host {
		return newHost().unset("net.ipv4.tcp_ehash_entries").set("net.ipv4.tcp_max_tw_buckets", 10)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "tw-buckets-lowered")
	}},

	// 5. tcp_fin_timeout
	{name: "fin_timeout lowered", host: func() *host {
		return newHost().set("net.ipv4.tcp_fin_timeout", 10)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "fin-timeout", Info)
		contains(t, f, "does not change TIME_WAIT", "FIN_WAIT2", "fixed 60 s", "sysctl -w net.ipv4.tcp_fin_timeout=60")
	}},
	{name: "fin_timeout raised", host: func() *host {
		return newHost().set("net.ipv4.tcp_fin_timeout", 120)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "fin-timeout", Info)
		for _, s := range f.Fix {
			if len(s.Commands) > 0 {
				t.Errorf("raised tcp_fin_timeout: no command wanted (setting 60 would lower it), got %v", s.Commands)
			}
		}
	}},
	{name: "fin_timeout default", host: newHost, check: func(t *testing.T, r *Report) {
		none(t, r, "fin-timeout")
	}},

	// 6. tcp_tw_recycle
	{name: "recycle on", host: func() *host {
		return newHost().set("net.ipv4.tcp_tw_recycle", 1)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "tw-recycle", Critical)
		contains(t, f, "NAT", "4.12", "sysctl -w net.ipv4.tcp_tw_recycle=0")
		if r.ExitCode != 2 {
			t.Errorf("exit code %d, want 2", r.ExitCode)
		}
	}},
	{name: "recycle present off", host: func() *host {
		return newHost().set("net.ipv4.tcp_tw_recycle", 0)
	}, check: func(t *testing.T, r *Report) {
		one(t, r, "tw-recycle", Info)
	}},
	{name: "recycle absent", host: newHost, check: func(t *testing.T, r *Report) {
		none(t, r, "tw-recycle")
	}},

	// 7. inbound TIME_WAIT
	{name: "inbound mostly", host: func() *host {
		return newHost().listen(80).listen(443).inbound(80, 5000).inbound(443, 300).outbound("10.0.0.1", "10.0.0.5:5432", 20)
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "inbound", Info)
		contains(t, f, "5300 of 5320", ":80 (5000)", ":443 (300)", "memory", "1.3 MiB", "clients close first", "does not apply")
		if f.Subjects[0] != "80" {
			t.Errorf("subjects %v, want 80 first", f.Subjects)
		}
		one(t, r, "healthy", OK)
		if r.ExitCode != 0 {
			t.Errorf("exit code %d, want 0", r.ExitCode)
		}
	}},
	{name: "inbound few", host: func() *host {
		return newHost().listen(80).inbound(80, 50)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "inbound")
	}},
	{name: "inbound minority", host: func() *host {
		return newHost().listen(80).inbound(80, 500).outbound("10.0.0.1", "10.0.0.5:5432", 600)
	}, check: func(t *testing.T, r *Report) {
		none(t, r, "inbound")
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

	// 10. healthy
	{name: "healthy", host: func() *host {
		return newHost().listen(22).inbound(22, 3).outbound("10.0.0.1", "10.0.0.5:443", 40)
	}, check: func(t *testing.T, r *Report) {
		if len(r.Findings) != 1 {
			t.Fatalf("want only the healthy finding:\n%s", textOf(r))
		}
		f := one(t, r, "healthy", OK)
		contains(t, f, "43 of tcp_max_tw_buckets=131072", "outbound 40, inbound 3", "10.0.0.5:443, 40 of the 28232", "TCPTimeWaitOverflow since the namespace started: 0", "tcp_tw_reuse=2")
		if r.ExitCode != 0 || r.Worst != OK {
			t.Errorf("worst %s exit %d, want ok 0", r.Worst, r.ExitCode)
		}
	}},

	// unreadable sources
	{name: "incomplete", host: func() *host {
		h := newHost()
		h.errors = map[string]error{"sockets": errors.New("netlink: operation not permitted <script>alert(1)</script>")}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "incomplete", Warning)
		contains(t, f, "sockets: netlink: operation not permitted")
		none(t, r, "healthy")
	}},
}

func TestRules(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.check(t, s.report()) })
	}
}

// Every rule is exercised by at least one scenario.
func TestEveryRuleCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range scenarios {
		for _, f := range s.report().Findings {
			seen[f.Rule] = true
		}
	}
	for _, r := range append(rules, rule{id: "healthy"}) {
		if !seen[r.id] {
			t.Errorf("no scenario produces a %s finding", r.id)
		}
	}
}

func TestSeverityExitCodes(t *testing.T) {
	for s, want := range map[Severity]int{OK: 0, Info: 0, Warning: 1, Critical: 2} {
		if got := s.ExitCode(); got != want {
			t.Errorf("%s.ExitCode() = %d, want %d", s, got, want)
		}
	}
}

// Several scopes: findings worst first, each labelled with its scope, and
// the healthy verdict only for the scope that is healthy.
func TestScopes(t *testing.T) {
	sick := narrow().set("net.ipv4.tcp_tw_reuse", 0).outbound("127.0.0.1", "127.0.0.1:7000", 470)
	sick.labels = []string{"ci-1"}
	fine := newHost()
	r := Diagnose([]*kernel.Snapshot{fine.snapshot(), sick.snapshot()}, nil)
	if got := strings.Join(r.Scopes, ","); got != ",ci-1" {
		t.Errorf("scopes %q", got)
	}
	if r.Findings[0].Scope != "ci-1" || r.Findings[0].Severity != Critical {
		t.Errorf("first finding %+v, want the critical one of ci-1", r.Findings[0])
	}
	h := one(t, r, "healthy", OK)
	if h.Scope != "" {
		t.Errorf("healthy finding for scope %q, want the own namespace", h.Scope)
	}
	if r.ExitCode != 2 {
		t.Errorf("exit %d", r.ExitCode)
	}
	for i := 1; i < len(r.Findings); i++ {
		if r.Findings[i].Severity > r.Findings[i-1].Severity {
			t.Fatalf("findings not worst first:\n%s", textOf(r))
		}
	}
	text := textOf(r)
	for _, want := range []string{
		"Scope: 2 network namespaces; each finding names its own",
		"in network namespace ci-1 (run the commands inside it",
		"[OK] No TIME_WAIT problem in 1 network namespace(s):\n    - (own namespace): TIME_WAIT 0 of 131072 buckets (0%); 0 overflows\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "No TIME_WAIT problem") != 1 {
		t.Errorf("healthy scopes not listed compactly:\n%s", text)
	}
	var page strings.Builder
	if err := RenderHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "<li><strong>(own namespace)</strong>: TIME_WAIT 0 of 131072 buckets (0%); 0 overflows</li>") {
		t.Errorf("HTML does not list the healthy scope:\n%s", page.String())
	}
	if empty := Diagnose(nil, nil); empty.ExitCode != 0 || len(empty.Findings) != 0 {
		t.Errorf("no snapshots: %+v", empty)
	}
}
