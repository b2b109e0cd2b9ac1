// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Detail says in which network namespaces a metric is exported. The own
// namespace (the only one without --netns.discover), a dumped one and one
// netns.detail names are at full detail; every other namespace visited is
// idle and gets only the series whose Detail admits them (docs/netns.md).
type Detail int

const (
	// Once is a series of the exporter or of the scrape, without netns.
	Once Detail = iota
	// Own is host-wide: exported under the own namespace only.
	Own
	// Always is exported for every namespace visited.
	Always
	// NonZero is exported for an idle namespace only when it is not 0.
	NonZero
	// Differs is exported for an idle namespace only when its value
	// differs from the own namespace's.
	Differs
	// Failing is exported for an idle namespace only for a collector that
	// failed within failureMemory.
	Failing
	// Full is exported at full detail only.
	Full
)

var detailNames = [...]string{Once: "once", Own: "own", Always: "always", NonZero: "non-zero",
	Differs: "differs", Failing: "failing", Full: "full"}

func (d Detail) String() string { return detailNames[d] }

// Metric is one row of the table of every metric the exporter exports:
// the collectors build their descriptors from it, and the golden
// exposition, docs/metrics.md and the dashboard checker's list of names
// are checked against it.
type Metric struct {
	Name   string
	Type   prometheus.ValueType
	Help   string   // one sentence, at most 120 characters
	Labels []string // besides netns
	// Source is where the value comes from. "sysctl <key>" and
	// "netstat|snmp <group> <field>" are read as they say by the sysctl
	// and netstat collectors: adding such a row adds the metric.
	Source string
	Detail Detail
	// Optional is a sysctl or field some kernels lack: absent then, and
	// never a failure of the collector.
	Optional bool
	// Scale multiplies a sysctl or netstat value (0 means 1).
	Scale float64
	// Collector emits it, and names its section of docs/metrics.md.
	Collector string
}

const (
	gauge   = prometheus.GaugeValue
	counter = prometheus.CounterValue
)

// Metrics is the table. Rows of one collector stay together.
var Metrics = []Metric{
	// sockets: one sock_diag dump per namespace, aggregated by package model.
	{Name: "timewait_tcp_sockets", Type: gauge, Labels: []string{"family", "state"}, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump, by state", Help: "TCP sockets by address family and state, from the kernel's sock_diag dump (what ss -tan lists)."},
	{Name: "timewait_destination_time_wait_sockets", Type: gauge, Labels: []string{"destination", "name"}, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump, per destination", Help: "Outbound TIME_WAIT sockets towards one remote ip:port, for the configured destinations and the top_n."},
	{Name: "timewait_destination_ephemeral_port_utilization_ratio", Type: gauge, Labels: []string{"destination", "name"}, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump and port sysctls", Help: "Share of the ports connect() can use that the busiest source IP holds towards this ip:port; at 1 connect() fails."},
	{Name: "timewait_ephemeral_port_utilization_max_ratio", Type: gauge, Detail: Always, Collector: "sockets",
		Source: "sock_diag dump and port sysctls; idle: the sockstat bound", Help: "Highest destination port utilisation ratio of this namespace over every flow, exported or not."},
	{Name: "timewait_ephemeral_ports_in_use", Type: gauge, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump and port sysctls", Help: "Distinct ports of the ephemeral pool held by any TCP socket, listeners and TIME_WAIT included."},
	{Name: "timewait_ephemeral_ports_listening", Type: gauge, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump and port sysctls", Help: "Ports of the ephemeral pool with a TCP listener, which connect() never picks."},
	{Name: "timewait_outbound_sockets", Type: gauge, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump and port sysctls", Help: "TCP sockets in any state whose local port is in the ephemeral pool and not listening."},
	{Name: "timewait_outbound_local_ports", Type: gauge, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump and port sysctls", Help: "Distinct local ports of the outbound sockets, which connect() may share between destinations."},
	{Name: "timewait_outbound_max_flow_sockets", Type: gauge, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump and port sysctls", Help: "Most outbound sockets of one (source IP, destination) flow, TIME_WAIT included."},
	{Name: "timewait_local_port_time_wait_sockets", Type: gauge, Labels: []string{"port"}, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump, per listening port", Help: "Server-side TIME_WAIT sockets on one listening port, which cost memory but no ports."},
	{Name: "timewait_time_wait_sockets", Type: gauge, Labels: []string{"direction"}, Detail: Full, Collector: "sockets",
		Source: "sock_diag dump and port sysctls", Help: "TIME_WAIT sockets by direction: outbound (uses up ports), inbound (memory only) or other."},
	{Name: "timewait_pressure_series_dropped", Type: gauge, Labels: []string{"kind"}, Detail: Full, Collector: "sockets",
		Source: "top_n selection", Help: "Destinations or listening ports with TIME_WAIT left out of this scrape by the top_n limits."},
	{Name: "timewait_netns_dump_skipped", Type: gauge, Detail: Always, Collector: "sockets",
		Source: "sockstat and port sysctls (netns.dump: busy)", Help: "1 if this namespace's socket table was not dumped this scrape, its counts being below the warning (netns.dump: busy)."},

	// sockstat: /proc/net/sockstat and sockstat6.
	{Name: "timewait_sockstat_tw_sockets", Type: gauge, Detail: Always, Collector: "sockstat",
		Source: "sockstat TCP tw", Help: "TIME_WAIT and orphaned FIN_WAIT2 mini-sockets of this namespace, both families (/proc/net/sockstat tw)."},
	{Name: "timewait_sockstat_tcp_inuse_sockets", Type: gauge, Labels: []string{"family"}, Detail: NonZero, Collector: "sockstat",
		Source: "sockstat TCP inuse, sockstat6 TCP6 inuse", Help: "TCP sockets in use in this namespace, TIME_WAIT not counted (/proc/net/sockstat inuse)."},
	{Name: "timewait_sockstat_tcp_orphan_sockets", Type: gauge, Detail: Own, Collector: "sockstat",
		Source: "sockstat TCP orphan", Help: "TCP sockets no longer attached to a process, host-wide (/proc/net/sockstat orphan)."},
	{Name: "timewait_sockstat_tcp_alloc_sockets", Type: gauge, Detail: Own, Collector: "sockstat",
		Source: "sockstat TCP alloc", Help: "TCP sockets allocated, host-wide (/proc/net/sockstat alloc)."},
	{Name: "timewait_sockstat_tcp_mem_bytes", Type: gauge, Detail: Own, Collector: "sockstat",
		Source: "sockstat TCP mem × page size", Help: "Memory of TCP socket buffers, host-wide (/proc/net/sockstat mem times the page size)."},

	// netstat: /proc/net/netstat (TcpExt) and /proc/net/snmp (Tcp).
	{Name: "timewait_tcpext_tw_total", Type: counter, Detail: NonZero, Collector: "netstat",
		Source: "netstat TcpExt TW", Help: "Timewait mini-sockets created with a timeout over 4 s: TIME_WAIT and long orphaned FIN_WAIT2 (TcpExt TW)."},
	{Name: "timewait_tcpext_tw_recycled_total", Type: counter, Detail: NonZero, Collector: "netstat",
		Source: "netstat TcpExt TWRecycled", Help: "TIME_WAIT 4-tuples that a new outgoing connection took over (TcpExt TWRecycled)."},
	{Name: "timewait_tcpext_tw_killed_total", Type: counter, Detail: NonZero, Collector: "netstat",
		Source: "netstat TcpExt TWKilled", Help: "Orphaned FIN_WAIT2 mini-sockets created with a timeout of 4 s or less (TcpExt TWKilled)."},
	// Always, not NonZero: a series born at its first overflow would hide
	// that overflow from increase() and the TimeWaitBucketOverflow alert.
	{Name: "timewait_tcpext_tcp_time_wait_overflow_total", Type: counter, Detail: Always, Collector: "netstat",
		Source: "netstat TcpExt TCPTimeWaitOverflow", Help: "Connections closed without TIME_WAIT at tcp_max_tw_buckets or, rarely, out of memory (TcpExt TCPTimeWaitOverflow)."},
	{Name: "timewait_tcp_active_opens_total", Type: counter, Detail: NonZero, Collector: "netstat",
		Source: "snmp Tcp ActiveOpens", Help: "Outgoing TCP connections this namespace opened with connect() (Tcp ActiveOpens)."},
	{Name: "timewait_tcp_passive_opens_total", Type: counter, Detail: NonZero, Collector: "netstat",
		Source: "snmp Tcp PassiveOpens", Help: "Incoming TCP connections this namespace accepted (Tcp PassiveOpens)."},
	{Name: "timewait_tcp_current_established", Type: gauge, Detail: NonZero, Collector: "netstat",
		Source: "snmp Tcp CurrEstab", Help: "TCP connections in ESTABLISHED, and in CLOSE_WAIT on kernels with the 2024 fix (Tcp CurrEstab)."},

	// sysctl: /proc/sys/net/ipv4.
	{Name: "timewait_sysctl_tcp_tw_reuse", Type: gauge, Detail: Differs, Collector: "sysctl",
		Source: "sysctl net.ipv4.tcp_tw_reuse", Help: "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (default), for outgoing connect() with TCP timestamps."},
	{Name: "timewait_sysctl_tcp_tw_reuse_delay_seconds", Type: gauge, Detail: Differs, Collector: "sysctl", Optional: true, Scale: 0.001,
		Source: "sysctl net.ipv4.tcp_tw_reuse_delay", Help: "net.ipv4.tcp_tw_reuse_delay: minimum age of a TIME_WAIT socket before connect() may reuse it (Linux 6.14+)."},
	{Name: "timewait_sysctl_tcp_fin_timeout_seconds", Type: gauge, Detail: Differs, Collector: "sysctl",
		Source: "sysctl net.ipv4.tcp_fin_timeout", Help: "net.ipv4.tcp_fin_timeout: how long an orphaned socket waits in FIN_WAIT2, not the fixed 60 s of TIME_WAIT."},
	// Always: the alerts and rules divide each namespace's tw_sockets by it.
	{Name: "timewait_sysctl_tcp_max_tw_buckets", Type: gauge, Detail: Always, Collector: "sysctl",
		Source: "sysctl net.ipv4.tcp_max_tw_buckets", Help: "net.ipv4.tcp_max_tw_buckets: most timewait sockets of this namespace; beyond it sockets close without TIME_WAIT."},
	{Name: "timewait_sysctl_tcp_ehash_entries", Type: gauge, Detail: Full, Collector: "sysctl", Optional: true,
		Source: "sysctl net.ipv4.tcp_ehash_entries", Help: "net.ipv4.tcp_ehash_entries: size of the TCP hash table TIME_WAIT lives in, negative if shared with the host (6.1+)."},
	{Name: "timewait_sysctl_tcp_timestamps", Type: gauge, Detail: Differs, Collector: "sysctl",
		Source: "sysctl net.ipv4.tcp_timestamps", Help: "net.ipv4.tcp_timestamps: 0 off, 1 on with per-connection offsets, 2 on without offsets."},
	{Name: "timewait_sysctl_tcp_rfc1337", Type: gauge, Detail: Differs, Collector: "sysctl",
		Source: "sysctl net.ipv4.tcp_rfc1337", Help: "net.ipv4.tcp_rfc1337: 1 keeps TIME_WAIT its full 60 s when an RST arrives, 0 lets the RST end it."},
	{Name: "timewait_sysctl_tcp_max_orphans", Type: gauge, Detail: Differs, Collector: "sysctl", Optional: true,
		Source: "sysctl net.ipv4.tcp_max_orphans", Help: "net.ipv4.tcp_max_orphans: most orphaned TCP sockets, host-wide (visible in the initial namespace only)."},
	{Name: "timewait_sysctl_tcp_tw_recycle", Type: gauge, Detail: Differs, Collector: "sysctl", Optional: true,
		Source: "sysctl net.ipv4.tcp_tw_recycle", Help: "net.ipv4.tcp_tw_recycle, removed in Linux 4.12 because it breaks clients behind NAT; should be 0."},
	{Name: "timewait_sysctl_ip_local_port_range_start", Type: gauge, Detail: Differs, Collector: "sysctl",
		Source: "net.ipv4.ip_local_port_range, first", Help: "First port of net.ipv4.ip_local_port_range, the range connect() picks source ports from."},
	{Name: "timewait_sysctl_ip_local_port_range_end", Type: gauge, Detail: Differs, Collector: "sysctl",
		Source: "net.ipv4.ip_local_port_range, last", Help: "Last port of net.ipv4.ip_local_port_range, the range connect() picks source ports from."},
	{Name: "timewait_ephemeral_ports_usable", Type: gauge, Detail: Differs, Collector: "sysctl",
		Source: "net.ipv4.ip_local_port_range minus ip_local_reserved_ports", Help: "Ports of ip_local_port_range minus the ip_local_reserved_ports inside it: the ephemeral pool."},

	// scrape: every collector's outcome, per namespace.
	{Name: "timewait_scrape_collector_duration_seconds", Type: gauge, Labels: []string{"collector"}, Detail: Failing, Collector: "scrape",
		Source: "the exporter's clock", Help: "Time a collector took to read its source during this scrape."},
	{Name: "timewait_scrape_collector_success", Type: gauge, Labels: []string{"collector"}, Detail: Failing, Collector: "scrape",
		Source: "the collector's error", Help: "1 if the collector read its source without error during this scrape, 0 if it failed."},

	// netns: discovery (--netns.discover).
	{Name: "timewait_netns_discovered_namespaces", Type: gauge, Detail: Once, Collector: "netns",
		Source: "/run/netns, /proc/<pid>/ns/net", Help: "Network namespaces found this scrape, before the include/exclude filters and the max_namespaces cap."},
	{Name: "timewait_netns_dropped_namespaces", Type: gauge, Detail: Once, Collector: "netns",
		Source: "netns.max_namespaces", Help: "Network namespaces selected by the filters but not visited this scrape because of netns.max_namespaces."},
	{Name: "timewait_netns_dumps_skipped", Type: gauge, Detail: Once, Collector: "netns",
		Source: "netns.dump: busy", Help: "Namespaces visited this scrape whose socket table was not dumped (netns.dump: busy)."},
	{Name: "timewait_netns_excluded_namespaces", Type: gauge, Detail: Once, Collector: "netns",
		Source: "netns.include, netns.exclude", Help: "Network namespaces left out this scrape by the netns include/exclude filters."},
	{Name: "timewait_netns_info", Type: gauge, Detail: Always, Collector: "netns",
		Labels: []string{"netns", "inode", "pid", "comm", "pod_uid", "pod_namespace", "pod_name"},
		Source: "nsfs, /proc/<pid>/comm and cgroup, --netns.pod-log-dir", Help: "One series per network namespace visited: its label, nsfs inode, lowest pid and its comm, and Kubernetes pod."},
	{Name: "timewait_netns_unreadable_processes", Type: gauge, Detail: Once, Collector: "netns",
		Source: "/proc/<pid>/ns/net", Help: "Processes whose /proc/<pid>/ns/net could not be read this scrape, usually for lack of CAP_SYS_PTRACE."},

	// exporter: main.go's own registry.
	{Name: "timewait_exporter_build_info", Type: gauge, Detail: Once, Collector: "exporter",
		Labels: []string{"version", "revision", "branch", "goversion", "goos", "goarch", "tags"},
		Source: "the build", Help: "Always 1, labelled with the version, revision, branch and Go toolchain the exporter was built from."},
	{Name: "timewait_exporter_config_last_reload_successful", Type: gauge, Detail: Once, Collector: "exporter",
		Source: "--config.file", Help: "1 if the last configuration load or reload succeeded, 0 if it failed and the previous one is still in use."},
	{Name: "timewait_exporter_config_reloads_failed_total", Type: counter, Detail: Once, Collector: "exporter",
		Source: "--config.file", Help: "Configuration reloads that failed, the previous configuration kept in use."},
	{Name: "timewait_exporter_config_last_reload_success_timestamp_seconds", Type: gauge, Detail: Once, Collector: "exporter",
		Source: "--config.file", Help: "Unix time of the last successful configuration load or reload."},
}

// Lookup is the row of the metric called name; it panics on a name the
// table lacks, a programming error the tests catch.
func Lookup(name string) *Metric {
	for i := range Metrics {
		if Metrics[i].Name == name {
			return &Metrics[i]
		}
	}
	panic(fmt.Sprintf("metric %s is not in the table", name))
}

// rowsOf are the rows collector emits, in table order.
func rowsOf(collector string) []*Metric {
	var rows []*Metric
	for i := range Metrics {
		if Metrics[i].Collector == collector {
			rows = append(rows, &Metrics[i])
		}
	}
	return rows
}

// scale is Scale, 1 when unset.
func (m *Metric) scale() float64 {
	if m.Scale == 0 {
		return 1
	}
	return m.Scale
}

// sourceFields are the words of Source after kind ("sysctl", "netstat",
// "snmp"), or nil when Source is not of that form.
func (m *Metric) sourceFields(kinds ...string) []string {
	f := strings.Fields(m.Source)
	for _, k := range kinds {
		if len(f) > 1 && f[0] == k {
			return f
		}
	}
	return nil
}

// desc builds the row's descriptor for an exporter with options o: with
// --netns.discover every metric but those of Detail Once gets the netns
// label of the scope its samples are for (timewait_netns_info has it among
// its own).
func (m *Metric) desc(o Options) typedDesc {
	labels := m.Labels[:len(m.Labels):len(m.Labels)]
	scoped := o.DiscoverNetns && m.Detail != Once && !slices.Contains(labels, NetnsLabel)
	if scoped {
		labels = append(labels, NetnsLabel)
	}
	return typedDesc{desc: prometheus.NewDesc(m.Name, m.Help, labels, nil), row: m, scoped: scoped}
}
