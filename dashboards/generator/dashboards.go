package main

import "strings"

// Label selectors. netns=~"$netns" with the All value ".*" also matches
// series that have no netns label (namespace discovery off), so one
// dashboard serves both modes.
const (
	selHost = `job=~"$job",instance=~"$instance"`
	sel     = selHost + `,netns=~"$netns"`
)

// s puts the selector into a query template: {S} -> {sel}, {H} -> {selHost}.
func s(q string) string {
	return strings.NewReplacer("{S}", "{"+sel+"}", "{S,", "{"+sel+",", "{H}", "{"+selHost+"}").Replace(q)
}

// nsLabel names the namespace "(host)" when the netns label is absent.
func nsLabel(q string) string {
	return `label_replace(` + q + `, "netns", "(exporter's own)", "netns", "")`
}

const (
	runbook = "https://github.com/timewait-exporter/timewait_exporter/blob/main/docs/runbook.md"
	hostUID = "timewait-host"
)

// Thresholds shared with the alert defaults in deploy/prometheus/rules/config.yml.
var (
	utilTh   = steps("green", 0.8, "orange", 0.95, "red")
	bucketTh = steps("green", 0.8, "orange", 0.95, "red")
)

func commonVars(d *Dashboard, multiInstance bool) {
	d.datasourceVar()
	d.queryVar("job", "Job", "Prometheus job(s) scraping timewait_exporter.",
		`label_values(timewait_exporter_build_info, job)`, true, true, ".+")
	if multiInstance {
		d.queryVar("instance", "Instance", "Hosts (exporter instances) to show.",
			`label_values(timewait_exporter_build_info{job=~"$job"}, instance)`, true, true, ".+")
	} else {
		d.queryVar("instance", "Instance", "The host (exporter instance) to drill into.",
			`label_values(timewait_exporter_build_info{job=~"$job"}, instance)`, false, false, "")
	}
	d.queryVar("netns", "Namespace",
		"Network namespace (only with the exporter's namespace discovery on). All matches series with and without a netns label.",
		`label_values(timewait_sockstat_tw_sockets{job=~"$job",instance=~"$instance"}, netns)`, true, true, ".*")
}

func hostLink(title string) obj {
	return obj{"title": title, "url": "/d/" + hostUID + "/?${datasource:queryparam}&${job:queryparam}&var-instance=${__field.labels.instance}&${__url_time_range}"}
}

func withLink(p *Panel, l obj) *Panel {
	p.FieldConfig["defaults"].(obj)["links"] = []obj{l}
	return p
}

func overview() *Dashboard {
	d := newDashboard("timewait-overview", "TIME_WAIT / Overview",
		"TIME_WAIT and ephemeral-port pressure across hosts, from timewait_exporter. Click a host in a graph to drill down.")
	commonVars(d, true)

	d.row("Now")
	d.add(stat("Worst ephemeral-port utilisation",
		"Highest timewait_ephemeral_port_utilization_max_ratio over the selected hosts: the busiest (source IP, destination) pair's share of the ephemeral ports connect() can use (usable ports minus those listeners own). At 100% new connect() calls to that destination fail with EADDRNOTAVAIL. Alerts: warning above 80% for 5m, critical above 95% for 2m.",
		"percentunit", utilTh, instantQ(s(`max(timewait_ephemeral_port_utilization_max_ratio{S})`), "")), 6, 4)
	d.add(stat("Worst TIME_WAIT bucket utilisation",
		"Highest share of net.ipv4.tcp_max_tw_buckets in use (sockstat tw / tcp_max_tw_buckets, per network namespace). At 100% the kernel closes new sockets without TIME_WAIT.",
		"percentunit", bucketTh, instantQ(s(`max(timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))`), "")), 6, 4)
	d.add(stat("TIME_WAIT sockets",
		"Sum of /proc/net/sockstat tw over the selected hosts and namespaces: TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets, IPv4 and IPv6.",
		"short", steps("blue"), instantQ(s(`sum(timewait_sockstat_tw_sockets{S})`), "")), 4, 4)
	d.add(stat("Closed without TIME_WAIT",
		"Sockets per second the kernel closed without TIME_WAIT because tcp_max_tw_buckets was reached (TcpExt TCPTimeWaitOverflow). Anything above 0 means lost TIME_WAIT protection.",
		"ops", steps("green", 1e-9, "red"), instantQ(s(`sum(rate(timewait_tcpext_tcp_time_wait_overflow_total{S}[$__rate_interval]))`), "")), 4, 4)
	d.add(stat("Collectors failing",
		"Number of timewait_exporter collectors whose last scrape failed (timewait_scrape_collector_success == 0). Their metrics are missing from every panel.",
		"short", steps("green", 1, "red"), instantQ(s(`count(timewait_scrape_collector_success{H} == 0) or vector(0)`), "")), 4, 4)

	d.row("TIME_WAIT")
	d.add(withLink(timeseries("TIME_WAIT per host",
		"TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets per host (/proc/net/sockstat tw, summed over namespaces). TIME_WAIT lasts a fixed 60 s unless reuse, an RST (tcp_rfc1337=0) or an accepted SYN ends it early (tcp_timewait_state_process), so this is at most about 60 × the rate of actively closed connections.",
		"short", false, rangeQ(s(`sum by (instance) (timewait_sockstat_tw_sockets{S})`), "{{instance}}")), hostLink("Drill down into ${__field.labels.instance}")), 12, 8)
	d.add(timeseries("TIME_WAIT by direction",
		"TIME_WAIT sockets by who they belong to: outbound (this host connected out and closed first; these hold ephemeral ports), inbound (local port is a listening port: server-side, costs memory only), other.",
		"short", true, rangeQ(s(`sum by (direction) (timewait_time_wait_sockets{S})`), "{{direction}}")), 12, 8)
	d.add(withLink(timeseries("Close rate (TcpExt TW)",
		"Timewait mini-sockets created per second with a timeout over 4 s (TcpExt TW, __inet_twsk_schedule): TIME_WAIT sockets and orphaned FIN_WAIT2 ones with a longer timeout. This rate × 60 s is an upper bound of the TIME_WAIT count: reuse, an RST (tcp_rfc1337=0) or an accepted SYN ends TIME_WAIT early (tcp_timewait_state_process). A rise here is what TimeWaitSpike catches.",
		"ops", false, rangeQ(s(`sum by (instance) (rate(timewait_tcpext_tw_total{S}[$__rate_interval]))`), "{{instance}}")), hostLink("Drill down into ${__field.labels.instance}")), 12, 8)
	d.add(timeseries("Overflow and reuse rates",
		"Per second: sockets closed without TIME_WAIT at the tcp_max_tw_buckets limit (TcpExt TCPTimeWaitOverflow; should be 0) and TIME_WAIT 4-tuples taken over by a new outgoing connection (TcpExt TWRecycled; needs TCP timestamps, and tcp_tw_reuse on a port connect() picks, but not on a port the program bound explicitly: tcp_twsk_unique).",
		"ops", false,
		rangeQ(s(`sum by (instance) (rate(timewait_tcpext_tcp_time_wait_overflow_total{S}[$__rate_interval]))`), "{{instance}} closed without TIME_WAIT"),
		rangeQ(s(`sum by (instance) (rate(timewait_tcpext_tw_recycled_total{S}[$__rate_interval]))`), "{{instance}} reused by connect()")), 12, 8)

	d.row("Limits")
	d.add(withLink(withMax(withThresholdLines(timeseries("Max ephemeral-port utilisation per host",
		"Per host, the busiest destination's share of the ephemeral ports connect() can use from one source IP (usable ports minus those listeners own) (timewait_ephemeral_port_utilization_max_ratio). Exhaustion is per (source IP, destination IP, destination port). Dashed lines: alert thresholds.",
		"percentunit", false, rangeQ(s(`max by (instance) (timewait_ephemeral_port_utilization_max_ratio{S})`), "{{instance}}")), utilTh), 1), hostLink("Drill down into ${__field.labels.instance}")), 12, 8)
	d.add(withMax(withThresholdLines(timeseries("TIME_WAIT bucket utilisation",
		"sockstat tw / net.ipv4.tcp_max_tw_buckets per host and namespace. Both are per network namespace. Raise the limit rather than lower it: a TIME_WAIT mini-socket costs about 256 bytes, and far past half of tcp_ehash_entries (the default limit) its longer established-hash chains also cost lookup CPU (__inet_lookup_established).",
		"percentunit", false, rangeQ(s(`max by (instance, netns) (timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))`), "{{instance}} {{netns}}")), bucketTh), 1), 12, 8)

	d.row("Kernel settings")
	by := "max by (instance, netns) "
	absent := func(m string) string {
		// -1 marks a sysctl the kernel (or namespace) does not have.
		return s(by + `(` + m + `{S}) or (` + by + `(timewait_sysctl_tcp_timestamps{S}) * 0 - 1)`)
	}
	d.add(table("Current TIME_WAIT sysctls",
		"Current values per host and network namespace. Highlighted: TCP timestamps off (tcp_tw_reuse and PAWS need them), tcp_tw_reuse_delay below its 1 s default, tcp_tw_recycle on (removed in Linux 4.12), few usable ephemeral ports, bucket use near the limit. tcp_fin_timeout only limits orphaned FIN_WAIT2 sockets; TIME_WAIT is fixed at 60 s.",
		[]string{"instance", "netns"},
		[]column{
			{name: "tcp_tw_reuse", expr: s(by + `(timewait_sysctl_tcp_tw_reuse{S})`),
				maps: valueMap([3]string{"0", "0 (off)", "orange"}, [3]string{"1", "1 (on)", "green"}, [3]string{"2", "2 (loopback only)", ""}),
				desc: "Only affects outgoing connect(), and only with TCP timestamps. 2 = loopback only (default)."},
			{name: "tw_reuse_delay", expr: absent("timewait_sysctl_tcp_tw_reuse_delay_seconds"), unit: "s",
				th:   steps("transparent", 0, "orange", 1, "transparent"),
				maps: valueMap([3]string{"-1", "not supported (before 6.14)", ""}),
				desc: "Minimum TIME_WAIT age before reuse (default 1 s; the sysctl exists from Linux 6.14, older kernels use about 1 s). Below a peer's timestamp tick it defeats PAWS."},
			{name: "tcp_timestamps", expr: s(by + `(timewait_sysctl_tcp_timestamps{S})`),
				maps: valueMap([3]string{"0", "0 (off)", "red"}, [3]string{"1", "1 (on)", "green"}, [3]string{"2", "2 (on, no offset)", "green"})},
			{name: "tcp_tw_recycle", expr: absent("timewait_sysctl_tcp_tw_recycle"),
				maps: valueMap([3]string{"-1", "removed (Linux ≥ 4.12)", ""}, [3]string{"0", "0 (off)", ""}, [3]string{"1", "1 (on: breaks NAT clients)", "red"})},
			{name: "tcp_fin_timeout", expr: s(by + `(timewait_sysctl_tcp_fin_timeout_seconds{S})`), unit: "s",
				desc: "Limits orphaned FIN_WAIT2 sockets only. Does not shorten TIME_WAIT (fixed 60 s)."},
			{name: "tcp_max_tw_buckets", expr: s(by + `(timewait_sysctl_tcp_max_tw_buckets{S})`), unit: "short"},
			{name: "bucket use", expr: s(by + `(timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))`), unit: "percentunit",
				th: steps("transparent", 0.8, "orange", 0.95, "red")},
			{name: "tcp_rfc1337", expr: s(by + `(timewait_sysctl_tcp_rfc1337{S})`),
				maps: valueMap([3]string{"0", "0 (RST may end TIME_WAIT)", ""}, [3]string{"1", "1 (RFC 1337)", ""})},
			{name: "port range start", expr: s(by + `(timewait_sysctl_ip_local_port_range_start{S})`), unit: "none"},
			{name: "port range end", expr: s(by + `(timewait_sysctl_ip_local_port_range_end{S})`), unit: "none"},
			{name: "usable ephemeral ports", expr: s(by + `(timewait_ephemeral_ports_usable{S})`), unit: "short",
				th:   steps("red", 5000, "orange", 16384, "transparent"),
				desc: "ip_local_port_range minus ip_local_reserved_ports. Default 28232."},
			{name: "tcp_max_orphans", expr: absent("timewait_sysctl_tcp_max_orphans"), unit: "short",
				maps: valueMap([3]string{"-1", "n/a (not the initial netns)", ""})},
		}), 24, 8)
	return d.finish()
}

func host() *Dashboard {
	d := newDashboard(hostUID, "TIME_WAIT / Host drill-down",
		"One host's TCP socket states, busiest destinations, listening ports with server-side TIME_WAIT, and per-namespace breakdown, from timewait_exporter.")
	commonVars(d, false)

	d.row("Now")
	d.add(stat("Ephemeral-port utilisation",
		"The busiest destination's share of the ephemeral ports connect() can use from one source IP (usable ports minus those listeners own) (timewait_ephemeral_port_utilization_max_ratio; worst namespace). At 100% new connect() calls to it fail with EADDRNOTAVAIL.",
		"percentunit", utilTh, instantQ(s(`max(timewait_ephemeral_port_utilization_max_ratio{S})`), "")), 5, 4)
	d.add(stat("TIME_WAIT sockets",
		"/proc/net/sockstat tw summed over the selected namespaces: TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets, IPv4 and IPv6.",
		"short", steps("blue"), instantQ(s(`sum(timewait_sockstat_tw_sockets{S})`), "")), 5, 4)
	d.add(stat("Established + CLOSE_WAIT",
		"TCP connections in ESTABLISHED or CLOSE_WAIT (/proc/net/snmp Tcp CurrEstab: tcp_set_state counts a connection until it leaves both), summed over the selected namespaces.",
		"short", steps("blue"), instantQ(s(`sum(timewait_tcp_current_established{S})`), "")), 5, 4)
	d.add(stat("Usable ephemeral ports",
		"Ports in net.ipv4.ip_local_port_range minus ip_local_reserved_ports (lowest over the selected namespaces). Default 28232.",
		"short", steps("red", 5000, "orange", 16384, "green"), instantQ(s(`min(timewait_ephemeral_ports_usable{S})`), "")), 5, 4)
	d.add(stat("Pressure series dropped",
		"Destinations and listening ports left out of the per-destination and per-port metrics by the exporter's top-N caps in the last scrape. Above 0: the tables below are not complete.",
		"short", steps("green", 1, "orange"), instantQ(s(`sum(timewait_pressure_series_dropped{S})`), "")), 4, 4)

	d.row("Socket states")
	d.add(timeseries("TCP sockets by state, IPv4",
		"IPv4 sockets per TCP state from the sock_diag netlink dump (what ss -tan shows), stacked. Orphaned FIN_WAIT2 mini-sockets show as fin_wait2 here, while sockstat tw counts them with TIME_WAIT. new_syn_recv stays 0: the kernel reports request sockets as syn_recv (tcp_req_diag_fill).",
		"short", true, rangeQ(s(`sum by (state) (timewait_tcp_sockets{S,family="ipv4"})`), "{{state}}")), 8, 9)
	d.add(timeseries("TCP sockets by state, IPv6",
		"IPv6 sockets per TCP state from the sock_diag netlink dump (what ss -tan shows), stacked. new_syn_recv stays 0: the kernel reports request sockets as syn_recv (tcp_req_diag_fill).",
		"short", true, rangeQ(s(`sum by (state) (timewait_tcp_sockets{S,family="ipv6"})`), "{{state}}")), 8, 9)
	d.add(timeseries("sockstat",
		"/proc/net/sockstat: tw (TIME_WAIT + orphaned FIN_WAIT2 mini-sockets, per namespace), TCP in use per family (per namespace), orphans and allocated sockets (host-wide: exported once, under the exporter's own namespace, whatever namespace is selected).",
		"short", false,
		rangeQ(s(`sum(timewait_sockstat_tw_sockets{S})`), "tw"),
		rangeQ(s(`sum by (family) (timewait_sockstat_tcp_inuse_sockets{S})`), "inuse {{family}}"),
		rangeQ(s(`max(timewait_sockstat_tcp_orphan_sockets{H})`), "orphan"),
		rangeQ(s(`max(timewait_sockstat_tcp_alloc_sockets{H})`), "alloc")), 8, 9)
	d.add(timeseries("Connection and TIME_WAIT rates",
		"Per second: connections opened by this host (Tcp ActiveOpens) and accepted (PassiveOpens); timewait mini-sockets created with a timeout over 4 s, i.e. TIME_WAIT and long-lived orphaned FIN_WAIT2 (TcpExt TW); TIME_WAIT 4-tuples taken over by a new connection (TWRecycled); orphaned FIN_WAIT2 mini-sockets created with 4 s or less, never TIME_WAIT (TWKilled, __inet_twsk_schedule); closed without TIME_WAIT at the bucket limit (TCPTimeWaitOverflow).",
		"ops", false,
		rangeQ(s(`sum(rate(timewait_tcp_active_opens_total{S}[$__rate_interval]))`), "active opens"),
		rangeQ(s(`sum(rate(timewait_tcp_passive_opens_total{S}[$__rate_interval]))`), "passive opens"),
		rangeQ(s(`sum(rate(timewait_tcpext_tw_total{S}[$__rate_interval]))`), "timewait > 4 s (TW)"),
		rangeQ(s(`sum(rate(timewait_tcpext_tw_recycled_total{S}[$__rate_interval]))`), "reused by connect()"),
		rangeQ(s(`sum(rate(timewait_tcpext_tw_killed_total{S}[$__rate_interval]))`), "FIN_WAIT2 ≤ 4 s (TWKilled)"),
		rangeQ(s(`sum(rate(timewait_tcpext_tcp_time_wait_overflow_total{S}[$__rate_interval]))`), "closed without TIME_WAIT")), 12, 8)
	d.add(timeseries("TCP memory",
		"Memory used by TCP buffers (/proc/net/sockstat mem; host-wide, whatever namespace is selected).",
		"bytes", false, rangeQ(s(`max(timewait_sockstat_tcp_mem_bytes{H})`), "tcp mem")), 12, 8)

	d.row("Destinations (outbound)")
	d.add(table("Top destinations",
		"Destinations with the highest ephemeral-port utilisation: the busiest source IP's share of the ephemeral ports connect() can use towards that ip:port (usable ports minus those listeners own), and its TIME_WAIT sockets. Exhaustion is per (source IP, destination IP, destination port); name comes from the exporter's configuration.",
		[]string{"netns", "destination", "name"},
		[]column{
			{name: "port utilisation", expr: s(`topk(20, max by (netns, destination, name) (timewait_destination_ephemeral_port_utilization_ratio{S}))`),
				unit: "percentunit", th: steps("transparent", 0.8, "orange", 0.95, "red")},
			{name: "TIME_WAIT", expr: s(`topk(20, max by (netns, destination, name) (timewait_destination_time_wait_sockets{S}))`), unit: "short"},
		}), 12, 9)
	d.add(withMax(withThresholdLines(timeseries("Ephemeral-port utilisation by destination",
		"The 10 busiest destinations' ephemeral-port utilisation over time. Dashed lines: alert thresholds (80%, 95%).",
		"percentunit", false, rangeQ(s(`topk(10, max by (destination, name) (timewait_destination_ephemeral_port_utilization_ratio{S}))`), "{{destination}} {{name}}")), utilTh), 1), 12, 9)
	d.add(timeseries("TIME_WAIT by destination",
		"TIME_WAIT sockets towards the 10 busiest destinations (client side: this host closed first).",
		"short", false, rangeQ(s(`topk(10, max by (destination, name) (timewait_destination_time_wait_sockets{S}))`), "{{destination}} {{name}}")), 12, 8)
	d.add(timeseries("TIME_WAIT by direction",
		"Outbound TIME_WAIT holds ephemeral ports; inbound (server-side, local port is a listening port) costs memory only and tcp_tw_reuse does not apply to it.",
		"short", true, rangeQ(s(`sum by (direction) (timewait_time_wait_sockets{S})`), "{{direction}}")), 12, 8)

	d.row("Listening ports (inbound)")
	d.add(timeseries("Server-side TIME_WAIT per listening port",
		"TIME_WAIT sockets whose local port is a listening port (this host's server closed first), top ports. They cost memory only; the fix, if wanted, is letting clients close first (keep-alive).",
		"short", false, rangeQ(s(`topk(10, sum by (port) (timewait_local_port_time_wait_sockets{S}))`), "port {{port}}")), 24, 8)

	d.row("Network namespaces")
	d.add(table("Per-namespace breakdown",
		"Per network namespace (with the exporter's namespace discovery on; otherwise one row for the exporter's own namespace): TIME_WAIT, connections in ESTABLISHED or CLOSE_WAIT (CurrEstab), worst ephemeral-port utilisation and bucket use; pid and comm of a process in it when known.",
		[]string{"netns", "pid", "comm"},
		[]column{
			{name: "TIME_WAIT", expr: nsLabel(s(`(sum by (netns) (timewait_sockstat_tw_sockets{S}) * on (netns) group_left (pid, comm) max by (netns, pid, comm) (topk by (netns) (1, timewait_netns_info{H}))) or on (netns) sum by (netns) (timewait_sockstat_tw_sockets{S})`)), unit: "short"},
			{name: "established + close_wait", expr: nsLabel(s(`sum by (netns) (timewait_tcp_current_established{S})`)), unit: "short",
				desc: "Tcp CurrEstab: connections in ESTABLISHED or CLOSE_WAIT (tcp_set_state)."},
			{name: "port utilisation", expr: nsLabel(s(`max by (netns) (timewait_ephemeral_port_utilization_max_ratio{S})`)), unit: "percentunit",
				th: steps("transparent", 0.8, "orange", 0.95, "red")},
			{name: "bucket use", expr: nsLabel(s(`max by (netns) (timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))`)), unit: "percentunit",
				th: steps("transparent", 0.8, "orange", 0.95, "red")},
		}), 12, 8)
	d.add(timeseries("TIME_WAIT per namespace",
		"sockstat tw per network namespace, stacked. \"(exporter's own)\": series without a netns label (namespace discovery off).",
		"short", true, rangeQ(nsLabel(s(`sum by (netns) (timewait_sockstat_tw_sockets{S})`)), "{{netns}}")), 12, 8)

	d.row("Exporter")
	d.add(timeseries("Collector duration",
		"Time each timewait_exporter collector took in the last scrapes. See the runbook for TimeWaitExporterCollectorFailing.",
		"s", false, rangeQ(s(`max by (collector) (timewait_scrape_collector_duration_seconds{H})`), "{{collector}}")), 12, 7)
	d.add(timeseries("Collector success",
		"1 when a collector's last scrape succeeded, 0 when it failed (its metrics are then missing).",
		"short", false, rangeQ(s(`min by (collector) (timewait_scrape_collector_success{H})`), "{{collector}}")), 12, 7)
	return d.finish()
}
