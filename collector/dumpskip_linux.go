// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// skipDump decides, with netns.dump: busy, whether the dump of a foreign
// namespace is skipped: an idle one's is (see nsDetail.decide), and it
// reports the bound of its max ratio instead. It sends the indicator. The
// own namespace is always dumped.
func (c *socketsCollector) skipDump(s *kread.Scope, ch chan<- prometheus.Metric) bool {
	d := detailOf(s)
	if d == nil || !c.opts.export().DumpBusy {
		return false
	}
	full, dump := d.decide(s)
	v := 0.0
	if !full {
		v = 1
		s.CountSkip()
		ch <- c.maxUtil.metric(s, dump.MaxRatio)
	}
	ch <- c.dumpSkipped.metric(s, v)
	return !full
}
