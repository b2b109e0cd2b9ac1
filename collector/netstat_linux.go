// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

func init() {
	registerCollector("netstat", true, newNetstatCollector)
}

// netstatField is one field of /proc/net/netstat or /proc/net/snmp.
type netstatField struct {
	file, group, field string
	metric, help       string
	valueType          prometheus.ValueType
}

var netstatFields = []netstatField{
	{"netstat", "TcpExt", "TW", "tcpext_tw_total",
		"Timewait mini-sockets created with a timeout over 4 s: TIME_WAIT and long orphaned FIN_WAIT2 (TcpExt TW).", prometheus.CounterValue},
	{"netstat", "TcpExt", "TWRecycled", "tcpext_tw_recycled_total",
		"TIME_WAIT 4-tuples that a new outgoing connection took over (TcpExt TWRecycled).", prometheus.CounterValue},
	{"netstat", "TcpExt", "TWKilled", "tcpext_tw_killed_total",
		"Orphaned FIN_WAIT2 mini-sockets created with a timeout of 4 s or less (TcpExt TWKilled).", prometheus.CounterValue},
	{"netstat", "TcpExt", "TCPTimeWaitOverflow", "tcpext_tcp_time_wait_overflow_total",
		"Connections closed without TIME_WAIT at tcp_max_tw_buckets or, rarely, out of memory (TcpExt TCPTimeWaitOverflow).", prometheus.CounterValue},
	{"snmp", "Tcp", "ActiveOpens", "tcp_active_opens_total",
		"Outgoing TCP connections this namespace opened with connect() (Tcp ActiveOpens).", prometheus.CounterValue},
	{"snmp", "Tcp", "PassiveOpens", "tcp_passive_opens_total",
		"Incoming TCP connections this namespace accepted (Tcp PassiveOpens).", prometheus.CounterValue},
	{"snmp", "Tcp", "CurrEstab", "tcp_current_established",
		"TCP connections in ESTABLISHED, and in CLOSE_WAIT on kernels with the 2024 fix (Tcp CurrEstab).", prometheus.GaugeValue},
}

type netstatCollector struct {
	descs []typedDesc
}

func newNetstatCollector(o Options) (Collector, error) {
	c := &netstatCollector{}
	for _, f := range netstatFields {
		c.descs = append(c.descs, newDesc(o, "", f.metric, f.help, f.valueType))
	}
	return c, nil
}

func (c *netstatCollector) Update(s *kread.Scope, ch chan<- prometheus.Metric) error {
	counters, err := kread.ReadNetstat(s)
	missing := map[string][]string{}
	for i, f := range netstatFields {
		if v := counters.Value(f.file, f.group, f.field); v.OK {
			ch <- c.descs[i].metric(s, v.Value)
		} else if counters[f.file] != nil { // an unreadable file has said so in err
			missing[f.file] = append(missing[f.file], f.group+" "+f.field)
		}
	}
	errs := []error{err}
	for _, file := range kread.NetstatFiles {
		errs = append(errs, kread.ErrMissing(s.NetFile(file), missing[file]))
	}
	return errors.Join(errs...)
}
