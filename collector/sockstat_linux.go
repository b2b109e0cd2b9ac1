// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

func init() {
	registerCollector("sockstat", true, newSockstatCollector)
}

type sockstatCollector struct {
	tw, inuse, orphan, alloc, mem typedDesc
}

func newSockstatCollector(o Options) (Collector, error) {
	return &sockstatCollector{
		tw:     Lookup("timewait_sockstat_tw_sockets").desc(o),
		inuse:  Lookup("timewait_sockstat_tcp_inuse_sockets").desc(o),
		orphan: Lookup("timewait_sockstat_tcp_orphan_sockets").desc(o),
		alloc:  Lookup("timewait_sockstat_tcp_alloc_sockets").desc(o),
		mem:    Lookup("timewait_sockstat_tcp_mem_bytes").desc(o),
	}, nil
}

// Update exports every field the files hold and fails naming the missing
// ones (see kread.ErrMissing).
//
// The host-wide fields (see kread.Sockstat) are of Detail Own: every
// namespace's sockstat shows the same values, so exported per namespace
// they would appear once per namespace and sum() over the netns label
// would multiply them. The detail filter drops them in foreign namespaces;
// the own namespace is always visited, so they never vanish.
func (c *sockstatCollector) Update(rd *scan.Reading, ch chan<- prometheus.Metric) error {
	st, s := rd.Sockstat, rd.Labels
	if st == nil {
		return nil
	}
	emitOptional(ch, s, c.tw, st.TimeWait, 1)
	emitOptional(ch, s, c.inuse, st.InUse, 1, "ipv4")
	emitOptional(ch, s, c.inuse, st.InUse6, 1, "ipv6")
	emitOptional(ch, s, c.orphan, st.Orphan, 1)
	emitOptional(ch, s, c.alloc, st.Alloc, 1)
	emitOptional(ch, s, c.mem, st.MemPages, float64(os.Getpagesize()))
	return nil
}

func emitOptional(ch chan<- prometheus.Metric, s []string, d typedDesc, v kread.Optional[int], scale float64, labels ...string) {
	if v.OK {
		ch <- d.metric(s, float64(v.Value)*scale, labels...)
	}
}
