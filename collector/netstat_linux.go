// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
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

func (c *netstatCollector) Update(rd *scan.Reading, ch chan<- prometheus.Metric) error {
	counters, s := rd.Netstat, rd.Scope
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
	var errs []error
	for _, file := range kread.NetstatFiles {
		if missing[file] != nil { // a file read, so rd.Read is set
			errs = append(errs, kread.ErrMissing(rd.Read.NetFile(file), missing[file]))
		}
	}
	return errors.Join(errs...)
}
