package collector

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
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
		"Timewait mini-sockets created with a timeout over 4 s (TcpExt TW, __inet_twsk_schedule): TIME_WAIT sockets, which get the fixed 60 s, and orphaned FIN_WAIT2 ones with a longer timeout. Its rate times 60 is an upper bound of the TIME_WAIT count, since reuse, an RST (tcp_rfc1337=0) or an accepted SYN can end TIME_WAIT early (tcp_timewait_state_process).", prometheus.CounterValue},
	{"netstat", "TcpExt", "TWRecycled", "tcpext_tw_recycled_total",
		"TIME_WAIT sockets whose 4-tuple a new outgoing connection took over (TcpExt TWRecycled, __inet_check_established): on a port connect() picked, where tcp_tw_reuse allows it, or on a port the program bound explicitly, whatever tcp_tw_reuse says (tcp_twsk_unique). Both need TCP timestamps on the old connection.", prometheus.CounterValue},
	{"netstat", "TcpExt", "TWKilled", "tcpext_tw_killed_total",
		"Orphaned FIN_WAIT2 mini-sockets created with a timeout of 4 s or less, e.g. with tcp_fin_timeout at 4 s or less (TcpExt TWKilled, __inet_twsk_schedule). TIME_WAIT sockets always get the fixed 60 s and never count here.", prometheus.CounterValue},
	{"netstat", "TcpExt", "TCPTimeWaitOverflow", "tcpext_tcp_time_wait_overflow_total",
		"Connections closed without TIME_WAIT protection because tcp_max_tw_buckets was reached (TcpExt TCPTimeWaitOverflow).", prometheus.CounterValue},
	{"snmp", "Tcp", "ActiveOpens", "tcp_active_opens_total",
		"Outgoing TCP connections this namespace opened with connect() (Tcp ActiveOpens).", prometheus.CounterValue},
	{"snmp", "Tcp", "PassiveOpens", "tcp_passive_opens_total",
		"Incoming TCP connections this namespace accepted (Tcp PassiveOpens).", prometheus.CounterValue},
	{"snmp", "Tcp", "CurrEstab", "tcp_current_established",
		"TCP connections currently in ESTABLISHED or CLOSE_WAIT (Tcp CurrEstab): tcp_set_state counts a connection until it leaves both.", prometheus.GaugeValue},
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

func (c *netstatCollector) Update(s *Scope, ch chan<- prometheus.Metric) error {
	counters, err := readNetstat(s)
	if err != nil {
		return err
	}
	for i, f := range netstatFields {
		v, ok := counters.Value(f.file, f.group, f.field)
		if !ok {
			return fmt.Errorf("%s has no %s %s field", s.netFile(f.file), f.group, f.field)
		}
		ch <- c.descs[i].metric(s, v)
	}
	return nil
}

// Netstat holds the counters of /proc/net/netstat and /proc/net/snmp:
// file ("netstat", "snmp") -> group ("TcpExt") -> field ("TW") -> value.
type Netstat map[string]map[string]map[string]float64

// Value returns one counter and whether the kernel reported it.
func (n Netstat) Value(file, group, field string) (float64, bool) {
	v, ok := n[file][group][field]
	return v, ok
}

func readNetstat(s *Scope) (Netstat, error) {
	n := Netstat{}
	for _, name := range []string{"netstat", "snmp"} {
		path := s.netFile(name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if n[name], err = parseNetstat(data); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	return n, nil
}

// parseNetstat parses the paired-line format of /proc/net/netstat and
// /proc/net/snmp: a line of field names, then a line of values, both
// prefixed with the group ("TcpExt:"). Fields unknown to us are kept, so a
// new kernel that adds some breaks nothing.
//
// procfs parses these files only through /proc/<pid>/net, which cannot
// address the namespace of one thread (see Scope), so the exporter has its
// own small parser.
func parseNetstat(data []byte) (map[string]map[string]float64, error) {
	groups := map[string]map[string]float64{}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines)%2 != 0 {
		return nil, fmt.Errorf("odd number of lines (%d): file truncated", len(lines))
	}
	for i := 0; i < len(lines); i += 2 {
		names, values := bytes.Fields(lines[i]), bytes.Fields(lines[i+1])
		if len(names) == 0 || !bytes.HasSuffix(names[0], []byte(":")) {
			return nil, fmt.Errorf("line %d: want a \"Group:\" header", i+1)
		}
		if len(values) == 0 || !bytes.Equal(names[0], values[0]) {
			return nil, fmt.Errorf("line %d: values do not follow their %s header", i+2, names[0])
		}
		if len(names) != len(values) {
			return nil, fmt.Errorf("line %d: %d names but %d values", i+2, len(names)-1, len(values)-1)
		}
		group := string(bytes.TrimSuffix(names[0], []byte(":")))
		fields := map[string]float64{}
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseFloat(string(values[j]), 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s %s: %w", i+2, group, names[j], err)
			}
			fields[string(names[j])] = v
		}
		groups[group] = fields
	}
	return groups, nil
}
