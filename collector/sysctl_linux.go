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
var portValues = map[string]func(*kread.Sysctls) float64{
	"timewait_sysctl_ip_local_port_range_start": func(s *kread.Sysctls) float64 { return float64(s.PortRange.Start) },
	"timewait_sysctl_ip_local_port_range_end":   func(s *kread.Sysctls) float64 { return float64(s.PortRange.End) },
	"timewait_ephemeral_ports_usable":           func(s *kread.Sysctls) float64 { return float64(s.EphemeralPorts().Len()) },
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
	sys, s := rd.Sysctls, rd.Scope
	if sys == nil {
		return nil
	}
	var errs []error
	for _, d := range c.descs {
		if port := portValues[d.row.Name]; port != nil {
			if sys.Has(kread.KeyPortRange) {
				ch <- d.metric(s, port(sys))
			}
			continue
		}
		v, err := sysctlInt(rd, d.row)
		if v.OK {
			ch <- d.metric(s, float64(v.Value)*d.row.scale())
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sysctlInt is the integer sysctl of a "sysctl <key>" row: from the set
// when it holds the key (whose read error is the reading's already), else
// as read on its own. A required sysctl the kernel lacks is an error.
func sysctlInt(rd *scan.Reading, row *Metric) (kread.Optional[int64], error) {
	key := row.sourceFields("sysctl")[1]
	sys := rd.Sysctls
	v, err := sys.Int(key), error(nil)
	switch {
	case !sys.Holds(key):
		v, err = rd.Ints[key].Value, rd.Ints[key].Err
	case !sys.Has(key):
		return v, nil
	}
	if err == nil && !v.OK && !row.Optional {
		err = fmt.Errorf("sysctl %s: missing, and %s does not declare it optional", key, row.Name)
	}
	return v, err
}
