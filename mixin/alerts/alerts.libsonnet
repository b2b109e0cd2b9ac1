// SPDX-License-Identifier: Apache-2.0

// Alerting rules. Every expression selects the exporter with
// _config.selector; thresholds and for: windows come from _config.
//
// TimeWaitEphemeralPoolExhausting watches the whole pool
// (timewait_ephemeral_ports_in_use / timewait_ephemeral_ports_usable) only
// while the outbound sockets share almost no port and no single flow
// explains the ports held: connect() shares a port between destinations, so
// a healthy host talking to many destinations can hold most of the pool
// too, but not one port per socket; and one flow churning under
// tcp_tw_reuse holds one port per socket without an outage.
local r = import '../lib/rules.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  local c = $._config,
  local sel = c.selector,
  local num = u.num,
  local seconds = u.seconds,
  local minutes = u.minutes,

  // a printf format + args for a selector naming the alert's own cluster,
  // job, instance and netns (a label the alert lacks is printed as "",
  // which also matches series without it: one cluster, the host namespace).
  local sameTarget = '%s=%%q,job=%%q,instance=%%q,netns=%%q' % c.clusterLabel,
  local sameTargetArgs = '(index $labels "%s") $labels.job $labels.instance $labels.netns' % c.clusterLabel,
  // where renders " (netns X)" when the alert carries a netns label, and
  // " (netns X, pod NS/NAME)" when the namespace is a pod's
  // (rules/pods.libsonnet), " (netns X, pod uid U)" when only its UID is known.
  local pod = '{{ range printf "instance_netns:timewait_pod:info{' + sameTarget + '}" ' + sameTargetArgs + ' | query }}'
              + ', pod {{ if .Labels.pod }}{{ .Labels.namespace }}/{{ .Labels.pod }}{{ else }}uid {{ .Labels.pod_uid }}{{ end }}{{ end }}',
  local where = '{{ $labels.instance }}{{ with $labels.netns }} (netns {{ . }}' + pod + '){{ end }}',
  local busiest = '{{ range printf "topk(1, timewait_destination_ephemeral_port_utilization_ratio{' + sameTarget + '})" ' + sameTargetArgs + ' | query }}'
                  + ' Busiest destination: {{ .Labels.destination }}{{ with .Labels.name }} ({{ . }}){{ end }} at {{ .Value | humanizePercentage }}.{{ end }}',
  local limit = '{{ range printf "timewait_sysctl_tcp_max_tw_buckets{' + sameTarget + '}" ' + sameTargetArgs + ' | query }} ({{ printf "%.0f" .Value }}){{ end }}',

  // ofPod(expr, m): expr with the labels of its namespace's pod
  // (lib/rules.libsonnet), m naming the metric whose namespaces fall back.
  local ofPod(expr, m) = r.ofPod(expr, m, c.netnsLabels),
  local alert(name, expr, forDur, severity, summary, description) =
    r.alert(c, name, expr, forDur, severity, summary, description),

  local ephemeral(severity, ratio, forDur) = alert(
    'TimeWaitEphemeralPortsExhausting',
    ofPod('timewait_ephemeral_port_utilization_max_ratio{%s} > %s' % [sel, num(ratio)], 'timewait_ephemeral_port_utilization_max_ratio'),
    forDur,
    severity,
    'Ephemeral ports towards one destination are running out.',
    where + ': the busiest destination uses {{ $value | humanizePercentage }} of the ephemeral ports connect() can use from one source IP. At 100% every new connect() to it fails with EADDRNOTAVAIL.' + busiest,
  ),

  local pool(severity, ratio, forDur) = alert(
    'TimeWaitEphemeralPoolExhausting',
    ofPod(
      'timewait_ephemeral_ports_in_use{%s}\n  / timewait_ephemeral_ports_usable{%s}\n> %s\nand\ntimewait_outbound_sockets{%s}\n  <= %s * timewait_outbound_local_ports{%s}\nand\ntimewait_outbound_local_ports{%s} - timewait_outbound_max_flow_sockets{%s}\n  > %s * timewait_ephemeral_ports_usable{%s}'
      % [sel, sel, num(ratio), sel, num(c.ephemeralPool.sharingMax), sel, sel, sel, num(c.ephemeralPool.excessMin), sel],
      'timewait_ephemeral_ports_in_use',
    ),
    forDur,
    severity,
    'The ephemeral port pool is running out, one port per connection: bind() before connect()?',
    where + ': {{ $value | humanizePercentage }} of the usable ephemeral ports are held, with almost no port shared between destinations and more than ' + num(c.ephemeralPool.excessMin * 100) + '% of them beyond what the busiest (source IP, destination) flow occupies. Programs that bind() before connect() take a port from the pool for every connection (TIME_WAIT included), and connect() never gives such a port to another connection: at 100% connect() to every destination fails with EADDRNOTAVAIL, and bind(ip, 0) with EADDRINUSE.',
  ),

  prometheusAlerts+:: {
    groups+: [{
      name: 'timewait-exporter',
      rules: [
        ephemeral(c.severities.warning, c.ephemeralPorts.warningRatio, c.ephemeralPorts.warningFor),
        ephemeral(c.severities.critical, c.ephemeralPorts.criticalRatio, c.ephemeralPorts.criticalFor),
        pool(c.severities.warning, c.ephemeralPool.warningRatio, c.ephemeralPool.warningFor),
        pool(c.severities.critical, c.ephemeralPool.criticalRatio, c.ephemeralPool.criticalFor),
        local p = c.portsFillingUp;
        local ratio = 'timewait_ephemeral_port_utilization_max_ratio{%s}' % sel;
        alert(
          'TimeWaitEphemeralPortsFillingUp',
          ofPod('predict_linear(%s[%s], %d) > 1\nand\n%s > %s\nand\n%s offset %s' % [ratio, p.window, seconds(p.horizon), ratio, num(p.minRatio), ratio, p.window],
                'timewait_ephemeral_port_utilization_max_ratio'),
          p.warningFor,
          c.severities.warning,
          'Ephemeral ports towards one destination will run out within ' + p.horizon + '.',
          where + ': at the trend of the last ' + p.window + ', the busiest destination will need {{ $value | humanizePercentage }} of the ephemeral ports connect() can use from one source IP in ' + p.horizon + '; at 100% every new connect() to it fails with EADDRNOTAVAIL.' + busiest,
        ),
        alert(
          'TimeWaitBucketOverflow',
          ofPod('increase(timewait_tcpext_tcp_time_wait_overflow_total{%s}[%s]) > 0' % [sel, c.bucketOverflow.window],
                'timewait_tcpext_tcp_time_wait_overflow_total'),
          c.bucketOverflow.warningFor,
          c.severities.warning,
          'The kernel closes TCP sockets without TIME_WAIT: tcp_max_tw_buckets is reached (or, rarely, memory is short).',
          where + ': TcpExt TCPTimeWaitOverflow went up by {{ printf "%.0f" $value }} in the last ' + c.bucketOverflow.window + ': that many connections were closed without TIME_WAIT because net.ipv4.tcp_max_tw_buckets' + limit + " is reached or, rarely, no memory was left for the mini-socket (inet_twsk_alloc). Those connections lose TIME_WAIT's protection against delayed segments.",
        ),
        alert(
          'TimeWaitBucketsNearLimit',
          ofPod('timewait_sockstat_tw_sockets{%s}\n  / (timewait_sysctl_tcp_max_tw_buckets{%s} > 0)\n> %s' % [sel, sel, num(c.bucketsNearLimit.warningRatio)],
                'timewait_sockstat_tw_sockets'),
          c.bucketsNearLimit.warningFor,
          c.severities.warning,
          'TIME_WAIT sockets are close to net.ipv4.tcp_max_tw_buckets.',
          where + ': TIME_WAIT (and orphaned FIN_WAIT2) mini-sockets fill {{ $value | humanizePercentage }} of net.ipv4.tcp_max_tw_buckets' + limit + '. At the limit the kernel closes new sockets without TIME_WAIT.',
        ),
        alert(
          'TimeWaitSpike',
          ofPod(
            'timewait_sockstat_tw_sockets{%s}\n  > %s * avg_over_time(timewait_sockstat_tw_sockets{%s}[%s] offset %s)\nand\ntimewait_sockstat_tw_sockets{%s} > %s\nand\ntimewait_sockstat_tw_sockets{%s} offset %s'
            % [sel, num(c.spike.factor), sel, c.spike.baselineWindow, c.spike.baselineOffset, sel, num(c.spike.minSockets), sel, minutes(seconds(c.spike.baselineWindow) + seconds(c.spike.baselineOffset))],
            'timewait_sockstat_tw_sockets',
          ),
          c.spike.warningFor,
          c.severities.info,
          'TIME_WAIT sockets are far above their recent baseline.',
          where + ': {{ $value | humanize }} timewait mini-sockets (TIME_WAIT plus orphaned FIN_WAIT2), more than %s times their average over the %s before the last %s. TIME_WAIT lasts a fixed 60 s, so this usually means the rate of actively closed connections rose as much.'
                  % [num(c.spike.factor), c.spike.baselineWindow, c.spike.baselineOffset],
        ),
        // the exporter's own gauges carry no netns: a selector without it,
        // since netns="" makes Prometheus subtract every series that has a
        // netns from the match (at 1,000 nodes of 110 pods, 1.6M series,
        // 1.4-2.4 s a query against 0.13-0.23 s without; two per alert)
        local q(m) = '{{ range printf "%s{%s=%%q,job=%%q,instance=%%q}" (index $labels "%s") $labels.job $labels.instance | query }}{{ printf "%%.0f" .Value }}{{ end }}'
                     % [m, c.clusterLabel, c.clusterLabel];
        alert(
          'TimeWaitNamespacesNotWatched',
          'timewait_netns_dropped_namespaces{%s}\n  + timewait_netns_unreadable_processes{%s}\n> 0' % [sel, sel],
          c.namespacesNotWatched.warningFor,
          c.severities.warning,
          'timewait_exporter does not watch every network namespace: some have no TIME_WAIT alerts.',
          '{{ $labels.instance }}: ' + q('timewait_netns_dropped_namespaces') + ' selected network namespaces were left out by netns.max_namespaces, and ' + q('timewait_netns_unreadable_processes') + " processes had a /proc/<pid>/ns/net the exporter could not read, in the last scrape. The namespaces left out by the cap (other namespaces before pods'), and those of the unreadable processes unless a readable process shares them, have no metrics and no TIME_WAIT alerts.",
        ),
        alert(
          'TimeWaitExporterDown',
          'up{%s} == 0' % sel,
          c.exporter.downFor,
          c.severities.warning,
          'Prometheus cannot scrape timewait_exporter.',
          '{{ $labels.instance }}: Prometheus has failed to scrape timewait_exporter for ' + c.exporter.downFor + '; every TIME_WAIT alert for this host is blind until it is back.',
        ),
        alert(
          'TimeWaitExporterAbsent',
          'absent(up{%s})' % sel,
          c.exporter.absentFor,
          c.severities.warning,
          'No timewait_exporter target is known to Prometheus.',
          'Prometheus has had no target matching ' + sel + ' for ' + c.exporter.absentFor + ' (service discovery, relabeling or the job name changed); every TIME_WAIT alert is silent.',
        ),
        alert(
          'TimeWaitExporterCollectorFailing',
          'avg_over_time(timewait_scrape_collector_success{%s}[%s]) < 1' % [sel, c.exporter.collectorFailingWindow],
          c.exporter.collectorFailingFor,
          c.severities.warning,
          'A timewait_exporter collector is failing.',
          where + ': collector {{ $labels.collector }} of timewait_exporter succeeded in {{ $value | humanizePercentage }} of the scrapes of the last ' + c.exporter.collectorFailingWindow + ' and has failed at least once in every ' + c.exporter.collectorFailingWindow + ' for ' + c.exporter.collectorFailingFor + '; some or all of its metrics are missing from the failed scrapes, so TIME_WAIT alerts that use them may not fire.',
        ),
        alert(
          'TimeWaitExporterConfigReloadFailed',
          'timewait_exporter_config_last_reload_successful{%s} == 0' % sel,
          c.exporter.configReloadFailingFor,
          c.severities.warning,
          'timewait_exporter could not reload its configuration.',
          "{{ $labels.instance }}: timewait_exporter's last configuration reload failed; it keeps running with the previous configuration.",
        ),
      ],
    }],
  },
}
