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
	registerCollector("sysctl", true, newSysctlCollector)
}

// portValues are the sysctl rows derived from the ephemeral port range
// rather than read as one integer.
var portValues = map[string]func(scan.Ports) float64{
	"timewait_sysctl_ip_local_port_range_start": func(p scan.Ports) float64 { return float64(p.Start) },
	"timewait_sysctl_ip_local_port_range_end":   func(p scan.Ports) float64 { return float64(p.End) },
	"timewait_ephemeral_ports_usable":           func(p scan.Ports) float64 { return float64(p.Usable) },
}

// sysctlCollector exports the table's sysctl rows: a "sysctl <key>" row as
// the integer it reads, the port rows from the port range.
type sysctlCollector struct {
	descs []typedDesc
}

func newSysctlCollector(o Options) (Collector, error) {
	c := &sysctlCollector{}
	for _, row := range rowsOf("sysctl") {
		if row.sourceFields("sysctl") == nil && portValues[row.Name] == nil {
			return nil, fmt.Errorf("%s: source %q is neither \"sysctl <key>\" nor a port value", row.Name, row.Source)
		}
		c.descs = append(c.descs, row.desc(o))
	}
	return c, nil
}

// request makes the sysctl source read the integer sysctls of c's rows.
func (c *sysctlCollector) request(req *scan.Request) {
	for _, d := range c.descs {
		if f := d.row.sourceFields("sysctl"); f != nil {
			req.SysctlInts = append(req.SysctlInts, f[1])
		}
	}
}

func (c *sysctlCollector) Update(rd *scan.Reading, ch chan<- prometheus.Metric) error {
	if rd.Sysctls == nil {
		return nil
	}
	var errs []error
	for _, d := range c.descs {
		if port := portValues[d.row.Name]; port != nil {
			if rd.Ports.OK {
				ch <- d.metric(rd.Labels, port(rd.Ports.Value))
			}
			continue
		}
		v, err := sysctlInt(rd, d.row)
		if v.OK {
			ch <- d.metric(rd.Labels, float64(v.Value)*d.row.scale())
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sysctlInt is the integer sysctl of a "sysctl <key>" row, read in the set
// or on its own: one the set could not read has its error in the
// reading's; a required sysctl the kernel lacks is an error.
func sysctlInt(rd *scan.Reading, row *Metric) (kread.Optional[int64], error) {
	key := row.sourceFields("sysctl")[1]
	v := rd.Ints[key]
	if v.Failed || v.Err != nil || v.Value.OK || row.Optional {
		return v.Value, v.Err
	}
	return v.Value, fmt.Errorf("sysctl %s: missing, and %s does not declare it optional", key, row.Name)
}
