package collector

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	registerCollector("sockstat", true, newSockstatCollector)
}

type sockstatCollector struct {
	tw, inuse, orphan, alloc, mem typedDesc
}

func newSockstatCollector(o Options) (Collector, error) {
	return &sockstatCollector{
		tw: newDesc(o, "sockstat", "tw_sockets",
			"The kernel's own count of TIME_WAIT sockets in this network namespace (/proc/net/sockstat TCP tw), both families, including FIN_WAIT2 mini-sockets of orphaned connections. Compare with timewait_sysctl_tcp_max_tw_buckets.",
			prometheus.GaugeValue),
		inuse: newDesc(o, "sockstat", "tcp_inuse_sockets",
			"TCP sockets in use in this network namespace, not counting TIME_WAIT (/proc/net/sockstat TCP inuse, sockstat6 TCP6 inuse).",
			prometheus.GaugeValue, "family"),
		orphan: newDesc(o, "sockstat", "tcp_orphan_sockets",
			"TCP sockets no longer attached to a process, host-wide for all namespaces (/proc/net/sockstat TCP orphan; limited by tcp_max_orphans). With --netns.discover it is exported once, under the exporter's own namespace.",
			prometheus.GaugeValue),
		alloc: newDesc(o, "sockstat", "tcp_alloc_sockets",
			"TCP sockets allocated, host-wide for all namespaces (/proc/net/sockstat TCP alloc). With --netns.discover it is exported once, under the exporter's own namespace.",
			prometheus.GaugeValue),
		mem: newDesc(o, "sockstat", "tcp_mem_bytes",
			"Memory TCP socket buffers use, host-wide for all namespaces (/proc/net/sockstat TCP mem, pages times the page size). With --netns.discover it is exported once, under the exporter's own namespace.",
			prometheus.GaugeValue),
	}, nil
}

// Update exports every field the files hold and fails naming the missing
// ones (see errMissing).
//
// The host-wide fields (see Sockstat) are exported only in the exporter's
// own namespace (tid 0, see Scope): every namespace's sockstat shows the
// same values, so exported per namespace they would appear once per
// namespace and sum() over the netns label would multiply them. Without
// --netns.discover the own namespace is the only one, so nothing changes
// there, and the own namespace is always visited, so they never vanish.
func (c *sockstatCollector) Update(s *Scope, ch chan<- prometheus.Metric) error {
	st, err := readSockstat(s)
	emitOptional(ch, s, c.tw, st.TimeWait, 1)
	emitOptional(ch, s, c.inuse, st.InUse, 1, "ipv4")
	emitOptional(ch, s, c.inuse, st.InUse6, 1, "ipv6")
	if s.tid == 0 {
		emitOptional(ch, s, c.orphan, st.Orphan, 1)
		emitOptional(ch, s, c.alloc, st.Alloc, 1)
		emitOptional(ch, s, c.mem, st.MemPages, float64(os.Getpagesize()))
	}
	return err
}

// Sockstat is the TCP part of /proc/net/sockstat and sockstat6. A field is
// nil when its file lacks it (the error of readSockstat then says which).
type Sockstat struct {
	// Per network namespace: sockstat_seq_show (net/ipv4/proc.c) prints
	// sock_prot_inuse_get(net, &tcp_prot) and the count of the namespace's
	// net->ipv4.tcp_death_row; sockstat6_seq_show (net/ipv6/proc.c) the
	// same inuse for tcpv6_prot.
	TimeWait *int // tw: TIME_WAIT and FIN_WAIT2 mini-sockets, both families
	InUse    *int // IPv4 sockets in use
	InUse6   *int // IPv6 sockets in use; nil without IPv6
	// Host-wide, the same in every namespace: sockstat_seq_show prints the
	// global tcp_orphan_count_sum(), proto_sockets_allocated_sum_positive()
	// and proto_memory_allocated() of tcp_prot.
	Orphan, Alloc, MemPages *int
}

// TimeWaitCount returns tw and whether it was read; s may be nil.
func (s *Sockstat) TimeWaitCount() (int, bool) {
	if s == nil || s.TimeWait == nil {
		return 0, false
	}
	return *s.TimeWait, true
}

// readSockstat reads sockstat and sockstat6. It always returns a Sockstat
// with every field the files hold, and an error for what they lack.
func readSockstat(s *Scope) (*Sockstat, error) {
	v4, err4 := readSockstatFile(s, "sockstat")
	v6, err6 := readSockstatFile(s, "sockstat6")
	if errors.Is(err6, fs.ErrNotExist) {
		err6 = nil // IPv6 disabled: nothing to report, not a failure
	}
	// In the kernel's order, which is the order errMissing names them in.
	st := &Sockstat{
		InUse:    v4.get("TCP", "inuse"),
		Orphan:   v4.get("TCP", "orphan"),
		TimeWait: v4.get("TCP", "tw"),
		Alloc:    v4.get("TCP", "alloc"),
		MemPages: v4.get("TCP", "mem"),
		InUse6:   v6.get("TCP6", "inuse"),
	}
	return st, errors.Join(err4, v4.errMissing(), err6, v6.errMissing())
}

// sockstatFile is one parsed sockstat file: protocol -> key -> value,
// nil if the file could not be read. get records the keys it lacks.
type sockstatFile struct {
	path    string
	protos  map[string]map[string]int
	missing []string
}

func readSockstatFile(s *Scope, name string) (*sockstatFile, error) {
	f := &sockstatFile{path: s.netFile(name)}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return f, err
	}
	if f.protos, err = parseSockstat(data); err != nil {
		err = fmt.Errorf("parse %s: %w", f.path, err)
	}
	return f, err
}

func (f *sockstatFile) get(proto, key string) *int {
	if f.protos == nil {
		return nil // unreadable: its read error says so
	}
	v, ok := f.protos[proto][key]
	if !ok {
		f.missing = append(f.missing, proto+" "+key)
		return nil
	}
	return &v
}

func (f *sockstatFile) errMissing() error { return errMissing(f.path, f.missing) }

// parseSockstat parses a sockstat file, one line per protocol of key/value
// pairs ("TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1"). Like parseNetstat it
// keeps what it can and reports the rest: a value that is not a number
// loses its key, a key without a value ends its line. (procfs's parser
// gives nothing for a file with one bad pair, and 0 for a missing inuse.)
func parseSockstat(data []byte) (map[string]map[string]int, error) {
	protos := map[string]map[string]int{}
	var errs []error
	for i, line := range bytes.Split(data, []byte("\n")) {
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !bytes.HasSuffix(fields[0], []byte(":")) {
			errs = append(errs, fmt.Errorf("line %d: want a \"PROTOCOL:\" prefix", i+1))
			continue
		}
		proto := string(bytes.TrimSuffix(fields[0], []byte(":")))
		kv := map[string]int{}
		for j := 1; j < len(fields); j += 2 {
			key := string(fields[j])
			if j+1 == len(fields) {
				errs = append(errs, fmt.Errorf("line %d: %s %s has no value", i+1, proto, key))
				break
			}
			v, err := strconv.Atoi(string(fields[j+1]))
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s %s: %w", i+1, proto, key, err))
				continue
			}
			kv[key] = v
		}
		protos[proto] = kv
	}
	return protos, errors.Join(errs...)
}

func emitOptional(ch chan<- prometheus.Metric, s *Scope, d typedDesc, v *int, scale float64, labels ...string) {
	if v != nil {
		ch <- d.metric(s, float64(*v)*scale, labels...)
	}
}
