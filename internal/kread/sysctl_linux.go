// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// Sysctls are the sysctls of one network namespace that govern TIME_WAIT
// and the ephemeral ports.
type Sysctls struct {
	TCPTwReuse      int64           // net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only
	TCPTwReuseDelay Optional[int64] // net.ipv4.tcp_tw_reuse_delay, ms (Linux 6.14+)
	TCPFinTimeout   int64           // net.ipv4.tcp_fin_timeout, s (FIN_WAIT2, not TIME_WAIT)
	TCPMaxTwBuckets int64           // net.ipv4.tcp_max_tw_buckets
	TCPTimestamps   int64           // net.ipv4.tcp_timestamps
	TCPRFC1337      int64           // net.ipv4.tcp_rfc1337
	TCPMaxOrphans   Optional[int64] // net.ipv4.tcp_max_orphans (initial namespace only)
	TCPTwRecycle    Optional[int64] // net.ipv4.tcp_tw_recycle (before Linux 4.12)
	// TCPEhashEntries is net.ipv4.tcp_ehash_entries: negative in a
	// namespace that shares the initial namespace's hash table; its
	// absolute value halved is the kernel's default tcp_max_tw_buckets.
	TCPEhashEntries Optional[int64]
	// PortRange is net.ipv4.ip_local_port_range.
	PortRange model.PortRange
	// Reserved is net.ipv4.ip_local_reserved_ports.
	Reserved []model.PortRange

	failed map[string]error // why a key could not be read (see Has)
}

// The keys (dots for slashes) of the sysctls a Sysctls holds, as Has and
// Int take them.
const (
	KeyTwReuse      = "net.ipv4.tcp_tw_reuse"
	KeyTwReuseDelay = "net.ipv4.tcp_tw_reuse_delay"
	KeyFinTimeout   = "net.ipv4.tcp_fin_timeout"
	KeyMaxTwBuckets = "net.ipv4.tcp_max_tw_buckets"
	KeyTimestamps   = "net.ipv4.tcp_timestamps"
	KeyRFC1337      = "net.ipv4.tcp_rfc1337"
	KeyMaxOrphans   = "net.ipv4.tcp_max_orphans"
	KeyTwRecycle    = "net.ipv4.tcp_tw_recycle"
	KeyEhashEntries = "net.ipv4.tcp_ehash_entries"
	// KeyPortRange is net.ipv4.ip_local_port_range; to Has it stands for
	// the ephemeral set, the reserved ports included.
	KeyPortRange = "net.ipv4.ip_local_port_range"
	// KeyReservedPorts is net.ipv4.ip_local_reserved_ports, read and
	// failed together with KeyPortRange.
	KeyReservedPorts = "net.ipv4.ip_local_reserved_ports"
)

// intSysctl is one integer sysctl of a Sysctls: required (req) or not
// (opt); lenient ones are left out on any error, not only when absent.
type intSysctl struct {
	key     string // dots for slashes
	req     *int64
	opt     *Optional[int64]
	lenient bool
}

// ints are the integer sysctls of s, in the order they are read.
func (s *Sysctls) ints() []intSysctl {
	return []intSysctl{
		{key: KeyTwReuse, req: &s.TCPTwReuse},
		{key: KeyTwReuseDelay, opt: &s.TCPTwReuseDelay},
		{key: KeyFinTimeout, req: &s.TCPFinTimeout},
		{key: KeyMaxTwBuckets, req: &s.TCPMaxTwBuckets},
		{key: KeyTimestamps, req: &s.TCPTimestamps},
		{key: KeyRFC1337, req: &s.TCPRFC1337},
		{key: KeyMaxOrphans, opt: &s.TCPMaxOrphans},
		{key: KeyTwRecycle, opt: &s.TCPTwRecycle},
		{key: KeyEhashEntries, opt: &s.TCPEhashEntries, lenient: true},
	}
}

// EphemeralPorts returns the set of ports connect() may pick: the local
// port range without the reserved ports.
func (s *Sysctls) EphemeralPorts() *model.PortSet {
	return model.EphemeralPorts(s.PortRange, s.Reserved)
}

// UsablePorts counts the ports connect() may pick (EphemeralPorts).
func (s *Sysctls) UsablePorts() int { return s.EphemeralPorts().Len() }

// ReadSysctls reads every sysctl the exporter needs from the procfs mount
// at procPath. A missing optional file is left out. A required one that
// cannot be read or parsed fails alone: the Sysctls returned holds every
// other value, and the error names the ones it lacks (see Has).
func ReadSysctls(procPath string) (*Sysctls, error) {
	s := &Sysctls{}
	var errs []error
	fail := func(key string, err error) {
		s.MarkFailed(key, err)
		errs = append(errs, err)
	}
	dir := openSysctlDir(procPath)
	defer dir.close()
	for _, f := range s.ints() {
		vals, err := dir.ints(f.key)
		if err == nil && len(vals) != 1 {
			err = fmt.Errorf("sysctl %s: want one integer, got %d", f.key, len(vals))
		}
		switch {
		case err != nil && (f.lenient || f.opt != nil && errors.Is(err, fs.ErrNotExist)):
		case err != nil:
			fail(f.key, err)
		case f.req != nil:
			*f.req = vals[0]
		default:
			*f.opt = Some(vals[0])
		}
	}
	if err := s.readPorts(dir); err != nil {
		fail(KeyPortRange, err)
	}
	return s, errors.Join(errs...)
}

// readPorts reads the port range and the reserved ports, which make the
// ephemeral set only together.
func (s *Sysctls) readPorts(dir *sysctlDir) error {
	rng, err := dir.ints(KeyPortRange)
	if err != nil {
		return err
	}
	if s.PortRange, err = portRangeFromInts(rng); err != nil {
		return fmt.Errorf("sysctl %s: %w", KeyPortRange, err)
	}
	reserved, err := dir.read(KeyReservedPorts)
	if err != nil {
		return err
	}
	if s.Reserved, err = parseReservedPorts(reserved); err != nil {
		return fmt.Errorf("sysctl %s: %w", KeyReservedPorts, err)
	}
	return nil
}

// MarkFailed records that the sysctl key could not be read, for err: Has
// is false for it from then on. ReadSysctls marks each key it fails on.
func (s *Sysctls) MarkFailed(key string, err error) {
	if s.failed == nil {
		s.failed = map[string]error{}
	}
	s.failed[key] = err
}

// Has reports whether every sysctl of keys was read.
func (s *Sysctls) Has(keys ...string) bool {
	return s.errOf(keys...) == nil
}

// errOf is what failed of keys, nil if nothing did.
func (s *Sysctls) errOf(keys ...string) error {
	var errs []error
	for _, k := range keys {
		errs = append(errs, s.failed[k])
	}
	return errors.Join(errs...)
}

// Int returns the integer sysctl key, absent if it was not read.
func (s *Sysctls) Int(key string) Optional[int64] {
	for _, f := range s.ints() {
		switch {
		case f.key != key:
		case f.opt != nil:
			return *f.opt
		case s.failed[key] != nil:
			return Optional[int64]{}
		default:
			return Some(*f.req)
		}
	}
	return Optional[int64]{}
}

// Holds reports whether key is one of the integer sysctls s holds.
func (s *Sysctls) Holds(key string) bool {
	return slices.ContainsFunc(s.ints(), func(f intSysctl) bool { return f.key == key })
}

// ReadSysctlInt reads one integer sysctl that Sysctls does not hold, now,
// on the calling thread (whose namespace /proc/sys/net resolves against).
// One this kernel lacks is not OK, and no error.
func (s *Scope) ReadSysctlInt(key string) (Optional[int64], error) {
	str, err := ReadSysctl(s.procPath, key)
	var vals []int64
	if err == nil {
		vals, err = parseSysctlInts(key, str)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Optional[int64]{}, nil
	case err != nil:
		return Optional[int64]{}, err
	case len(vals) != 1:
		return Optional[int64]{}, fmt.Errorf("sysctl %s: want one integer, got %d", key, len(vals))
	}
	return Some(vals[0]), nil
}

// pressureSysctls are those the pressure model needs: the ephemeral set
// and the tcp_tw_reuse policy (see NewSocketStatsFor).
var pressureSysctls = []string{KeyPortRange, KeyTwReuse, KeyTimestamps, KeyTwReuseDelay}

// ForPressure is sys and err of Sysctls as the pressure model sees them: sys
// when it has every sysctl the model needs, whatever else failed; else nil
// and the error of those it needs.
func ForPressure(sys *Sysctls, err error) (*Sysctls, error) {
	if sys == nil {
		return nil, err
	}
	if err := sys.errOf(pressureSysctls...); err != nil {
		return nil, err
	}
	return sys, nil
}

func portRangeFromInts(v []int64) (model.PortRange, error) {
	if len(v) != 2 {
		return model.PortRange{}, fmt.Errorf("want two ports, got %d values", len(v))
	}
	if v[0] < 1 || v[1] > 65535 || v[0] > v[1] {
		return model.PortRange{}, fmt.Errorf("invalid range %d-%d", v[0], v[1])
	}
	return model.PortRange{Start: uint16(v[0]), End: uint16(v[1])}, nil
}

// parseReservedPorts parses the kernel's list format: "8080,9000-9010".
func parseReservedPorts(s string) ([]model.PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []model.PortRange
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
		out = append(out, model.PortRange{Start: uint16(start), End: uint16(end)})
	}
	return out, nil
}
