// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
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
			"TIME_WAIT and orphaned FIN_WAIT2 mini-sockets of this namespace, both families (/proc/net/sockstat tw).",
			prometheus.GaugeValue),
		inuse: newDesc(o, "sockstat", "tcp_inuse_sockets",
			"TCP sockets in use in this namespace, TIME_WAIT not counted (/proc/net/sockstat inuse).",
			prometheus.GaugeValue, "family"),
		orphan: newDesc(o, "sockstat", "tcp_orphan_sockets",
			"TCP sockets no longer attached to a process, host-wide (/proc/net/sockstat orphan).",
			prometheus.GaugeValue),
		alloc: newDesc(o, "sockstat", "tcp_alloc_sockets",
			"TCP sockets allocated, host-wide (/proc/net/sockstat alloc).",
			prometheus.GaugeValue),
		mem: newDesc(o, "sockstat", "tcp_mem_bytes",
			"Memory of TCP socket buffers, host-wide (/proc/net/sockstat mem times the page size).",
			prometheus.GaugeValue),
	}, nil
}

// Update exports every field the files hold and fails naming the missing
// ones (see kread.ErrMissing).
//
// The host-wide fields (see kread.Sockstat) are exported only in the exporter's
// own namespace (see kread.Scope.Own): every namespace's sockstat shows the
// same values, so exported per namespace they would appear once per
// namespace and sum() over the netns label would multiply them. Without
// --netns.discover the own namespace is the only one, so nothing changes
// there, and the own namespace is always visited, so they never vanish.
func (c *sockstatCollector) Update(s *kread.Scope, ch chan<- prometheus.Metric) error {
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

func emitOptional(ch chan<- prometheus.Metric, s *kread.Scope, d typedDesc, v kread.Optional[int], scale float64, labels ...string) {
	if v.OK {
		ch <- d.metric(s, float64(v.Value)*scale, labels...)
	}
}
