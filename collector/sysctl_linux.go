package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	registerCollector("sysctl", true, newSysctlCollector)
}

// sysctlGauge is one integer sysctl exported as it is, times scale.
type sysctlGauge struct {
	key      string // procfs key, dots for slashes
	metric   string
	help     string
	scale    float64
	optional bool // absent on some kernels or outside the initial namespace
}

// sysctlGauges are the sysctls that govern TIME_WAIT. Their help texts are
// what an on-call engineer reads; they must be true on current kernels.
var sysctlGauges = []sysctlGauge{
	{key: "net.ipv4.tcp_tw_reuse", metric: "tcp_tw_reuse", scale: 1,
		help: "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (default). Lets outgoing connect() reuse a TIME_WAIT socket's 4-tuple on a port it picks itself when TCP timestamps were negotiated; never affects listeners, nor a port the program bound explicitly (tcp_twsk_unique reuses those whatever it says)."},
	{key: "net.ipv4.tcp_tw_reuse_delay", metric: "tcp_tw_reuse_delay_seconds", scale: 0.001, optional: true,
		help: "net.ipv4.tcp_tw_reuse_delay in seconds (kernel value is ms): minimum age of a TIME_WAIT socket before connect() may reuse it. Exists from Linux 6.14; absent before, where the delay is about 1 s."},
	{key: "net.ipv4.tcp_fin_timeout", metric: "tcp_fin_timeout_seconds", scale: 1,
		help: "net.ipv4.tcp_fin_timeout: how long an orphaned socket stays in FIN_WAIT2 waiting for the peer's FIN. It does not change the TIME_WAIT length, which is fixed at 60 s."},
	{key: "net.ipv4.tcp_max_tw_buckets", metric: "tcp_max_tw_buckets", scale: 1,
		help: "net.ipv4.tcp_max_tw_buckets: most TIME_WAIT sockets this network namespace holds; beyond it connections close without TIME_WAIT and TcpExt TCPTimeWaitOverflow counts them. Far above its default, half of tcp_ehash_entries, TIME_WAIT sockets lengthen the established hash chains every packet lookup walks (__inet_lookup_established), which costs CPU."},
	{key: "net.ipv4.tcp_timestamps", metric: "tcp_timestamps", scale: 1,
		help: "net.ipv4.tcp_timestamps: 0 off, 1 on with per-connection offsets, 2 on without offsets. tcp_tw_reuse needs timestamps."},
	{key: "net.ipv4.tcp_rfc1337", metric: "tcp_rfc1337", scale: 1,
		help: "net.ipv4.tcp_rfc1337: 0 lets an incoming RST end a TIME_WAIT socket early, 1 ignores such RSTs and keeps TIME_WAIT its full 60 s."},
	{key: "net.ipv4.tcp_max_orphans", metric: "tcp_max_orphans", scale: 1, optional: true,
		help: "net.ipv4.tcp_max_orphans: most sockets not attached to any process (host-wide; only visible in the initial network namespace)."},
	{key: "net.ipv4.tcp_tw_recycle", metric: "tcp_tw_recycle", scale: 1, optional: true,
		help: "net.ipv4.tcp_tw_recycle: only on kernels older than 4.12, which removed it because it drops connections from clients behind NAT. Should be 0."},
}

// snapshotSysctls are read for the doctor but not exported: optional keys
// whose raw value would mislead as a metric. tcp_ehash_entries is negative
// in a namespace that shares the initial namespace's hash table; its
// absolute value halved is the kernel's default tcp_max_tw_buckets.
var snapshotSysctls = []string{"net.ipv4.tcp_ehash_entries"}

// Sysctls are the values of one network namespace.
type Sysctls struct {
	// Values holds the integer sysctls of sysctlGauges and snapshotSysctls
	// that exist, by key.
	Values map[string]int64
	// PortRange is net.ipv4.ip_local_port_range.
	PortRange PortRange
	// Reserved is net.ipv4.ip_local_reserved_ports.
	Reserved []PortRange
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Start, End uint16 }

// Value returns one sysctl by key and whether the kernel has it.
func (s *Sysctls) Value(key string) (int64, bool) {
	v, ok := s.Values[key]
	return v, ok
}

// EphemeralPorts returns the set of ports connect() may pick: the local
// port range without the reserved ports.
func (s *Sysctls) EphemeralPorts() *PortSet {
	var set PortSet
	set.AddRange(s.PortRange)
	for _, r := range s.Reserved {
		set.RemoveRange(r)
	}
	return &set
}

// PortSet is a bitmap of the 65536 ports: 8 KiB, cheap to build per scrape
// and a constant-time test per socket.
type PortSet [65536 / 64]uint64

// AddRange adds every port of r.
func (p *PortSet) AddRange(r PortRange) {
	for port := int(r.Start); port <= int(r.End); port++ {
		p[port/64] |= 1 << (port % 64)
	}
}

// RemoveRange removes every port of r.
func (p *PortSet) RemoveRange(r PortRange) {
	for port := int(r.Start); port <= int(r.End); port++ {
		p[port/64] &^= 1 << (port % 64)
	}
}

// Has reports whether port is in the set.
func (p *PortSet) Has(port uint16) bool { return p[port/64]&(1<<(port%64)) != 0 }

// Len counts the ports in the set.
func (p *PortSet) Len() int {
	n := 0
	for _, w := range p {
		n += bits.OnesCount64(w)
	}
	return n
}

// readSysctls reads every sysctl the exporter needs from the procfs mount
// at procPath. A missing required file is an error; a missing optional one
// is left out.
func readSysctls(procPath string) (*Sysctls, error) {
	s := &Sysctls{Values: map[string]int64{}}
	for _, g := range sysctlGauges {
		vals, err := readSysctlInts(procPath, g.key)
		switch {
		case err != nil && g.optional && errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, err
		case len(vals) != 1:
			return nil, fmt.Errorf("sysctl %s: want one integer, got %d", g.key, len(vals))
		}
		s.Values[g.key] = vals[0]
	}
	for _, key := range snapshotSysctls {
		if vals, err := readSysctlInts(procPath, key); err == nil && len(vals) == 1 {
			s.Values[key] = vals[0]
		}
	}
	rng, err := readSysctlInts(procPath, "net.ipv4.ip_local_port_range")
	if err != nil {
		return nil, err
	}
	if s.PortRange, err = portRangeFromInts(rng); err != nil {
		return nil, fmt.Errorf("sysctl net.ipv4.ip_local_port_range: %w", err)
	}
	reserved, err := readSysctl(procPath, "net.ipv4.ip_local_reserved_ports")
	if err != nil {
		return nil, err
	}
	if s.Reserved, err = parseReservedPorts(reserved); err != nil {
		return nil, fmt.Errorf("sysctl net.ipv4.ip_local_reserved_ports: %w", err)
	}
	return s, nil
}

func portRangeFromInts(v []int64) (PortRange, error) {
	if len(v) != 2 {
		return PortRange{}, fmt.Errorf("want two ports, got %d values", len(v))
	}
	if v[0] < 1 || v[1] > 65535 || v[0] > v[1] {
		return PortRange{}, fmt.Errorf("invalid range %d-%d", v[0], v[1])
	}
	return PortRange{uint16(v[0]), uint16(v[1])}, nil
}

// parseReservedPorts parses the kernel's list format: "8080,9000-9010".
func parseReservedPorts(s string) ([]PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []PortRange
	for _, item := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			hi = lo
		}
		start, err1 := strconv.ParseUint(lo, 10, 16)
		end, err2 := strconv.ParseUint(hi, 10, 16)
		if err1 != nil || err2 != nil || start > end {
			return nil, fmt.Errorf("invalid item %q", item)
		}
		out = append(out, PortRange{uint16(start), uint16(end)})
	}
	return out, nil
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
			"net.ipv4.ip_local_port_range: first port connect() may pick automatically.", prometheus.GaugeValue),
		rangeEnd: newDesc(o, "sysctl", "ip_local_port_range_end",
			"net.ipv4.ip_local_port_range: last port connect() may pick automatically.", prometheus.GaugeValue),
		usablePorts: newDesc(o, "", "ephemeral_ports_usable",
			"Ports connect() can pick automatically: ip_local_port_range minus the ip_local_reserved_ports inside it. Ports bind() owns are still in it, though connect() skips them (see timewait_ephemeral_ports_listening).", prometheus.GaugeValue),
	}
	for _, g := range sysctlGauges {
		c.gauges = append(c.gauges, newDesc(o, "sysctl", g.metric, g.help, prometheus.GaugeValue))
	}
	return c, nil
}

func (c *sysctlCollector) Update(s *Scope, ch chan<- prometheus.Metric) error {
	sys, err := s.Sysctls()
	if err != nil {
		return err
	}
	for i, g := range sysctlGauges {
		if v, ok := sys.Value(g.key); ok {
			ch <- c.gauges[i].metric(s, float64(v)*g.scale)
		}
	}
	ch <- c.rangeStart.metric(s, float64(sys.PortRange.Start))
	ch <- c.rangeEnd.metric(s, float64(sys.PortRange.End))
	ch <- c.usablePorts.metric(s, float64(sys.EphemeralPorts().Len()))
	return nil
}
