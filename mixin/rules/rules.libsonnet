// SPDX-License-Identifier: Apache-2.0

// Recording rules for fleet views: one series per host (instance) or per
// host and network namespace, keyed by the cluster label, job and instance
// only, so the Overview's tables and top-k panels read a few thousand
// pre-aggregated series instead of every destination of every host. Names
// follow level:metric:operation.
{
  local c = $._config,
  local sel = c.selector,
  local host = c.hostLabels,
  local ns = c.netnsLabels,
  local rec = (import '../lib/rules.libsonnet').rec,
  // The division matches on all labels, job included, so the selector on
  // the numerator selects the denominator too.
  local bucketUse = 'timewait_sockstat_tw_sockets{%s}\n  / (timewait_sysctl_tcp_max_tw_buckets > 0)' % sel,

  prometheusRules+:: {
    groups+: [{
      name: 'timewait-fleet',
      rules: [
        // the busiest (source IP, destination) pair's ratio, per namespace and per host
        rec('instance_netns:timewait_ephemeral_port_utilization:max',
            'max by (%s) (timewait_ephemeral_port_utilization_max_ratio{%s})' % [ns, sel]),
        rec('instance:timewait_ephemeral_port_utilization:max',
            'max by (%s) (timewait_ephemeral_port_utilization_max_ratio{%s})' % [host, sel]),
        // TIME_WAIT mini-sockets as a share of tcp_max_tw_buckets (a 0 limit is no limit)
        rec('instance_netns:timewait_tw_buckets_use:ratio',
            'max by (%s) (\n  %s\n)' % [ns, bucketUse]),
        rec('instance:timewait_tw_buckets_use:max',
            'max by (%s) (\n  %s\n)' % [host, bucketUse]),
        rec('instance_netns:timewait_sockstat_tw_sockets:sum',
            'sum by (%s) (timewait_sockstat_tw_sockets{%s})' % [ns, sel]),
        rec('instance:timewait_sockstat_tw_sockets:sum',
            'sum by (%s) (timewait_sockstat_tw_sockets{%s})' % [host, sel]),
        // connections closed without TIME_WAIT, and timewait sockets created, per second
        rec('instance:timewait_tcpext_tcp_time_wait_overflow:rate5m',
            'sum by (%s) (rate(timewait_tcpext_tcp_time_wait_overflow_total{%s}[5m]))' % [host, sel]),
        rec('instance:timewait_tcpext_tw:rate5m',
            'sum by (%s) (rate(timewait_tcpext_tw_total{%s}[5m]))' % [host, sel]),
        // collectors whose last scrape failed
        rec('instance:timewait_scrape_collector_failed:count',
            'count by (%s) (timewait_scrape_collector_success{%s} == 0)' % [host, sel]),
      ],
    }],
  },
}
