// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// dumpSkippedDesc is the per-namespace indicator of netns.dump: busy.
func dumpSkippedDesc(o Options) typedDesc {
	return newDesc(o, "netns", "dump_skipped",
		"1 if this namespace's socket table was not dumped this scrape, its counts being below the warning (netns.dump: busy).",
		prometheus.GaugeValue)
}

// skipDump decides, with netns.dump: busy, whether the dump of a foreign
// namespace can be skipped (kread.DecideDump), and sends the indicator
// and, for a skipped one, the bound of its max ratio. The exporter's own
// namespace is always dumped, and so is every namespace with
// --collector.sockets.bound-inactive (the bound does not cover those ports)
// or when the counts cannot be read.
func (c *socketsCollector) skipDump(s *kread.Scope, ch chan<- prometheus.Metric) bool {
	if !c.opts.DiscoverNetns || s.Own() || c.opts.BoundInactive {
		return false
	}
	cfg := c.opts.export()
	if !cfg.DumpBusy {
		return false
	}
	d, err := s.DecideDump(cfg.UtilizationWarning)
	skip := err == nil && d.Skip
	if err != nil {
		c.opts.Logger.Debug("cannot decide from sockstat whether the dump can be skipped; dumping", "netns", s.LabelValues, "err", err)
	}
	v := 0.0
	if skip {
		v = 1
		s.CountSkip()
		ch <- c.maxUtil.metric(s, d.MaxRatio)
	}
	ch <- c.dumpSkipped.metric(s, v)
	return skip
}
