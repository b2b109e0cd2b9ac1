// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
)

func init() {
	registerCollector("sysctl", true, newSysctlCollector)
}

// sysctlGauge is one integer sysctl exported as it is, times scale.
type sysctlGauge struct {
	value  func(*kernel.Sysctls) kernel.Optional
	metric string
	help   string
	scale  float64
}

// required is a sysctl every kernel has.
func required(v int64) kernel.Optional { return kernel.Optional{Value: v, OK: true} }

// sysctlGauges are the sysctls that govern TIME_WAIT. Their help texts are
// what an on-call engineer reads; they must be true on current kernels.
var sysctlGauges = []sysctlGauge{
	{value: func(s *kernel.Sysctls) kernel.Optional { return required(s.TCPTwReuse) }, metric: "tcp_tw_reuse", scale: 1,
		help: "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (default), for outgoing connect() with TCP timestamps."},
	{value: func(s *kernel.Sysctls) kernel.Optional { return s.TCPTwReuseDelay }, metric: "tcp_tw_reuse_delay_seconds", scale: 0.001,
		help: "net.ipv4.tcp_tw_reuse_delay: minimum age of a TIME_WAIT socket before connect() may reuse it (Linux 6.14+)."},
	{value: func(s *kernel.Sysctls) kernel.Optional { return required(s.TCPFinTimeout) }, metric: "tcp_fin_timeout_seconds", scale: 1,
		help: "net.ipv4.tcp_fin_timeout: how long an orphaned socket waits in FIN_WAIT2, not the fixed 60 s of TIME_WAIT."},
	{value: func(s *kernel.Sysctls) kernel.Optional { return required(s.TCPMaxTwBuckets) }, metric: "tcp_max_tw_buckets", scale: 1,
		help: "net.ipv4.tcp_max_tw_buckets: most timewait sockets of this namespace; beyond it sockets close without TIME_WAIT."},
	{value: func(s *kernel.Sysctls) kernel.Optional { return required(s.TCPTimestamps) }, metric: "tcp_timestamps", scale: 1,
		help: "net.ipv4.tcp_timestamps: 0 off, 1 on with per-connection offsets, 2 on without offsets."},
	{value: func(s *kernel.Sysctls) kernel.Optional { return required(s.TCPRFC1337) }, metric: "tcp_rfc1337", scale: 1,
		help: "net.ipv4.tcp_rfc1337: 1 keeps TIME_WAIT its full 60 s when an RST arrives, 0 lets the RST end it."},
	{value: func(s *kernel.Sysctls) kernel.Optional { return s.TCPMaxOrphans }, metric: "tcp_max_orphans", scale: 1,
		help: "net.ipv4.tcp_max_orphans: most orphaned TCP sockets, host-wide (visible in the initial namespace only)."},
	{value: func(s *kernel.Sysctls) kernel.Optional { return s.TCPTwRecycle }, metric: "tcp_tw_recycle", scale: 1,
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

func (c *sysctlCollector) Update(s *kernel.Scope, ch chan<- prometheus.Metric) error {
	sys, err := s.Sysctls()
	if err != nil {
		return err
	}
	for i, g := range sysctlGauges {
		if v := g.value(sys); v.OK {
			ch <- c.gauges[i].metric(s, float64(v.Value)*g.scale)
		}
	}
	ch <- c.rangeStart.metric(s, float64(sys.PortRange.Start))
	ch <- c.rangeEnd.metric(s, float64(sys.PortRange.End))
	ch <- c.usablePorts.metric(s, float64(sys.EphemeralPorts().Len()))
	return nil
}
