// SPDX-License-Identifier: Apache-2.0

// TIME_WAIT / Overview: the fleet at a glance, bounded at any fleet size.
// Every panel reads the recording rules (rules/) and returns at most 50
// series: the worst hosts and namespaces by name (top-k, sorted), the fleet
// as sums and counts. Click a host or namespace to drill down.
local g = import '../lib/grafana.libsonnet';

function(c)
  local k = (import 'common.libsonnet').new(c);
  local s = k.s;
  local on = 'on (%s)' % c.hostLabels;
  local onNs = 'on (%s)' % c.netnsLabels;
  local util = 'instance:timewait_ephemeral_port_utilization:max{H}';
  local utilNs = 'instance_netns:timewait_ephemeral_port_utilization:max{S}';
  // worst(n, m): m for the n hosts where m peaked in the dashboard's range.
  local worst(n, m) = s(m + ' and ' + on + ' topk(%d, max_over_time(%s[$__range] @ end()))' % [n, m]);
  local topHosts = 'topk(20, ' + util + ')';
  local topNs = 'topk(20, ' + utilNs + ')';
  local topPods = 'topk(20, pod:timewait_ephemeral_port_utilization:max{S})';
  local drill = g.withLinks([k.hostLink('Drill down into ${__field.labels.instance}')]);
  local rowDrill(ns) = g.withLinks([k.hostRowLink(if ns then 'Drill down into ${__data.fields.instance} (netns ${__data.fields.netns})' else 'Drill down into ${__data.fields.instance}', ns)]);
  local runbook(alerts) = g.withPanelLinks([k.runbookLink(a) for a in alerts]);
  local ports = ['TimeWaitEphemeralPortsExhausting', 'TimeWaitEphemeralPortsFillingUp'];
  local buckets = ['TimeWaitBucketsNearLimit', 'TimeWaitBucketOverflow'];
  // -1 marks a sysctl the kernel (or namespace) does not have. Keyed by
  // cluster, job, instance and netns: two clusters may reuse a host name.
  local by = 'max by (%s) ' % c.netnsLabels;
  // An idle namespace exports a sysctl only where it differs from the
  // exporter's own namespace's (docs/netns.md): else the own one's, that
  // is the namespace with the host-wide timewait_sockstat_tcp_mem_bytes.
  local orOwn(m) = '(' + by + '(' + m + '{S}) or ' + by + '(timewait_ephemeral_port_utilization_max_ratio{S}) * 0 + ' + on
                   + ' group_left () max by (' + c.hostLabels + ') (' + m + '{S} and ' + onNs + ' timewait_sockstat_tcp_mem_bytes{S}))';
  local absent(m) = '(' + orOwn(m) + ' or (' + orOwn('timewait_sysctl_tcp_timestamps') + ' * 0 - 1))';
  local ofWorstNs(q) = s('(' + q + ') and ' + onNs + ' ' + topNs);
  g.dashboard(
    c.grafana.overviewUID,
    c.grafana.titlePrefix + 'Overview',
    'TIME_WAIT and ephemeral-port pressure across a fleet, from timewait_exporter and its recording rules: the worst hosts and namespaces by name, the fleet in sums. Click a host or namespace to drill down.',
    c.grafana.tags,
    k.vars(true),
    [
      g.row('Now'),
      [g.stat('Worst host: ephemeral ports',
              "The host with the highest ephemeral-port utilisation (instance:timewait_ephemeral_port_utilization:max): its busiest (source IP, destination) pair's share of the ephemeral ports connect() can use (usable ports minus those listeners own, minus one for an odd-sized range). At 100% new connect() calls to that destination fail with EADDRNOTAVAIL. Alerts: " + k.alertsText + '.',
              'percentunit',
              k.utilTh,
              g.instantQ(s('topk(1, ' + util + ')'), '{{instance}}'))
       + g.withName + drill + runbook(ports), 5, 4],
      [g.stat('Worst host: TIME_WAIT buckets',
              'The host with the highest share of net.ipv4.tcp_max_tw_buckets in use, in its worst namespace (instance:timewait_tw_buckets_use:max). At 100% the kernel closes new sockets without TIME_WAIT. Alert: TimeWaitBucketsNearLimit above ' + k.pct(c.bucketsNearLimit.warningRatio) + '.',
              'percentunit',
              k.bucketTh,
              g.instantQ(s('topk(1, instance:timewait_tw_buckets_use:max{H})'), '{{instance}}'))
       + g.withName + drill + runbook(buckets), 5, 4],
      [g.stat('Hosts above the port warning',
              'Hosts whose busiest destination uses more than ' + k.pct(c.ephemeralPorts.warningRatio) + ' of its ephemeral ports (the warning threshold of TimeWaitEphemeralPortsExhausting).',
              'short',
              g.steps('green', [1, 'orange']),
              g.instantQ(s('count(' + util + ' > %s) or vector(0)' % c.ephemeralPorts.warningRatio))), 4, 4],
      [g.stat('TIME_WAIT sockets',
              'Sum of /proc/net/sockstat tw over the selected hosts and namespaces: TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets, IPv4 and IPv6.',
              'short',
              g.steps('blue'),
              g.instantQ(s('sum(instance:timewait_sockstat_tw_sockets:sum{H})'))), 4, 4],
      [g.stat('Closed without TIME_WAIT',
              'Connections per second the kernel closed without TIME_WAIT because tcp_max_tw_buckets was reached or, rarely, memory was short (TcpExt TCPTimeWaitOverflow, over 5m). Anything above 0 means lost TIME_WAIT protection (TimeWaitBucketOverflow).',
              'ops',
              g.steps('green', [1e-9, 'orange']),
              g.instantQ(s('sum(instance:timewait_tcpext_tcp_time_wait_overflow:rate5m{H})')))
       + runbook(['TimeWaitBucketOverflow']), 3, 4],
      [g.stat('Collectors failing',
              'timewait_exporter collectors whose last scrape failed, over the selected hosts. Some or all of their metrics are missing from the panels.',
              'short',
              g.steps('green', [1, 'orange']),
              g.instantQ(s('sum(instance:timewait_scrape_collector_failed:count{H}) or vector(0)')))
       + runbook(['TimeWaitExporterCollectorFailing']), 3, 4],

      g.row('Worst hosts and namespaces'),
      [g.table('Worst hosts',
               'The 20 hosts with the highest ephemeral-port utilisation, worst first, with their worst TIME_WAIT bucket use, TIME_WAIT count and overflow rate. Click a row to drill down.',
               ['instance'],
               [
                 g.column('port utilisation', s(topHosts), unit='percentunit', th=k.utilCells),
                 g.column('bucket use', s('instance:timewait_tw_buckets_use:max{H} and ' + on + ' ' + topHosts), unit='percentunit', th=k.bucketCells),
                 g.column('TIME_WAIT', s('instance:timewait_sockstat_tw_sockets:sum{H} and ' + on + ' ' + topHosts), unit='short'),
                 g.column('closed without TIME_WAIT', s('instance:timewait_tcpext_tcp_time_wait_overflow:rate5m{H} and ' + on + ' ' + topHosts), unit='ops'),
               ]) + g.withSort('port utilisation') + rowDrill(false) + runbook(ports), 12, 10],
      [g.table('Worst namespaces',
               "The 20 (host, network namespace) pairs with the highest ephemeral-port utilisation, worst first (netns empty: the exporter's own namespace, discovery off). Click a row to drill down into that namespace; the runbook says how to get a shell in it.",
               ['instance', 'netns'],
               [
                 g.column('port utilisation', s(topNs), unit='percentunit', th=k.utilCells),
                 g.column('bucket use', s('instance_netns:timewait_tw_buckets_use:ratio{S} and ' + onNs + ' ' + topNs), unit='percentunit', th=k.bucketCells),
                 g.column('TIME_WAIT', s('instance_netns:timewait_sockstat_tw_sockets:sum{S} and ' + onNs + ' ' + topNs), unit='short'),
               ]) + g.withSort('port utilisation') + rowDrill(true) + runbook(ports), 12, 10],

      g.row('Pods (Kubernetes nodes with namespace discovery)'),
      [g.table('Pods nearest exhaustion',
               "The 20 pods whose busiest (source IP, destination) pair uses the largest share of their namespace's ephemeral ports, worst first, with their TIME_WAIT count (pod:timewait_ephemeral_port_utilization:max: the pod of a namespace by UID from kube-state-metrics' kube_pod_info, else from the kubelet's /var/log/pods; empty namespace and pod: only the UID is known). Click a row to drill down into that namespace.",
               ['namespace', 'pod', 'instance', 'netns'],
               [
                 g.column('port utilisation', s(topPods), unit='percentunit', th=k.utilCells),
                 g.column('TIME_WAIT', s('pod:timewait_sockstat_tw_sockets:sum{S} and ' + onNs + ' ' + topPods), unit='short'),
               ]) + g.withSort('port utilisation') + rowDrill(true) + runbook(ports), 8, 10],
      [g.table('Busiest destinations of pods',
               "The 20 (pod, destination) pairs with the highest ephemeral-port utilisation, worst first: the destination each pod is running out of ports towards (timewait_destination_ephemeral_port_utilization_ratio, the exporter's top-N per namespace, named by instance_netns:timewait_pod:info).",
               ['namespace', 'pod', 'destination', 'instance', 'netns'],
               [
                 g.column('port utilisation', s('topk(20, max by (%s, job, instance, netns, namespace, pod, destination) (timewait_destination_ephemeral_port_utilization_ratio{S}\n  * %s group_left (namespace, pod) instance_netns:timewait_pod:info))' % [c.clusterLabel, onNs]), unit='percentunit', th=k.utilCells),
               ]) + g.withSort('port utilisation') + rowDrill(true) + runbook(ports), 8, 10],
      [g.table('Pods holding the most TIME_WAIT',
               'The 20 pods with the most TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets (pod:timewait_sockstat_tw_sockets:sum, sockstat tw of their namespace). TIME_WAIT costs memory, and ports: towards the same destination, or for every destination when the socket bound its port before connect().',
               ['namespace', 'pod', 'instance', 'netns'],
               [
                 g.column('TIME_WAIT', s('topk(20, pod:timewait_sockstat_tw_sockets:sum{S})'), unit='short'),
               ]) + g.withSort('TIME_WAIT') + rowDrill(true) + runbook(['TimeWaitSpike']), 8, 10],

      g.row('Trends (the 10 worst hosts of the time range)'),
      [g.timeseries('Ephemeral-port utilisation, worst 10 hosts',
                    "The busiest destination's share of the ephemeral ports per host, for the 10 hosts where it peaked in the time range. Exhaustion is per (source IP, destination IP, destination port). Dashed lines: alert thresholds.",
                    'percentunit',
                    false,
                    [g.rangeQ(worst(10, 'instance:timewait_ephemeral_port_utilization:max{H}'), '{{instance}}')])
       + g.withThresholdLines(k.utilTh) + g.withMax(1) + drill + runbook(ports), 12, 8],
      [g.timeseries('TIME_WAIT bucket use, worst 10 hosts',
                    "sockstat tw / net.ipv4.tcp_max_tw_buckets (the host's worst namespace), for the 10 hosts where it peaked. Raise the limit rather than lower it: a TIME_WAIT mini-socket costs about 256 bytes.",
                    'percentunit',
                    false,
                    [g.rangeQ(worst(10, 'instance:timewait_tw_buckets_use:max{H}'), '{{instance}}')])
       + g.withThresholdLines(k.bucketTh) + g.withMax(1) + drill + runbook(buckets), 12, 8],
      [g.timeseries('TIME_WAIT, worst 10 hosts',
                    'TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets (sockstat tw, summed over namespaces) for the 10 hosts with the most in the time range. TIME_WAIT lasts a fixed 60 s, so this is about 60 × the rate of actively closed connections.',
                    'short',
                    false,
                    [g.rangeQ(worst(10, 'instance:timewait_sockstat_tw_sockets:sum{H}'), '{{instance}}')]) + drill + runbook(['TimeWaitSpike']), 12, 8],
      [g.timeseries('Close rate (TcpExt TW), worst 10 hosts',
                    'Timewait mini-sockets created per second with a timeout over 4 s (TcpExt TW, __inet_twsk_schedule), for the 10 hosts with the highest rate in the time range. A sustained rise here raises the TIME_WAIT count (sockstat tw) that TimeWaitSpike watches.',
                    'ops',
                    false,
                    [g.rangeQ(worst(10, 'instance:timewait_tcpext_tw:rate5m{H}'), '{{instance}}')]) + drill, 12, 8],
      [g.timeseries('TIME_WAIT by direction, fleet',
                    'TIME_WAIT sockets over the selected hosts by who they belong to: outbound (this host connected out and closed first; these hold ephemeral ports), inbound (local port is a listening port: server-side, costs memory only), other.',
                    'short',
                    true,
                    [g.rangeQ(s('sum by (direction) (timewait_time_wait_sockets{S})'), '{{direction}}')]), 12, 8],
      [g.timeseries('Closed without TIME_WAIT and reused, fleet',
                    'Per second over the selected hosts: sockets closed without TIME_WAIT at the tcp_max_tw_buckets limit or, rarely, short of memory (TcpExt TCPTimeWaitOverflow; should be 0) and TIME_WAIT 4-tuples taken over by a new outgoing connection (TcpExt TWRecycled; needs TCP timestamps, and tcp_tw_reuse on a port connect() picks, but not on a port the program bound explicitly: tcp_twsk_unique).',
                    'ops',
                    false,
                    [
                      g.rangeQ(s('sum(instance:timewait_tcpext_tcp_time_wait_overflow:rate5m{H})'), 'closed without TIME_WAIT'),
                      g.rangeQ(s('sum(rate(timewait_tcpext_tw_recycled_total{S}[$__rate_interval]))'), 'reused by connect()'),
                    ]) + runbook(['TimeWaitBucketOverflow']), 12, 8],

      g.row('Kernel settings of the worst namespaces'),
      [g.table('TIME_WAIT sysctls of the 20 worst namespaces',
               'Current values for the namespaces of the Worst namespaces table. Highlighted: TCP timestamps off (tcp_tw_reuse and PAWS need them), tcp_tw_reuse_delay below its 1 s default, tcp_tw_recycle on (removed in Linux 4.12), few usable ephemeral ports. tcp_fin_timeout only limits orphaned FIN_WAIT2 sockets; TIME_WAIT is fixed at 60 s.',
               ['instance', 'netns'],
               [
                 g.column('tcp_tw_reuse',
                          ofWorstNs(orOwn('timewait_sysctl_tcp_tw_reuse')),
                          maps=g.valueMap([['0', '0 (off)', 'orange'], ['1', '1 (on)', 'green'], ['2', '2 (loopback only)', '']]),
                          desc='Only affects outgoing connect(), and only with TCP timestamps. 2 = loopback only (default).'),
                 g.column('tw_reuse_delay',
                          ofWorstNs(absent('timewait_sysctl_tcp_tw_reuse_delay_seconds')),
                          unit='s',
                          th=g.steps('transparent', [0, 'orange', 1, 'transparent']),
                          maps=g.valueMap([['-1', 'not supported (before 6.14)', '']]),
                          desc="Minimum TIME_WAIT age before reuse (default 1 s; the sysctl exists from Linux 6.14, older kernels use about 1 s). Below a peer's timestamp tick it defeats PAWS."),
                 g.column('tcp_timestamps',
                          ofWorstNs(orOwn('timewait_sysctl_tcp_timestamps')),
                          maps=g.valueMap([['0', '0 (off)', 'red'], ['1', '1 (on)', 'green'], ['2', '2 (on, no offset)', 'green']])),
                 g.column('tcp_tw_recycle',
                          ofWorstNs(absent('timewait_sysctl_tcp_tw_recycle')),
                          maps=g.valueMap([['-1', 'removed (Linux ≥ 4.12)', ''], ['0', '0 (off)', ''], ['1', '1 (on: breaks NAT clients)', 'red']])),
                 g.column('tcp_fin_timeout',
                          ofWorstNs(orOwn('timewait_sysctl_tcp_fin_timeout_seconds')),
                          unit='s',
                          desc='Limits orphaned FIN_WAIT2 sockets only. Does not shorten TIME_WAIT (fixed 60 s).'),
                 g.column('tcp_max_tw_buckets', ofWorstNs(by + '(timewait_sysctl_tcp_max_tw_buckets{S})'), unit='short'),
                 g.column('port range start', ofWorstNs(orOwn('timewait_sysctl_ip_local_port_range_start')), unit='none'),
                 g.column('port range end', ofWorstNs(orOwn('timewait_sysctl_ip_local_port_range_end')), unit='none'),
                 g.column('usable ephemeral ports',
                          ofWorstNs(orOwn('timewait_ephemeral_ports_usable')),
                          unit='short',
                          th=g.steps('red', [5000, 'orange', 16384, 'transparent']),
                          desc='ip_local_port_range minus ip_local_reserved_ports. Default 28232.'),
               ]) + rowDrill(true), 24, 8],
    ],
  )
