// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// ruleReuse: tcp_tw_reuse (0 off, 1 on, 2 loopback only) lets outgoing
// connect() reuse TIME_WAIT 4-tuples, only when timestamps were
// negotiated. It is suggested when destinations are at least half way to
// the warning threshold.
func ruleReuse(e *env) []Finding {
	mode, ts, ok := e.reuse()
	if !ok {
		return nil
	}
	var top, remote, loop *model.Destination
	for i := range e.dests {
		d := &e.dests[i]
		if top == nil {
			top = d
		}
		if isLoopback(*d) {
			if loop == nil {
				loop = d
			}
		} else if remote == nil {
			remote = d
		}
	}
	util := func(d *model.Destination) float64 {
		if d == nil {
			return 0
		}
		return d.Utilization
	}
	sevFor := func(u float64) Severity {
		if u >= e.warn() {
			return Warning
		}
		return Info
	}
	half := e.warn() / 2
	setReuse := Step{
		Text:     "Set net.ipv4.tcp_tw_reuse=1. " + reuseGain(e) + " Leave tcp_tw_reuse_delay (Linux 6.14+) at its default: below a peer's timestamp clock tick it defeats PAWS protection. Afterwards TcpExt TWRecycled should rise. " + persist,
		Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse=1", "nstat -az TcpExtTWRecycled"},
	}
	reuseFirst := Step{Text: "Reuse connections first (keep-alive, connection pools): that removes TIME_WAIT sockets at the source; tcp_tw_reuse only lets new connections step over old ones."}
	const reuseWhy = "net.ipv4.tcp_tw_reuse is 0 (off), 1 (on) or 2 (loopback only, the default). With 1 an outgoing connect() may take over the 4-tuple of a TIME_WAIT socket older than tcp_tw_reuse_delay (1 s by default) when TCP timestamps were negotiated on that connection; each reuse counts in TcpExt TWRecycled. It affects outgoing connections only, never a listener, and only the ports connect() picks itself: a program that bind()s an explicit port first (which needs SO_REUSEADDR, or SO_REUSEPORT, on both it and the TIME_WAIT socket: inet_bind_conflict) may take over a TIME_WAIT 4-tuple whatever tcp_tw_reuse says, still only with TCP timestamps (tcp_twsk_unique)."

	if ts == 0 {
		if mode == 0 && util(top) < half {
			return nil
		}
		f := Finding{
			Severity: sevFor(util(top)),
			Title:    fmt.Sprintf("tcp_timestamps=0: tcp_tw_reuse=%d cannot reuse any TIME_WAIT socket", mode),
			Subjects: []string{kread.KeyTimestamps, kread.KeyTwReuse},
			Observed: []string{reuseObserved(e)},
			Why:      "tcp_tw_reuse lets an outgoing connect() reuse a TIME_WAIT socket's 4-tuple only when TCP timestamps were negotiated on that connection (tcp_timestamps on both ends). With net.ipv4.tcp_timestamps=0 this host negotiates them on no connection, so no TIME_WAIT socket is ever reused, whatever tcp_tw_reuse says.",
			Fix:      []Step{{Text: "Turn TCP timestamps back on (1 is the default). " + persist, Commands: []string{"sysctl -w net.ipv4.tcp_timestamps=1"}}},
		}
		if top != nil {
			f.Observed = append(f.Observed, fmt.Sprintf("busiest destination: %s at %s of its ports", destLabel(*top), pct(top.Utilization)))
		}
		return []Finding{f}
	}
	switch {
	case (mode == 0 || mode == 2) && util(remote) >= half:
		return []Finding{{
			Severity: sevFor(remote.Utilization),
			Title:    fmt.Sprintf("tcp_tw_reuse=%d: connections to %s cannot reuse TIME_WAIT (%s of its ports held)", mode, destLabel(*remote), pct(remote.Utilization)),
			Subjects: []string{kread.KeyTwReuse, remote.Addr.String()},
			Observed: []string{reuseObserved(e), fmt.Sprintf("busiest non-loopback destination: %s, %d of the %d ports connect() can use held from %s", destLabel(*remote), remote.Held, e.st.Capacity(), remote.Source)},
			Why:      reuseWhy + fmt.Sprintf(" At %d, connect() never takes over a TIME_WAIT socket's 4-tuple towards a non-loopback destination, so towards this destination each TIME_WAIT socket keeps its port for the full 60 s.", mode),
			Fix:      []Step{reuseFirst, setReuse},
		}}
	case mode == 0 && util(loop) >= half:
		return []Finding{{
			Severity: sevFor(loop.Utilization),
			Title:    fmt.Sprintf("tcp_tw_reuse=0: even loopback connections to %s cannot reuse TIME_WAIT (%s of its ports held)", destLabel(*loop), pct(loop.Utilization)),
			Subjects: []string{kread.KeyTwReuse, loop.Addr.String()},
			Observed: []string{reuseObserved(e), fmt.Sprintf("busiest loopback destination: %s, %d of the %d ports connect() can use held", destLabel(*loop), loop.Held, e.st.Capacity())},
			Why:      reuseWhy + " At 0 connect() takes over no TIME_WAIT socket's 4-tuple, not even on loopback, which the default 2 would cover.",
			Fix: []Step{reuseFirst, {
				Text:     "Set net.ipv4.tcp_tw_reuse=1 (outgoing connections to every destination), or back to the default 2 (loopback only). Leave tcp_tw_reuse_delay at its default. " + persist,
				Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse=1"},
			}},
		}}
	}
	return nil
}
