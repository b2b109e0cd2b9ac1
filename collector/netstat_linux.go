// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

func init() {
	registerCollector("netstat", true, newNetstatCollector)
}

// netstatCollector exports the table's netstat rows, each a field of
// /proc/net/netstat or /proc/net/snmp named by its source:
// "netstat TcpExt TW" or "snmp Tcp ActiveOpens".
type netstatCollector struct {
	descs  []typedDesc
	fields [][3]string // each desc's file, group and field
}

func newNetstatCollector(o Options) (Collector, error) {
	c := &netstatCollector{}
	for _, row := range rowsOf("netstat") {
		f := row.sourceFields(kread.NetstatFiles...)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: source %q is not \"<file> <group> <field>\"", row.Name, row.Source)
		}
		c.descs = append(c.descs, row.desc(o))
		c.fields = append(c.fields, [3]string(f))
	}
	return c, nil
}

// request makes the netstat source fail naming the fields of the rows not
// declared optional that a file lacks (a file that lacks fields still
// gives every one it holds; see kread.ErrMissing).
func (c *netstatCollector) request(req *scan.Request) {
	for i, d := range c.descs {
		if !d.row.Optional {
			req.NetstatRequired = append(req.NetstatRequired, c.fields[i])
		}
	}
}

func (c *netstatCollector) Update(rd *scan.Reading, ch chan<- prometheus.Metric) error {
	for i, d := range c.descs {
		f := c.fields[i]
		if v, ok := rd.Netstat[f[0]][f[1]][f[2]]; ok {
			ch <- d.metric(rd.Labels, v*d.row.scale())
		}
	}
	return nil
}
