// SPDX-License-Identifier: Apache-2.0

// TIME_WAIT / Host drill-down: one host in detail.
local g = import '../lib/grafana.libsonnet';

function(c)
  local k = (import 'common.libsonnet').new(c);
  local s = k.s;
  // Every aggregation and join keys on the host (cluster, job, instance),
  // and the namespace where it has one: with several clusters selected, two
  // clusters' hosts of the same name stay apart.
  local host = c.hostLabels, ns = c.netnsLabels;
  local top(n, m) = s('topk(' + n + ', max by (%s, destination, name) (' % host + m + '{S}))');
  // one set of rows: the TIME_WAIT column is for the same 20 destinations
  local topDest = 'topk(20, max by (%s, destination, name) (timewait_destination_ephemeral_port_utilization_ratio{S}))' % ns;
  local runbook = g.withPanelLinks([k.runbookLink('TimeWaitEphemeralPortsExhausting')]);
  // TIME_WAIT per namespace, labelled with a process in it (pid, comm) and
  // its pod ("namespace/name", or "uid <UID>" when only the UID is known;
  // instance_netns:timewait_pod:info from the mixin's pod rules), each join
  // with a fallback without it. topk by the namespace's labels keeps one series a
  // namespace, so a join can never fail on duplicates. "uid <UID>" is built
  // with label_join: a "$1" would read as a Grafana variable.
  local nsTW = 'sum by (%s) (timewait_sockstat_tw_sockets{S})' % ns;
  local withProc = '(%s * on (%s) group_left (pid, comm) max by (%s, pid, comm) (topk by (%s) (1, timewait_netns_info{H})))\nor on (%s) %s' % [nsTW, ns, ns, ns, ns, nsTW];
  local podName = 'topk by (%s) (1, max by (%s, pod) (\n    label_join(instance_netns:timewait_pod:info{H,pod!=""}, "pod", "/", "namespace", "pod")\n  or label_join(label_replace(instance_netns:timewait_pod:info{H,pod=""}, "word", "uid", "", ""), "pod", " ", "word", "pod_uid")\n))' % [ns, ns];
  // inWorstPool(m): m of the namespace whose pool is fullest, so that the
  // pool panel's lines come from one namespace.
  local inWorstPool(m) = 'max by (%s) (%s{S} and on (%s) topk by (%s) (1, timewait_ephemeral_ports_in_use{S} / timewait_ephemeral_ports_usable{S}))' % [host, m, ns, host];
  local nsTWNamed = '((%s)\n* on (%s) group_left (pod) %s)\nor on (%s) (%s)' % [withProc, ns, podName, ns, withProc];
  local sumH = 'sum by (%s) ' % host, maxH = 'max by (%s) ' % host, minH = 'min by (%s) ' % host;
  g.dashboard(
    c.grafana.hostUID,
    c.grafana.titlePrefix + 'Host drill-down',
    "One host's TCP socket states, busiest destinations, listening ports with server-side TIME_WAIT, and per-namespace breakdown, from timewait_exporter.",
    c.grafana.tags,
    k.vars(false),
    [
      g.row('Now'),
      [g.stat('Ephemeral-port utilisation',
              "The busiest destination's share of the ephemeral ports connect() can use from one source IP (usable ports minus those listeners own, minus one for an odd-sized range) (timewait_ephemeral_port_utilization_max_ratio; worst namespace). At 100% new connect() calls to it fail with EADDRNOTAVAIL.",
              'percentunit',
              k.utilTh,
              g.instantQ(s(maxH + '(timewait_ephemeral_port_utilization_max_ratio{S})'))) + runbook, 5, 4],
      [g.stat('TIME_WAIT sockets',
              '/proc/net/sockstat tw summed over the selected namespaces: TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets, IPv4 and IPv6.',
              'short',
              g.steps('blue'),
              g.instantQ(s(sumH + '(timewait_sockstat_tw_sockets{S})'))), 5, 4],
      [g.stat('Established + CLOSE_WAIT',
              'TCP connections in ESTABLISHED, and in CLOSE_WAIT on kernels with the 2024 tcp_set_state fix (Linux 6.10 and the stable kernels that took it) (/proc/net/snmp Tcp CurrEstab), summed over the selected namespaces.',
              'short',
              g.steps('blue'),
              g.instantQ(s(sumH + '(timewait_tcp_current_established{S})'))), 5, 4],
      [g.stat('Usable ephemeral ports',
              'Ports in net.ipv4.ip_local_port_range minus ip_local_reserved_ports (lowest over the selected namespaces). Default 28232.',
              'short',
              g.steps('red', [5000, 'orange', 16384, 'green']),
              g.instantQ(s(minH + '(timewait_ephemeral_ports_usable{S})'))), 5, 4],
      [g.stat('Pressure series dropped',
              "Destinations and listening ports left out of the per-destination and per-port metrics by the exporter's top-N caps in the last scrape. Above 0: the tables below are not complete.",
              'short',
              g.steps('green', [1, 'orange']),
              g.instantQ(s(sumH + '(timewait_pressure_series_dropped{S})'))), 4, 4],

      g.row('Socket states'),
      [g.timeseries('TCP sockets by state, IPv4',
                    'IPv4 sockets per TCP state from the sock_diag netlink dump (what ss -tan shows), stacked. Orphaned FIN_WAIT2 mini-sockets show as fin_wait2 here, while sockstat tw counts them with TIME_WAIT. new_syn_recv stays 0: the kernel reports request sockets as syn_recv (tcp_req_diag_fill).',
                    'short',
                    true,
                    [g.rangeQ(s('sum by (' + host + ', state) (timewait_tcp_sockets{S,family="ipv4"})'), '{{state}}')]), 8, 9],
      [g.timeseries('TCP sockets by state, IPv6',
                    'IPv6 sockets per TCP state from the sock_diag netlink dump (what ss -tan shows), stacked. new_syn_recv stays 0: the kernel reports request sockets as syn_recv (tcp_req_diag_fill).',
                    'short',
                    true,
                    [g.rangeQ(s('sum by (' + host + ', state) (timewait_tcp_sockets{S,family="ipv6"})'), '{{state}}')]), 8, 9],
      [g.timeseries('sockstat',
                    "/proc/net/sockstat: tw (TIME_WAIT + orphaned FIN_WAIT2 mini-sockets, per namespace), TCP in use per family (per namespace), orphans and allocated sockets (host-wide: exported once, under the exporter's own namespace, whatever namespace is selected).",
                    'short',
                    false,
                    [
                      g.rangeQ(s(sumH + '(timewait_sockstat_tw_sockets{S})'), 'tw'),
                      g.rangeQ(s('sum by (' + host + ', family) (timewait_sockstat_tcp_inuse_sockets{S})'), 'inuse {{family}}'),
                      g.rangeQ(s(maxH + '(timewait_sockstat_tcp_orphan_sockets{H})'), 'orphan'),
                      g.rangeQ(s(maxH + '(timewait_sockstat_tcp_alloc_sockets{H})'), 'alloc'),
                    ]), 8, 9],
      [g.timeseries('Connection and TIME_WAIT rates',
                    'Per second: connections opened by this host (Tcp ActiveOpens) and accepted (PassiveOpens); timewait mini-sockets created with a timeout over 4 s, i.e. TIME_WAIT and long-lived orphaned FIN_WAIT2 (TcpExt TW); TIME_WAIT 4-tuples taken over by a new connection (TWRecycled); orphaned FIN_WAIT2 mini-sockets created with 4 s or less (TWKilled, __inet_twsk_schedule); closed without TIME_WAIT at the bucket limit or, rarely, short of memory (TCPTimeWaitOverflow).',
                    'ops',
                    false,
                    [
                      g.rangeQ(s(sumH + '(rate(timewait_tcp_active_opens_total{S}[$__rate_interval]))'), 'active opens'),
                      g.rangeQ(s(sumH + '(rate(timewait_tcp_passive_opens_total{S}[$__rate_interval]))'), 'passive opens'),
                      g.rangeQ(s(sumH + '(rate(timewait_tcpext_tw_total{S}[$__rate_interval]))'), 'timewait > 4 s (TW)'),
                      g.rangeQ(s(sumH + '(rate(timewait_tcpext_tw_recycled_total{S}[$__rate_interval]))'), 'reused by connect()'),
                      g.rangeQ(s(sumH + '(rate(timewait_tcpext_tw_killed_total{S}[$__rate_interval]))'), 'FIN_WAIT2 ≤ 4 s (TWKilled)'),
                      g.rangeQ(s(sumH + '(rate(timewait_tcpext_tcp_time_wait_overflow_total{S}[$__rate_interval]))'), 'closed without TIME_WAIT'),
                    ]), 12, 8],
      [g.timeseries('TCP memory',
                    'Memory used by TCP buffers (/proc/net/sockstat mem; host-wide, whatever namespace is selected).',
                    'bytes',
                    false,
                    [g.rangeQ(s(maxH + '(timewait_sockstat_tcp_mem_bytes{H})'), 'tcp mem')]), 12, 8],

      g.row('Destinations (outbound)'),
      [g.table('Top destinations',
               "The 20 destinations with the highest ephemeral-port utilisation, worst first: the busiest source IP's share of the ephemeral ports connect() can use towards that ip:port (usable ports minus those listeners own, minus one for an odd-sized range), and the TIME_WAIT sockets towards the same destinations. Exhaustion is per (source IP, destination IP, destination port); name comes from the exporter's configuration.",
               ['netns', 'destination', 'name'],
               [
                 g.column('port utilisation',
                          s(topDest),
                          unit='percentunit',
                          th=k.utilCells),
                 g.column('TIME_WAIT', s('max by (%s, destination, name) (timewait_destination_time_wait_sockets{S}) and on (%s, destination, name) ' % [ns, ns] + topDest), unit='short'),
               ]) + g.withSort('port utilisation') + runbook, 12, 9],
      [g.timeseries('Ephemeral-port utilisation by destination',
                    "The 10 busiest destinations' ephemeral-port utilisation over time. Dashed lines: alert thresholds (" + k.pct(c.ephemeralPorts.warningRatio) + ', ' + k.pct(c.ephemeralPorts.criticalRatio) + ').',
                    'percentunit',
                    false,
                    [g.rangeQ(top(10, 'timewait_destination_ephemeral_port_utilization_ratio'), '{{destination}} {{name}}')])
       + g.withThresholdLines(k.utilTh) + g.withMax(1), 12, 9],
      [g.timeseries('TIME_WAIT by destination',
                    'TIME_WAIT sockets towards the 10 busiest destinations (client side: this host closed first).',
                    'short',
                    false,
                    [g.rangeQ(top(10, 'timewait_destination_time_wait_sockets'), '{{destination}} {{name}}')]), 12, 8],
      [g.timeseries('TIME_WAIT by direction',
                    'Outbound TIME_WAIT holds ephemeral ports; inbound (server-side, local port is a listening port) costs memory only and tcp_tw_reuse does not apply to it.',
                    'short',
                    true,
                    [g.rangeQ(s('sum by (' + host + ', direction) (timewait_time_wait_sockets{S})'), '{{direction}}')]), 12, 8],
      [g.timeseries('Ephemeral pool: ports held and shared',
                    "The whole pool of the namespace with the fullest pool: usable ports, distinct ports held by any socket, the outbound sockets with their distinct local ports, and the sockets of the busiest (source IP, destination) flow. connect() lets destinations share a port, so on a busy pool the sockets outnumber their ports; held ports near usable, one port per socket, and more than ' + k.pct(c.ephemeralPool.excessMin) + ' of the usable ports beyond the busiest flow's sockets: bind() before connect() is taking the pool (TimeWaitEphemeralPoolExhausting), and connect() to every destination then fails.",
                    'short',
                    false,
                    [
                      g.rangeQ(s(inWorstPool('timewait_ephemeral_ports_usable')), 'usable'),
                      g.rangeQ(s(inWorstPool('timewait_ephemeral_ports_in_use')), 'held (any socket)'),
                      g.rangeQ(s(inWorstPool('timewait_outbound_sockets')), 'outbound sockets'),
                      g.rangeQ(s(inWorstPool('timewait_outbound_local_ports')), 'their local ports'),
                      g.rangeQ(s(inWorstPool('timewait_outbound_max_flow_sockets')), 'busiest flow'),
                    ]) + g.withPanelLinks([k.runbookLink('TimeWaitEphemeralPoolExhausting')]), 24, 8],

      g.row('Listening ports (inbound)'),
      [g.timeseries('Server-side TIME_WAIT per listening port',
                    "TIME_WAIT sockets whose local port is a listening port (this host's server closed first), top ports. They cost memory only; the fix, if wanted, is letting clients close first (keep-alive).",
                    'short',
                    false,
                    [g.rangeQ(s('topk(10, sum by (' + host + ', port) (timewait_local_port_time_wait_sockets{S}))'), 'port {{port}}')]), 24, 8],

      g.row('Network namespaces'),
      [g.table('Per-namespace breakdown',
               "Per network namespace (with the exporter's namespace discovery on; otherwise one row for the exporter's own namespace): TIME_WAIT, connections in ESTABLISHED (and CLOSE_WAIT on kernels with the 2024 tcp_set_state fix: CurrEstab), worst ephemeral-port utilisation and bucket use; the Kubernetes pod (namespace/name, or its UID when only that is known) and the pid and comm of a process in it when known.",
               ['netns', 'pod', 'pid', 'comm'],
               [
                 g.column('TIME_WAIT', k.nsLabel(s(nsTWNamed)), unit='short'),
                 g.column('established + close_wait',
                          k.nsLabel(s('sum by (' + ns + ') (timewait_tcp_current_established{S}) or sum by (' + ns + ') (timewait_sockstat_tw_sockets{S}) * 0')),
                          unit='short',
                          desc='Tcp CurrEstab: connections in ESTABLISHED, and in CLOSE_WAIT on kernels with the 2024 tcp_set_state fix (Linux 6.10, stable backports).'),
                 g.column('port utilisation',
                          k.nsLabel(s('max by (' + ns + ') (timewait_ephemeral_port_utilization_max_ratio{S})')),
                          unit='percentunit',
                          th=k.utilCells),
                 g.column('bucket use',
                          k.nsLabel(s('max by (' + ns + ') (timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))')),
                          unit='percentunit',
                          th=k.bucketCells),
               ]), 12, 8],
      [g.timeseries('TIME_WAIT per namespace',
                    'sockstat tw per network namespace, stacked. "(exporter\'s own)": series without a netns label (namespace discovery off).',
                    'short',
                    true,
                    [g.rangeQ(k.nsLabel(s('sum by (' + ns + ') (timewait_sockstat_tw_sockets{S})')), '{{netns}}')]), 12, 8],

      g.row('Exporter'),
      [g.timeseries('Collector duration',
                    'Time each timewait_exporter collector took in the last scrapes. See the runbook for TimeWaitExporterCollectorFailing.',
                    's',
                    false,
                    [g.rangeQ(s('max by (' + host + ', collector) (timewait_scrape_collector_duration_seconds{H})'), '{{collector}}')]), 12, 7],
      [g.timeseries('Collector success',
                    "1 when a collector's last scrape succeeded, 0 when it failed (its metrics are then missing, or partial: a file that lacks fields still gives the ones it has).",
                    'short',
                    false,
                    [g.rangeQ(s('min by (' + host + ', collector) (timewait_scrape_collector_success{H})'), '{{collector}}')]), 12, 7],
    ],
  )
