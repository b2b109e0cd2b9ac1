// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

func init() {
	registerCollector("sysctl", true, newSysctlCollector)
}

// sysctlGauge is one integer sysctl exported as it is, times scale.
type sysctlGauge struct {
	key    string
	metric string
	help   string
	scale  float64
}

// sysctlGauges are the sysctls that govern TIME_WAIT. Their help texts are
// what an on-call engineer reads; they must be true on current kernels.
var sysctlGauges = []sysctlGauge{
	{key: kread.KeyTwReuse, metric: "tcp_tw_reuse", scale: 1,
		help: "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (default), for outgoing connect() with TCP timestamps."},
	{key: kread.KeyTwReuseDelay, metric: "tcp_tw_reuse_delay_seconds", scale: 0.001,
		help: "net.ipv4.tcp_tw_reuse_delay: minimum age of a TIME_WAIT socket before connect() may reuse it (Linux 6.14+)."},
	{key: kread.KeyFinTimeout, metric: "tcp_fin_timeout_seconds", scale: 1,
		help: "net.ipv4.tcp_fin_timeout: how long an orphaned socket waits in FIN_WAIT2, not the fixed 60 s of TIME_WAIT."},
	{key: kread.KeyMaxTwBuckets, metric: "tcp_max_tw_buckets", scale: 1,
		help: "net.ipv4.tcp_max_tw_buckets: most timewait sockets of this namespace; beyond it sockets close without TIME_WAIT."},
	{key: kread.KeyTimestamps, metric: "tcp_timestamps", scale: 1,
		help: "net.ipv4.tcp_timestamps: 0 off, 1 on with per-connection offsets, 2 on without offsets."},
	{key: kread.KeyRFC1337, metric: "tcp_rfc1337", scale: 1,
		help: "net.ipv4.tcp_rfc1337: 1 keeps TIME_WAIT its full 60 s when an RST arrives, 0 lets the RST end it."},
	{key: kread.KeyMaxOrphans, metric: "tcp_max_orphans", scale: 1,
		help: "net.ipv4.tcp_max_orphans: most orphaned TCP sockets, host-wide (visible in the initial namespace only)."},
	{key: kread.KeyTwRecycle, metric: "tcp_tw_recycle", scale: 1,
		help: "net.ipv4.tcp_tw_recycle, removed in Linux 4.12 because it breaks clients behind NAT; should be 0."},
}

type sysctlCollector struct {
	gauges      []typedDesc
	rangeStart  typedDesc
	rangeEnd    typedDesc
	usablePorts typedDesc
}

func newSysctlCollector(o Options) (Collector, error) {
	c := &sysctlCollector{
		rangeStart: newDesc(o, "sysctl", "ip_local_port_range_start",
			"First port of net.ipv4.ip_local_port_range, the range connect() picks source ports from.", prometheus.GaugeValue),
		rangeEnd: newDesc(o, "sysctl", "ip_local_port_range_end",
			"Last port of net.ipv4.ip_local_port_range, the range connect() picks source ports from.", prometheus.GaugeValue),
		usablePorts: newDesc(o, "", "ephemeral_ports_usable",
			"Ports of ip_local_port_range minus the ip_local_reserved_ports inside it: the ephemeral pool.", prometheus.GaugeValue),
	}
	for _, g := range sysctlGauges {
		c.gauges = append(c.gauges, newDesc(o, "sysctl", g.metric, g.help, prometheus.GaugeValue))
	}
	return c, nil
}

func (c *sysctlCollector) Update(s *kread.Scope, ch chan<- prometheus.Metric) error {
	sys, err := s.Sysctls()
	if sys == nil {
		return err
	}
	for i, g := range sysctlGauges {
		if v := sys.Int(g.key); v.OK {
			ch <- c.gauges[i].metric(s, float64(v.Value)*g.scale)
		}
	}
	if sys.Has(kread.KeyPortRange) {
		ch <- c.rangeStart.metric(s, float64(sys.PortRange.Start))
		ch <- c.rangeEnd.metric(s, float64(sys.PortRange.End))
		ch <- c.usablePorts.metric(s, float64(sys.EphemeralPorts().Len()))
	}
	return err
}
