// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// skipDump says, with netns.dump: busy, whether the dump of a foreign
// namespace was skipped: an idle one's is (package scan decides), and it
// reports the bound of its max ratio instead. It sends the indicator. The
// own namespace is always dumped.
func (c *socketsCollector) skipDump(rd *scan.Reading, ch chan<- prometheus.Metric) bool {
	foreign := rd.Full || rd.Idle // decided only in a foreign namespace
	if !foreign || !c.opts.export().DumpBusy {
		return false
	}
	v := 0.0
	if rd.Idle {
		v = 1
		ch <- c.maxUtil.metric(rd.Labels, rd.Dump.MaxRatio)
	}
	ch <- c.dumpSkipped.metric(rd.Labels, v)
	return rd.Idle
}
