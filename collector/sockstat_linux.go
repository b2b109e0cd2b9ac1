// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
)

func init() {
	registerCollector("sockstat", true, newSockstatCollector)
}

type sockstatCollector struct {
	tw, inuse, orphan, alloc, mem typedDesc
}

func newSockstatCollector(o Options) (Collector, error) {
	return &sockstatCollector{
		tw: newDesc(o, "sockstat", "tw_sockets",
			"The kernel's own count of TIME_WAIT sockets in this network namespace (/proc/net/sockstat TCP tw), both families, including FIN_WAIT2 mini-sockets of orphaned connections. Compare with timewait_sysctl_tcp_max_tw_buckets.",
			prometheus.GaugeValue),
		inuse: newDesc(o, "sockstat", "tcp_inuse_sockets",
			"TCP sockets in use in this network namespace, not counting TIME_WAIT (/proc/net/sockstat TCP inuse, sockstat6 TCP6 inuse).",
			prometheus.GaugeValue, "family"),
		orphan: newDesc(o, "sockstat", "tcp_orphan_sockets",
			"TCP sockets no longer attached to a process, host-wide (/proc/net/sockstat TCP orphan). With --netns.discover it is exported once, under the exporter's own namespace.",
			prometheus.GaugeValue),
		alloc: newDesc(o, "sockstat", "tcp_alloc_sockets",
			"TCP sockets allocated, host-wide for all namespaces (/proc/net/sockstat TCP alloc). With --netns.discover it is exported once, under the exporter's own namespace.",
			prometheus.GaugeValue),
		mem: newDesc(o, "sockstat", "tcp_mem_bytes",
			"Memory TCP socket buffers use, host-wide for all namespaces (/proc/net/sockstat TCP mem, pages times the page size). With --netns.discover it is exported once, under the exporter's own namespace.",
			prometheus.GaugeValue),
	}, nil
}

// Update exports every field the files hold and fails naming the missing
// ones (see kernel.ErrMissing).
//
// The host-wide fields (see kernel.Sockstat) are exported only in the exporter's
// own namespace (see kernel.Scope.Own): every namespace's sockstat shows the
// same values, so exported per namespace they would appear once per
// namespace and sum() over the netns label would multiply them. Without
// --netns.discover the own namespace is the only one, so nothing changes
// there, and the own namespace is always visited, so they never vanish.
func (c *sockstatCollector) Update(s *kernel.Scope, ch chan<- prometheus.Metric) error {
	st, err := s.Sockstat()
	emitOptional(ch, s, c.tw, st.TimeWait, 1)
	emitOptional(ch, s, c.inuse, st.InUse, 1, "ipv4")
	emitOptional(ch, s, c.inuse, st.InUse6, 1, "ipv6")
	if s.Own() {
		emitOptional(ch, s, c.orphan, st.Orphan, 1)
		emitOptional(ch, s, c.alloc, st.Alloc, 1)
		emitOptional(ch, s, c.mem, st.MemPages, float64(os.Getpagesize()))
	}
	return err
}

func emitOptional(ch chan<- prometheus.Metric, s *kernel.Scope, d typedDesc, v *int, scale float64, labels ...string) {
	if v != nil {
		ch <- d.metric(s, float64(*v)*scale, labels...)
	}
}
