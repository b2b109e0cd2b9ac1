package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
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
			"TCP sockets no longer attached to a process, host-wide for all namespaces (/proc/net/sockstat TCP orphan). Limited by tcp_max_orphans.",
			prometheus.GaugeValue),
		alloc: newDesc(o, "sockstat", "tcp_alloc_sockets",
			"TCP sockets allocated, host-wide for all namespaces (/proc/net/sockstat TCP alloc).",
			prometheus.GaugeValue),
		mem: newDesc(o, "sockstat", "tcp_mem_bytes",
			"Memory TCP socket buffers use, host-wide for all namespaces (/proc/net/sockstat TCP mem, pages times the page size).",
			prometheus.GaugeValue),
	}, nil
}

func (c *sockstatCollector) Update(s *Scope, ch chan<- prometheus.Metric) error {
	st, err := readSockstat(s)
	if err != nil {
		return err
	}
	ch <- c.tw.metric(s, float64(st.TimeWait))
	ch <- c.inuse.metric(s, float64(st.InUse), "ipv4")
	if st.InUse6 != nil {
		ch <- c.inuse.metric(s, float64(*st.InUse6), "ipv6")
	}
	emitOptional(ch, s, c.orphan, st.Orphan, 1)
	emitOptional(ch, s, c.alloc, st.Alloc, 1)
	emitOptional(ch, s, c.mem, st.MemPages, float64(os.Getpagesize()))
	return nil
}

// Sockstat is the TCP part of /proc/net/sockstat and sockstat6.
type Sockstat struct {
	TimeWait int  // tw: TIME_WAIT and FIN_WAIT2 mini-sockets, both families
	InUse    int  // IPv4 sockets in use
	InUse6   *int // IPv6 sockets in use; nil without IPv6
	// Host-wide fields, nil where the kernel leaves them out.
	Orphan, Alloc, MemPages *int
}

func readSockstat(s *Scope) (*Sockstat, error) {
	pfs, err := procfs.NewFS(s.netRoot())
	if err != nil {
		return nil, fmt.Errorf("open procfs at %s: %w", s.netRoot(), err)
	}
	v4, err := pfs.NetSockstat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.netFile("sockstat"), err)
	}
	tcp, ok := findProtocol(v4, "TCP")
	if !ok || tcp.TW == nil {
		return nil, fmt.Errorf("%s has no TCP line with a tw field", s.netFile("sockstat"))
	}
	st := &Sockstat{TimeWait: *tcp.TW, InUse: tcp.InUse, Orphan: tcp.Orphan, Alloc: tcp.Alloc, MemPages: tcp.Mem}
	v6, err := pfs.NetSockstat6()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, nil // IPv6 disabled: nothing to report, not a failure
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", s.netFile("sockstat6"), err)
	}
	if tcp6, ok := findProtocol(v6, "TCP6"); ok {
		st.InUse6 = &tcp6.InUse
	}
	return st, nil
}

func findProtocol(st *procfs.NetSockstat, name string) (procfs.NetSockstatProtocol, bool) {
	for _, p := range st.Protocols {
		if p.Protocol == name {
			return p, true
		}
	}
	return procfs.NetSockstatProtocol{}, false
}

func emitOptional(ch chan<- prometheus.Metric, s *Scope, d typedDesc, v *int, scale float64) {
	if v != nil {
		ch <- d.metric(s, float64(*v)*scale)
	}
}
