package collector

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

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
	missing := map[string][]string{}
	for i, f := range netstatFields {
		v, ok := counters.Value(f.file, f.group, f.field)
		if ok {
			ch <- c.descs[i].metric(s, v)
		} else if counters[f.file] != nil { // an unreadable file has said so in err
			missing[f.file] = append(missing[f.file], f.group+" "+f.field)
		}
	}
	errs := []error{err}
	for _, file := range netstatFiles {
		errs = append(errs, errMissing(s.netFile(file), missing[file]))
	}
	return errors.Join(errs...)
}

// errMissing reports the fields a collector exports that a source file
// lacks, or nil if there are none.
//
// A file that lacks fields, or has a broken part, still gives every field
// it holds: those values are what the kernel wrote, and dropping them
// would hide, say, TIME_WAIT entries because an unrelated counter is
// missing. The collector still fails (success 0): no kernel writes such a
// file, so it is a truncated copy, a broken mount or an emulated /proc, and
// the missing series must not look like a healthy smaller set. The one
// error names every missing field in the collector's order, so its text is
// the same on every scrape and errorLog logs it once.
func errMissing(path string, fields []string) error {
	if len(fields) == 0 {
		return nil
	}
	return fmt.Errorf("%s has no %s", path, strings.Join(fields, ", "))
}

// Netstat holds the counters of /proc/net/netstat and /proc/net/snmp:
// file ("netstat", "snmp") -> group ("TcpExt") -> field ("TW") -> value.
type Netstat map[string]map[string]map[string]float64

// Value returns one counter and whether the kernel reported it.
func (n Netstat) Value(file, group, field string) (float64, bool) {
	v, ok := n[file][group][field]
	return v, ok
}

// netstatFiles are the files of /proc/net the netstat collector reads.
var netstatFiles = []string{"netstat", "snmp"}

// readNetstat reads /proc/net/netstat and /proc/net/snmp. It returns what
// it could parse even with an error: a file that cannot be read is absent,
// one that is broken in part keeps its good groups (see parseNetstat).
func readNetstat(s *Scope) (Netstat, error) {
	n := Netstat{}
	var errs []error
	for _, name := range netstatFiles {
		path := s.netFile(name)
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n[name], err = parseNetstat(data); err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", path, err))
		}
	}
	return n, errors.Join(errs...)
}

// parseNetstat parses the paired-line format of /proc/net/netstat and
// /proc/net/snmp: a line of field names, then a line of values, both
// prefixed with the group ("TcpExt:"). Fields unknown to us are kept, so a
// new kernel that adds some breaks nothing.
//
// It returns every group it could pair, with an error for the rest: a pair
// whose name and value counts differ is left out (which value is whose is
// unknown), a value that is not a number leaves out that field only. Where
// the pairing itself is lost (a line that is no header, values of another
// group, a last header without values) it stops, keeping the groups before.
//
// procfs parses these files only through /proc/<pid>/net, which cannot
// address the namespace of one thread (see Scope), so the exporter has its
// own small parser.
func parseNetstat(data []byte) (map[string]map[string]float64, error) {
	groups := map[string]map[string]float64{}
	var errs []error
	stop := func(format string, args ...any) (map[string]map[string]float64, error) {
		return groups, errors.Join(append(errs, fmt.Errorf(format, args...))...)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return stop("empty file")
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	for i := 0; i < len(lines); i += 2 {
		names := bytes.Fields(lines[i])
		if len(names) == 0 || !bytes.HasSuffix(names[0], []byte(":")) {
			return stop("line %d: want a \"Group:\" header", i+1)
		}
		if i+1 == len(lines) {
			return stop("line %d: %s header without values: file truncated", i+1, names[0])
		}
		values := bytes.Fields(lines[i+1])
		if len(values) == 0 || !bytes.Equal(names[0], values[0]) {
			return stop("line %d: values do not follow their %s header", i+2, names[0])
		}
		group := string(bytes.TrimSuffix(names[0], []byte(":")))
		if len(names) != len(values) {
			errs = append(errs, fmt.Errorf("line %d: %d %s names but %d values", i+2, len(names)-1, group, len(values)-1))
			continue
		}
		fields := map[string]float64{}
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseFloat(string(values[j]), 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s %s: %w", i+2, group, names[j], err))
				continue
			}
			fields[string(names[j])] = v
		}
		groups[group] = fields
	}
	return groups, errors.Join(errs...)
}
