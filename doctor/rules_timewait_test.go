// SPDX-License-Identifier: Apache-2.0

// Scenarios of the rules about TIME_WAIT itself: tcp_tw_reuse and
// tcp_timestamps, tcp_max_tw_buckets, tcp_fin_timeout, tcp_tw_recycle and
// inbound TIME_WAIT.

package doctor

import (
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

var timeWaitScenarios = []scenario{
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
}
