// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

func init() {
	registerCollector("netstat", true, newNetstatCollector)
}

// netstatCollector exports the table's netstat rows, each a field of
// /proc/net/netstat or /proc/net/snmp named by its source:
// "netstat TcpExt TW" or "snmp Tcp ActiveOpens".
type netstatCollector struct {
	descs []typedDesc
}

func newNetstatCollector(o Options) (Collector, error) {
	c := &netstatCollector{}
	for _, row := range rowsOf("netstat") {
		if len(row.sourceFields(kread.NetstatFiles...)) != 3 {
			return nil, fmt.Errorf("%s: source %q is not \"<file> <group> <field>\"", row.Name, row.Source)
		}
		c.descs = append(c.descs, row.desc(o))
	}
	return c, nil
}

func (c *netstatCollector) Update(s *kread.Scope, ch chan<- prometheus.Metric) error {
	counters, err := kread.ReadNetstat(s)
	missing := map[string][]string{}
	for _, d := range c.descs {
		f := d.row.sourceFields(kread.NetstatFiles...)
		v := counters.Value(f[0], f[1], f[2])
		switch {
		case v.OK:
			ch <- d.metric(s, v.Value*d.row.scale())
		case counters[f[0]] != nil && !d.row.Optional: // an unreadable file has said so in err
			missing[f[0]] = append(missing[f[0]], f[1]+" "+f[2])
		}
	}
	errs := []error{err}
	for _, file := range kread.NetstatFiles {
		errs = append(errs, kread.ErrMissing(s.NetFile(file), missing[file]))
	}
	return errors.Join(errs...)
}
