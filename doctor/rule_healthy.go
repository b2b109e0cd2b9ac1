// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// healthy says so plainly, with the key numbers, when no rule found anything
// to act on in a scope.
func healthy(e *env) []Finding {
	var obs, summary []string
	if count := e.snap.Sockstat.TimeWaitCount(); count.OK {
		tw := count.Value
		line := fmt.Sprintf("timewait sockets (/proc/net/sockstat tw): %d", tw)
		short := fmt.Sprintf("TIME_WAIT %d", tw)
		if limit := e.integer(kread.KeyMaxTwBuckets); limit.OK && limit.Value > 0 {
			line += fmt.Sprintf(" of tcp_max_tw_buckets=%d (%s)", limit.Value, pct(float64(tw)/float64(limit.Value)))
			short += fmt.Sprintf(" of %d buckets (%s)", limit.Value, pct(float64(tw)/float64(limit.Value)))
		}
		obs = append(obs, line)
		summary = append(summary, short)
	}
	if e.st != nil {
		tw := e.st.TimeWait
		obs = append(obs, fmt.Sprintf("TIME_WAIT by direction: outbound %d, inbound %d, other %d", tw.Outbound, tw.Inbound, tw.Other))
	}
	if e.pressure {
		if len(e.dests) > 0 {
			d := e.dests[0]
			obs = append(obs, fmt.Sprintf("busiest destination: %s, %d of the %d ports connect() can use held (%s; warning at %s)", destLabel(d), d.Held, e.st.Capacity(), pct(d.Utilization), pct(e.warn())))
			summary = append(summary, fmt.Sprintf("busiest destination %s at %s of %d ports", destLabel(d), pct(d.Utilization), e.st.Capacity()))
		} else {
			obs = append(obs, fmt.Sprintf("no outbound connections; connect() can use %d ports per destination", e.st.Capacity()))
		}
	}
	if v := e.snap.Netstat.TimeWaitOverflows(); v.OK {
		obs = append(obs, fmt.Sprintf("TcpExt TCPTimeWaitOverflow since the namespace started: %.0f", v.Value))
		summary = append(summary, fmt.Sprintf("%.0f overflows", v.Value))
	}
	if _, _, ok := e.reuse(); ok {
		obs = append(obs, reuseObserved(e))
	}
	return []Finding{{
		Rule:     "healthy",
		Severity: OK,
		Title:    "No TIME_WAIT problem: no destination is short of ports and TIME_WAIT is not past the warning level of its limit",
		Observed: obs,
		Why:      "TIME_WAIT is normal: the side that closes first keeps each connection's 4-tuple for 60 s so late segments cannot corrupt a new connection. It only hurts when it uses up the ephemeral ports (towards one destination, or the whole pool when programs bind() before connect()) or fills tcp_max_tw_buckets; the doctor sees neither here.",
		Summary:  strings.Join(summary, "; "),
	}}
}
