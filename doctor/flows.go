// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"math"
	"slices"

	"github.com/timewait-exporter/timewait_exporter/internal/churn"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/owners"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// FlowReport is one destination (or listening port) of the owners
// finding, for scripts: how fast it closes connections and who holds its
// live sockets.
type FlowReport struct {
	// Destination and Source are an outbound flow's; ListeningPort an
	// inbound one's.
	Destination   string `json:"destination,omitempty"`
	Source        string `json:"source,omitempty"`
	ListeningPort uint16 `json:"listening_port,omitempty"`
	TimeWait      int    `json:"time_wait"`
	// ClosesPerSecond is TimeWait over WindowSeconds, the span the ages
	// of its TIME_WAIT sockets cover (at most 60 s).
	ClosesPerSecond float64 `json:"closes_per_second"`
	WindowSeconds   float64 `json:"window_seconds"`
	// RateLowerBound: TIME_WAIT sockets left early (tcp_tw_reuse took
	// them over, or tcp_max_tw_buckets dropped them) and were not seen.
	RateLowerBound bool   `json:"rate_lower_bound"`
	Shape          string `json:"shape"`
	// HalfClosesWithinSeconds is how little of the window held half of
	// the closes (the shape rests on it).
	HalfClosesWithinSeconds float64 `json:"half_closes_within_seconds"`
	PortsHeld               uint64  `json:"ports_held,omitempty"`
	PortsUsable             int     `json:"ports_usable,omitempty"`
	// SecondsToExhaustion is set when the flow's TIME_WAIT count is
	// rising: the time until it holds every usable port at that pace.
	SecondsToExhaustion *float64 `json:"seconds_to_exhaustion,omitempty"`
	LiveSockets         int      `json:"live_sockets"`
	Owners              []Owner  `json:"owners"`
	// OwnerUnknownReason says why Owners is empty (or incomplete).
	OwnerUnknownReason string `json:"owner_unknown_reason,omitempty"`
}

// Owner is a process holding live sockets of a flow.
type Owner struct {
	PID          int    `json:"pid"`
	Comm         string `json:"comm"`
	Cmdline      string `json:"cmdline"`
	LiveSockets  int    `json:"live_sockets"`
	Container    string `json:"container,omitempty"`
	PodNamespace string `json:"pod_namespace,omitempty"`
	PodName      string `json:"pod_name,omitempty"`
	PodUID       string `json:"pod_uid,omitempty"`
}

// Reasons an owner is unknown.
const (
	unknownNoLive   = "no live socket: its client connects and closes at once"
	unknownPtrace   = "needs CAP_SYS_PTRACE"
	unknownNotRead  = "owner lookup not run"
	unknownNotFound = "no process in this namespace holds its live sockets"
)

// flowReports are the flows the owners finding reports in one scope.
func flowReports(e *env) []FlowReport {
	var out []FlowReport
	dests, ports := scan.ReportedFlows(e.st)
	for _, d := range dests {
		socks := e.snap.Flows.Flow(churn.Flow{Src: d.Source, Dst: d.Addr})
		r := newFlowReport(e, socks, reuseHides(e, d))
		r.Destination, r.Source = d.Addr.String(), d.Source.String()
		r.PortsHeld, r.PortsUsable = d.Held, e.st.Capacity()
		if s, ok := r.estimate.SecondsToExhaustion(d.Held, uint64(r.PortsUsable)); ok {
			s = math.Round(s)
			r.SecondsToExhaustion = &s
		}
		out = append(out, r.FlowReport)
	}
	for _, lp := range ports {
		r := newFlowReport(e, e.snap.Flows.Port(lp.Port), overflowed(e))
		r.ListeningPort = lp.Port
		out = append(out, r.FlowReport)
	}
	return out
}

type flowReport struct {
	FlowReport
	estimate churn.Estimate
}

// newFlowReport estimates the churn of socks and names their holders.
func newFlowReport(e *env, socks *churn.Sockets, lowerBound bool) flowReport {
	est := churn.Estimated(socks.Ages())
	r := flowReport{estimate: est, FlowReport: FlowReport{
		TimeWait:                est.Closes,
		ClosesPerSecond:         round(est.PerSecond, 2),
		WindowSeconds:           round(est.Window.Seconds(), 1),
		RateLowerBound:          lowerBound && est.Closes > 0,
		Shape:                   string(est.Shape),
		HalfClosesWithinSeconds: round(est.HalfWithin.Seconds(), 1),
		Owners:                  []Owner{},
	}}
	held := 0
	if socks != nil {
		r.LiveSockets = len(socks.Inodes)
		r.Owners, held = holders(e.snap.Owners, socks.Inodes)
	}
	r.OwnerUnknownReason = unknownReason(e.snap.Owners, r.LiveSockets, held)
	return r
}

// holders are the processes of res holding any of inodes, most sockets
// first, and how many of inodes have a holder: a socket shared by two
// processes (inherited across fork) is one of each's, and one socket held.
func holders(res *owners.Result, inodes []uint32) ([]Owner, int) {
	if res == nil || len(inodes) == 0 {
		return []Owner{}, 0
	}
	flow := make(map[uint32]bool, len(inodes))
	for _, ino := range inodes {
		flow[ino] = true
	}
	out := []Owner{}
	held := map[uint32]bool{}
	for _, p := range res.Procs {
		n := 0
		for _, ino := range p.Sockets {
			if flow[ino] {
				n++
				held[ino] = true
			}
		}
		if n > 0 {
			out = append(out, Owner{PID: p.PID, Comm: p.Comm, Cmdline: p.Cmdline, LiveSockets: n,
				Container: p.Container, PodNamespace: p.PodNamespace, PodName: p.PodName, PodUID: p.PodUID})
		}
	}
	slices.SortStableFunc(out, func(a, b Owner) int { return b.LiveSockets - a.LiveSockets })
	return out, len(held)
}

// unknownReason says why no owner (or not every one) was found, of the
// live sockets of which held have one; "" when every one has.
func unknownReason(res *owners.Result, live, held int) string {
	switch {
	case live == 0:
		return unknownNoLive
	case held >= live:
		return ""
	case res == nil:
		return unknownNotRead
	case res.Denied > 0:
		return unknownPtrace
	case res.Stopped != "":
		return "owner lookup stopped early: " + res.Stopped
	case held == 0:
		return unknownNotFound
	}
	return ""
}

// reuseHides reports whether connect() may have taken over TIME_WAIT
// sockets of d before their 60 s (tcp_tw_reuse applies to it and the
// namespace counted reuses), or tcp_max_tw_buckets dropped some.
func reuseHides(e *env, d model.Destination) bool {
	mode, ts, ok := e.reuse()
	applies := ok && ts != 0 && (mode == 1 || mode == 2 && isLoopback(d))
	recycled := e.snap.Netstat.Value("netstat", "TcpExt", "TWRecycled")
	return applies && recycled.Value > 0 || overflowed(e)
}

// overflowed reports whether TIME_WAIT sockets were dropped at
// tcp_max_tw_buckets since the namespace started.
func overflowed(e *env) bool {
	return e.snap.Netstat.TimeWaitOverflows().Value > 0
}

func round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}
