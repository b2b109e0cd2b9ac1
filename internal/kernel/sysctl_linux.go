package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"strconv"
	"strings"
)

// intSysctls are the integer sysctls of a Sysctls, by key (dots for
// slashes), in the order they are read.
var intSysctls = []struct {
	key      string
	optional bool // absent on some kernels or outside the initial namespace
}{
	{key: "net.ipv4.tcp_tw_reuse"},
	{key: "net.ipv4.tcp_tw_reuse_delay", optional: true},
	{key: "net.ipv4.tcp_fin_timeout"},
	{key: "net.ipv4.tcp_max_tw_buckets"},
	{key: "net.ipv4.tcp_timestamps"},
	{key: "net.ipv4.tcp_rfc1337"},
	{key: "net.ipv4.tcp_max_orphans", optional: true},
	{key: "net.ipv4.tcp_tw_recycle", optional: true},
}

// snapshotSysctls are read for the doctor but not exported: optional keys
// whose raw value would mislead as a metric. tcp_ehash_entries is negative
// in a namespace that shares the initial namespace's hash table; its
// absolute value halved is the kernel's default tcp_max_tw_buckets.
var snapshotSysctls = []string{"net.ipv4.tcp_ehash_entries"}

// Sysctls are the values of one network namespace.
type Sysctls struct {
	// Values holds the integer sysctls of intSysctls and snapshotSysctls
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

// ReadSysctls reads every sysctl the exporter needs from the procfs mount
// at procPath. A missing required file is an error; a missing optional one
// is left out.
func ReadSysctls(procPath string) (*Sysctls, error) {
	s := &Sysctls{Values: map[string]int64{}}
	for _, g := range intSysctls {
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
	reserved, err := ReadSysctl(procPath, "net.ipv4.ip_local_reserved_ports")
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
