// SPDX-License-Identifier: Apache-2.0

// TIME_WAIT / Overview: the fleet at a glance.
local g = import 'grafana.libsonnet';

function(c)
  local k = (import 'common.libsonnet').new(c);
  local s = k.s;
  local by = 'max by (instance, netns) ';
  // -1 marks a sysctl the kernel (or namespace) does not have.
  local absent(m) = s(by + '(' + m + '{S}) or (' + by + '(timewait_sysctl_tcp_timestamps{S}) * 0 - 1)');
  local drill = g.withLinks([k.hostLink('Drill down into ${__field.labels.instance}')]);
  g.dashboard(
    'timewait-overview',
    'TIME_WAIT / Overview',
    'TIME_WAIT and ephemeral-port pressure across hosts, from timewait_exporter. Click a host in a graph to drill down.',
    k.vars(true),
    [
      g.row('Now'),
      [g.stat('Worst ephemeral-port utilisation',
              "Highest timewait_ephemeral_port_utilization_max_ratio over the selected hosts: the busiest (source IP, destination) pair's share of the ephemeral ports connect() can use (usable ports minus those listeners own). At 100% new connect() calls to that destination fail with EADDRNOTAVAIL. Alerts: " + k.alertsText + '.',
              'percentunit', k.utilTh, g.instantQ(s('max(timewait_ephemeral_port_utilization_max_ratio{S})'))), 6, 4],
      [g.stat('Worst TIME_WAIT bucket utilisation',
              'Highest share of net.ipv4.tcp_max_tw_buckets in use (sockstat tw / tcp_max_tw_buckets, per network namespace). At 100% the kernel closes new sockets without TIME_WAIT.',
              'percentunit', k.bucketTh, g.instantQ(s('max(timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))'))), 6, 4],
      [g.stat('TIME_WAIT sockets',
              'Sum of /proc/net/sockstat tw over the selected hosts and namespaces: TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets, IPv4 and IPv6.',
              'short', g.steps('blue'), g.instantQ(s('sum(timewait_sockstat_tw_sockets{S})'))), 4, 4],
      [g.stat('Closed without TIME_WAIT',
              'Sockets per second the kernel closed without TIME_WAIT because tcp_max_tw_buckets was reached (TcpExt TCPTimeWaitOverflow). Anything above 0 means lost TIME_WAIT protection.',
              'ops', g.steps('green', [1e-9, 'red']), g.instantQ(s('sum(rate(timewait_tcpext_tcp_time_wait_overflow_total{S}[$__rate_interval]))'))), 4, 4],
      [g.stat('Collectors failing',
              'Number of timewait_exporter collectors whose last scrape failed (timewait_scrape_collector_success == 0). Their metrics are missing from every panel.',
              'short', g.steps('green', [1, 'red']), g.instantQ(s('count(timewait_scrape_collector_success{H} == 0) or vector(0)'))), 4, 4],

      g.row('TIME_WAIT'),
      [g.timeseries('TIME_WAIT per host',
                    'TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets per host (/proc/net/sockstat tw, summed over namespaces). TIME_WAIT lasts a fixed 60 s unless reuse, an RST (tcp_rfc1337=0) or an accepted SYN ends it early (tcp_timewait_state_process), so this is at most about 60 × the rate of actively closed connections.',
                    'short', false, [g.rangeQ(s('sum by (instance) (timewait_sockstat_tw_sockets{S})'), '{{instance}}')]) + drill, 12, 8],
      [g.timeseries('TIME_WAIT by direction',
                    'TIME_WAIT sockets by who they belong to: outbound (this host connected out and closed first; these hold ephemeral ports), inbound (local port is a listening port: server-side, costs memory only), other.',
                    'short', true, [g.rangeQ(s('sum by (direction) (timewait_time_wait_sockets{S})'), '{{direction}}')]), 12, 8],
      [g.timeseries('Close rate (TcpExt TW)',
                    'Timewait mini-sockets created per second with a timeout over 4 s (TcpExt TW, __inet_twsk_schedule): TIME_WAIT sockets and orphaned FIN_WAIT2 ones with a longer timeout. This rate × 60 s is an upper bound of the TIME_WAIT count: reuse, an RST (tcp_rfc1337=0) or an accepted SYN ends TIME_WAIT early (tcp_timewait_state_process). A rise here is what TimeWaitSpike catches.',
                    'ops', false, [g.rangeQ(s('sum by (instance) (rate(timewait_tcpext_tw_total{S}[$__rate_interval]))'), '{{instance}}')]) + drill, 12, 8],
      [g.timeseries('Overflow and reuse rates',
                    'Per second: sockets closed without TIME_WAIT at the tcp_max_tw_buckets limit (TcpExt TCPTimeWaitOverflow; should be 0) and TIME_WAIT 4-tuples taken over by a new outgoing connection (TcpExt TWRecycled; needs TCP timestamps, and tcp_tw_reuse on a port connect() picks, but not on a port the program bound explicitly: tcp_twsk_unique).',
                    'ops', false, [
                      g.rangeQ(s('sum by (instance) (rate(timewait_tcpext_tcp_time_wait_overflow_total{S}[$__rate_interval]))'), '{{instance}} closed without TIME_WAIT'),
                      g.rangeQ(s('sum by (instance) (rate(timewait_tcpext_tw_recycled_total{S}[$__rate_interval]))'), '{{instance}} reused by connect()'),
                    ]), 12, 8],

      g.row('Limits'),
      [g.timeseries('Max ephemeral-port utilisation per host',
                    "Per host, the busiest destination's share of the ephemeral ports connect() can use from one source IP (usable ports minus those listeners own) (timewait_ephemeral_port_utilization_max_ratio). Exhaustion is per (source IP, destination IP, destination port). Dashed lines: alert thresholds.",
                    'percentunit', false, [g.rangeQ(s('max by (instance) (timewait_ephemeral_port_utilization_max_ratio{S})'), '{{instance}}')])
       + g.withThresholdLines(k.utilTh) + g.withMax(1) + drill, 12, 8],
      [g.timeseries('TIME_WAIT bucket utilisation',
                    'sockstat tw / net.ipv4.tcp_max_tw_buckets per host and namespace. Both are per network namespace. Raise the limit rather than lower it: a TIME_WAIT mini-socket costs about 256 bytes, and far past half of tcp_ehash_entries (the default limit) its longer established-hash chains also cost lookup CPU (__inet_lookup_established).',
                    'percentunit', false, [g.rangeQ(s('max by (instance, netns) (timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))'), '{{instance}} {{netns}}')])
       + g.withThresholdLines(k.bucketTh) + g.withMax(1), 12, 8],

      g.row('Kernel settings'),
      [g.table('Current TIME_WAIT sysctls',
               'Current values per host and network namespace. Highlighted: TCP timestamps off (tcp_tw_reuse and PAWS need them), tcp_tw_reuse_delay below its 1 s default, tcp_tw_recycle on (removed in Linux 4.12), few usable ephemeral ports, bucket use near the limit. tcp_fin_timeout only limits orphaned FIN_WAIT2 sockets; TIME_WAIT is fixed at 60 s.',
               ['instance', 'netns'],
               [
                 g.column('tcp_tw_reuse', s(by + '(timewait_sysctl_tcp_tw_reuse{S})'),
                          maps=g.valueMap([['0', '0 (off)', 'orange'], ['1', '1 (on)', 'green'], ['2', '2 (loopback only)', '']]),
                          desc='Only affects outgoing connect(), and only with TCP timestamps. 2 = loopback only (default).'),
                 g.column('tw_reuse_delay', absent('timewait_sysctl_tcp_tw_reuse_delay_seconds'), unit='s',
                          th=g.steps('transparent', [0, 'orange', 1, 'transparent']),
                          maps=g.valueMap([['-1', 'not supported (before 6.14)', '']]),
                          desc="Minimum TIME_WAIT age before reuse (default 1 s; the sysctl exists from Linux 6.14, older kernels use about 1 s). Below a peer's timestamp tick it defeats PAWS."),
                 g.column('tcp_timestamps', s(by + '(timewait_sysctl_tcp_timestamps{S})'),
                          maps=g.valueMap([['0', '0 (off)', 'red'], ['1', '1 (on)', 'green'], ['2', '2 (on, no offset)', 'green']])),
                 g.column('tcp_tw_recycle', absent('timewait_sysctl_tcp_tw_recycle'),
                          maps=g.valueMap([['-1', 'removed (Linux ≥ 4.12)', ''], ['0', '0 (off)', ''], ['1', '1 (on: breaks NAT clients)', 'red']])),
                 g.column('tcp_fin_timeout', s(by + '(timewait_sysctl_tcp_fin_timeout_seconds{S})'), unit='s',
                          desc='Limits orphaned FIN_WAIT2 sockets only. Does not shorten TIME_WAIT (fixed 60 s).'),
                 g.column('tcp_max_tw_buckets', s(by + '(timewait_sysctl_tcp_max_tw_buckets{S})'), unit='short'),
                 g.column('bucket use', s(by + '(timewait_sockstat_tw_sockets{S} / (timewait_sysctl_tcp_max_tw_buckets{S} > 0))'), unit='percentunit',
                          th=k.bucketCells),
                 g.column('tcp_rfc1337', s(by + '(timewait_sysctl_tcp_rfc1337{S})'),
                          maps=g.valueMap([['0', '0 (RST may end TIME_WAIT)', ''], ['1', '1 (RFC 1337)', '']])),
                 g.column('port range start', s(by + '(timewait_sysctl_ip_local_port_range_start{S})'), unit='none'),
                 g.column('port range end', s(by + '(timewait_sysctl_ip_local_port_range_end{S})'), unit='none'),
                 g.column('usable ephemeral ports', s(by + '(timewait_ephemeral_ports_usable{S})'), unit='short',
                          th=g.steps('red', [5000, 'orange', 16384, 'transparent']),
                          desc='ip_local_port_range minus ip_local_reserved_ports. Default 28232.'),
                 g.column('tcp_max_orphans', absent('timewait_sysctl_tcp_max_orphans'), unit='short',
                          maps=g.valueMap([['-1', 'n/a (not the initial netns)', '']])),
               ]), 24, 8],
    ],
  )
