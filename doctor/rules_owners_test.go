// SPDX-License-Identifier: Apache-2.0

// Scenarios of the owners rule: who holds the live sockets of the busiest
// flows, and how fast each closes connections.

package doctor

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/churn"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/owners"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

// closes adds TIME_WAIT sockets from src to dst that entered TIME_WAIT
// at these ages.
func (h *host) closes(src, dst string, ages ...time.Duration) *host {
	h.outbound(src, dst, len(ages))
	for i, a := range ages {
		h.sockets[len(h.sockets)-len(ages)+i].Expires = uint32((model.TimeWaitLen - a).Milliseconds())
	}
	return h
}

// live adds established connections from src to dst with these inodes.
func (h *host) live(src, dst string, inodes ...uint32) *host {
	h.outboundState(src, dst, len(inodes), sockdiag.StateEstablished)
	for i, ino := range inodes {
		s := &h.sockets[len(h.sockets)-len(inodes)+i]
		s.Inode, s.Expires, s.Timer = ino, 0, 0
	}
	return h
}

// every returns n ages spaced evenly over span.
func every(n int, span time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = span * time.Duration(i) / time.Duration(n)
	}
	return out
}

// server adds a listener on port with this inode and n server-closed
// TIME_WAIT sockets on it.
func (h *host) server(port uint16, inode uint32, n int) *host {
	h.listen(port)
	h.listeners[len(h.listeners)-1].Inode = inode
	return h.inbound(port, n)
}

var podProc = &owners.Process{PID: 4242, Comm: "tw-steady", Cmdline: "tw-steady -rate 50", Sockets: []uint32{1001, 1002},
	Container: "0123456789abcdef0123", PodUID: "5f2c9d3e-8a41-4b6e-9c0d-000000000001", PodNamespace: "shop", PodName: "cart-7d9f"}

var ownerScenarios = []scenario{
	{name: "owners named, with rate, shape, pod; a client without live sockets", host: func() *host {
		h := newHost().
			closes("127.0.0.1", "127.0.0.1:7101", every(750, 15*time.Second)...).
			live("127.0.0.1", "127.0.0.1:7101", 1001, 1002).
			closes("127.0.0.1", "127.0.0.1:7104", every(300, 15*time.Second)...).
			server(8080, 2001, 200)
		h.owners = &owners.Result{PIDs: 12, FDs: 240, Listed: 300, Visited: 14, Unread: 286, First: 12, Closed: 2, AllFound: true, Procs: []*owners.Process{podProc, {PID: 7, Comm: "web", Cmdline: "web --port 8080", Sockets: []uint32{2001}}}}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "owners", Info)
		contains(t, f, "pid 4242 (tw-steady) closes 50.07 connections/s to 127.0.0.1:7101: steady",
			"127.0.0.1:7101 from 127.0.0.1: 50.07 closes/s over the last 15 s (750 TIME_WAIT), steady",
			"rising: all held in", "held by pid 4242 tw-steady (tw-steady -rate 50) with 2, container 0123456789ab, pod shop/cart-7d9f",
			"127.0.0.1:7104 from 127.0.0.1: 20.07 closes/s", "owner unknown (no live socket",
			"listening port 8080 (server side)", "held by pid 7 web", "TCP_TIMEWAIT_LEN", "tcp_time_wait() (net/ipv4/tcp_minisocks.c)",
			"ss -tnpH dst 127.0.0.1:7104",
			"owner lookup: every live socket still open found a holder after 14 of the 300 processes (the 12 in the live sockets' cgroups first); 2 closed since the dump; 12 process(es) of the namespaces reported and 240 descriptors read")
		if l := f.OwnerLookup; l == nil || *l != (OwnerLookup{Ended: LookupAllFound, ProcessesListed: 300, ProcessesVisited: 14, ProcessesInCgroups: 12, ProcessesRead: 12, DescriptorsRead: 240, SocketsClosed: 2}) {
			t.Errorf("owner lookup %+v", l)
		}
		if len(f.Flows) != 3 {
			t.Fatalf("%d flows, want 3: %+v", len(f.Flows), f.Flows)
		}
		b, _ := json.Marshal(f.Flows[0])
		for _, want := range []string{`"pid":4242`, `"comm":"tw-steady"`, `"live_sockets":2`, `"container":"0123456789abcdef0123"`,
			`"pod_namespace":"shop"`, `"pod_name":"cart-7d9f"`, `"closes_per_second":50.07`, `"shape":"steady"`, `"seconds_to_exhaustion":`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("JSON of the first flow lacks %s: %s", want, b)
			}
		}
		if u := f.Flows[1]; u.Destination != "127.0.0.1:7104" || u.OwnerUnknownReason != unknownNoLive || len(u.Owners) != 0 {
			t.Errorf("second flow %+v, want 7104 with no live socket", u)
		}
		if p := f.Flows[2]; p.ListeningPort != 8080 || p.SecondsToExhaustion != nil || len(p.Owners) != 1 {
			t.Errorf("listening port flow %+v", p)
		}
	}},
	{name: "owners unreadable without CAP_SYS_PTRACE", host: func() *host {
		h := newHost().
			closes("10.0.0.1", "10.0.0.5:5432", bursts(3, 100, 20*time.Second, 5*time.Second)...).
			live("10.0.0.1", "10.0.0.5:5432", 3001)
		h.owners = &owners.Result{PIDs: 3, Denied: 40, Listed: 43, Visited: 43, SameUID: 5}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "owners", Info)
		contains(t, f, "owner unknown closes", ": burst", "owner unknown (needs CAP_SYS_PTRACE)", "40 process(es) could not be read", "ss -tnp dst 10.0.0.5:5432",
			"owner lookup: read every process (43; the 0 in the live sockets' cgroups first, then 5 running as their owners)")
		if l := f.OwnerLookup; l == nil || l.Ended != LookupFullScan {
			t.Errorf("owner lookup %+v, want a full scan", l)
		}
		if f.Flows[0].OwnerUnknownReason != unknownPtrace || f.Flows[0].Shape != string(churn.Burst) {
			t.Errorf("flow %+v", f.Flows[0])
		}
	}},
	{name: "a socket two processes share does not hide one without a holder", host: func() *host {
		// 3001 is held by a parent and the child it forked; 3002 by a
		// process of another user, which could not be read.
		h := newHost().closes("10.0.0.1", "10.0.0.5:5432", every(100, 10*time.Second)...).live("10.0.0.1", "10.0.0.5:5432", 3001, 3002)
		h.owners = &owners.Result{PIDs: 3, Denied: 1, Listed: 4, Visited: 4, Procs: []*owners.Process{
			{PID: 10, Comm: "app", Sockets: []uint32{3001}}, {PID: 11, Comm: "app", Sockets: []uint32{3001}}}}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "owners", Info)
		if fl := f.Flows[0]; len(fl.Owners) != 2 || fl.OwnerUnknownReason != unknownPtrace {
			t.Errorf("flow %+v, want both holders of 3001 and 3002's owner unknown (%s)", fl, unknownPtrace)
		}
	}},
	{name: "a walk that read every process is a full scan, though some exited", host: func() *host {
		// The last holder was found among the last processes read; 10
		// listed processes had exited before the walk got to them.
		h := newHost().closes("10.0.0.1", "10.0.0.5:5432", every(100, 10*time.Second)...).live("10.0.0.1", "10.0.0.5:5432", 3001)
		h.owners = &owners.Result{PIDs: 290, Listed: 300, Visited: 290, AllFound: true, Procs: []*owners.Process{{PID: 9000, Comm: "app", Sockets: []uint32{3001}}}}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "owners", Info)
		contains(t, f, "owner lookup: read every process (290;")
		if l := f.OwnerLookup; l == nil || l.Ended != LookupFullScan {
			t.Errorf("owner lookup %+v, want a full scan", l)
		}
	}},
	{name: "owner lookup stopped at the deadline", host: func() *host {
		h := newHost().closes("10.0.0.1", "10.0.0.5:5432", every(100, 10*time.Second)...).live("10.0.0.1", "10.0.0.5:5432", 3001)
		h.owners = &owners.Result{PIDs: 900, FDs: 45000, Listed: 2000, Visited: 950, First: 20, Stopped: owners.StoppedDeadline}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "owners", Info)
		contains(t, f, "owner unknown (owner lookup stopped early: deadline)", "owner lookup: stopped: deadline after 950 of the 2000 processes")
		if l := f.OwnerLookup; l == nil || l.Ended != "stopped: deadline" {
			t.Errorf("owner lookup %+v", l)
		}
	}},
	{name: "owner lookup off: no owners finding", host: func() *host {
		return newHost().closes("10.0.0.1", "10.0.0.5:5432", every(100, 10*time.Second)...)
	}, check: func(t *testing.T, r *Report) { none(t, r, "owners") }},
}

// bursts returns the ages of count bursts of n closes, period apart, the
// first first ago.
func bursts(count, n int, first, period time.Duration) []time.Duration {
	var out []time.Duration
	for b := range count {
		for i := range n {
			out = append(out, first-time.Duration(b)*period+time.Duration(i)*time.Millisecond)
		}
	}
	return out
}

func TestFlowLineIPv6(t *testing.T) {
	f := FlowReport{Destination: netip.MustParseAddrPort("[2001:db8::1]:443").String(), Source: "2001:db8::2", OwnerUnknownReason: unknownNoLive}
	if s, ok := unknownStep(f); !ok || !strings.Contains(s.Commands[0], "dst [2001:db8::1]:443") {
		t.Errorf("step %+v", s)
	}
}
