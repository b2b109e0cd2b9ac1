// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// ruleBuckets: at tcp_max_tw_buckets (per namespace) the kernel closes new
// sockets without TIME_WAIT and counts TcpExt TCPTimeWaitOverflow.
//
// One snapshot sees that counter's total since the namespace was created
// (boot, for the host), not its rate: the finding says so and points at
// the rate in Prometheus rather than stalling /doctor for a second reading.
func ruleBuckets(e *env) []Finding {
	buckets := e.integer(kread.KeyMaxTwBuckets)
	count := e.snap.Sockstat.TimeWaitCount()
	if !buckets.OK || !count.OK || buckets.Value <= 0 {
		return nil
	}
	limit := buckets.Value
	tw := int64(count.Value)
	ratio := float64(tw) / float64(limit)
	overflows := e.snap.Netstat.TimeWaitOverflows().Value // 0 when unread
	near := ratio > config.BucketsWarningRatio            // the alert's ">"
	if overflows == 0 && !near {
		return nil
	}
	var sev Severity
	var title string
	switch {
	case overflows > 0 && near:
		sev = Critical
		title = fmt.Sprintf("TIME_WAIT is at %s of tcp_max_tw_buckets, and the limit has cost %.0f connections their TIME_WAIT since the namespace started", pct(ratio), overflows)
	case overflows > 0:
		sev = Warning
		title = fmt.Sprintf("tcp_max_tw_buckets overflowed %.0f times since the namespace started (now %s full)", overflows, pct(ratio))
	default:
		sev = Warning
		title = fmt.Sprintf("TIME_WAIT is at %s of tcp_max_tw_buckets", pct(ratio))
	}
	obs := []string{
		fmt.Sprintf("timewait sockets (/proc/net/sockstat tw, TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets): %d of net.ipv4.tcp_max_tw_buckets=%d", tw, limit),
		fmt.Sprintf("TcpExt TCPTimeWaitOverflow: %.0f since the namespace started (boot, for the host). One reading cannot tell whether it still rises: read it twice with nstat, or see rate(timewait_tcpext_tcp_time_wait_overflow_total[5m]) in Prometheus.", overflows),
	}
	if e.st != nil {
		if fw2 := tw - int64(e.st.TimeWaitSockets()); fw2 > 0 && fw2*10 > tw {
			obs = append(obs, fmt.Sprintf("%d of them are orphaned FIN_WAIT2 mini-sockets (closed here, the peer never sent its FIN), not TIME_WAIT", fw2))
		}
	}
	newLimit := max(2*limit, 2*tw, kernelDefaultBuckets(e))
	return []Finding{{
		Severity: sev,
		Title:    title,
		Subjects: []string{kread.KeyMaxTwBuckets},
		Observed: obs,
		Why:      "net.ipv4.tcp_max_tw_buckets caps the timewait sockets of one network namespace. At the limit the kernel closes new sockets without TIME_WAIT and counts each in TcpExt TCPTimeWaitOverflow (which also counts, rarely, a socket that found no memory for its mini-socket: inet_twsk_alloc); those connections lose TIME_WAIT's protection, so a delayed segment of an old connection can be taken for part of a new one on the same 4-tuple. Kernel 6.x no longer logs \"time wait bucket table overflow\": the counter is the only sign. A TIME_WAIT mini-socket costs about 256 bytes, and it also sits in the established hash table, whose chains every socket lookup walks (__inet_lookup_established): the default limit is half of net.ipv4.tcp_ehash_entries, and far above that longer chains cost CPU, not only memory.",
		Fix: []Step{
			{
				Text:     fmt.Sprintf("Raise net.ipv4.tcp_max_tw_buckets in this namespace, e.g. to %d (about %s at %d bytes per socket). Never lower it: that only drops TIME_WAIT protection sooner. If it must go to several times tcp_ehash_entries, enlarge the hash instead (thash_entries= on the kernel command line; net.ipv4.tcp_child_ehash_entries for namespaces created afterwards). %s", newLimit, mib(uint64(newLimit)*twSocketBytes), twSocketBytes, persist),
				Commands: []string{fmt.Sprintf("sysctl -w net.ipv4.tcp_max_tw_buckets=%d", newLimit), "nstat -az TcpExtTCPTimeWaitOverflow TcpExtTW"},
			},
			{Text: "Lower the rate of actively closed connections: reuse connections (keep-alive, connection pools) for outbound traffic; for server-side TIME_WAIT let clients close first. The TIME_WAIT count is about closes per second × 60: reuse, an RST (tcp_rfc1337=0) or an accepted SYN can end a TIME_WAIT socket early (tcp_timewait_state_process), and a segment with ACK arriving in TIME_WAIT (a retransmitted FIN, say) restarts its 60 s (inet_twsk_reschedule)."},
		},
	}}
}

// kernelDefaultBuckets is the kernel's default tcp_max_tw_buckets: half the
// established hash size (tcp_ehash_entries, negative in a namespace that
// shares the initial namespace's table). 0 when unknown.
func kernelDefaultBuckets(e *env) int64 {
	opt := e.integer(kread.KeyEhashEntries)
	if !opt.OK {
		return 0
	}
	ehash := opt.Value
	if ehash < 0 {
		ehash = -ehash
	}
	return ehash / 2
}
