// SPDX-License-Identifier: Apache-2.0

// Selectors, variables and links shared by the dashboards.
local g = import '../lib/grafana.libsonnet';
local selectors = import '../lib/selectors.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  new(c):: {
    // netns=~"$netns" with the All value ".*" also matches series that have
    // no netns label (namespace discovery off), so one dashboard serves both
    // modes.
    selHost:: '%s=~"$cluster",job=~"$job",instance=~"$instance"' % c.clusterLabel,
    sel:: self.selHost + ',netns=~"$netns"',

    // s puts the selector into a query template: {S} -> {sel}, {H} -> {selHost}
    // ({S, and {H, for more matchers), raw metrics with the mixin's selector
    // first (lib/selectors.libsonnet).
    local k = self,
    s(q):: selectors.expand(q, { S: k.sel, H: k.selHost }, c.selector),

    // nsLabel names the namespace when the netns label is absent.
    nsLabel(q):: 'label_replace(' + q + ', "netns", "(exporter\'s own)", "netns", "")',

    pct:: u.pct,
    alertsText:: 'warning above %s for %s, critical above %s for %s' % [
      self.pct(c.ephemeralPorts.warningRatio),
      c.ephemeralPorts.warningFor,
      self.pct(c.ephemeralPorts.criticalRatio),
      c.ephemeralPorts.criticalFor,
    ],

    utilTh:: g.steps('green', [c.ephemeralPorts.warningRatio, 'orange', c.ephemeralPorts.criticalRatio, 'red']),
    // Only a warning alert watches bucket use: orange, never red.
    bucketTh:: g.steps('green', [c.bucketsNearLimit.warningRatio, 'orange']),
    // the same as table-cell colours
    utilCells:: g.steps('transparent', [c.ephemeralPorts.warningRatio, 'orange', c.ephemeralPorts.criticalRatio, 'red']),
    bucketCells:: g.steps('transparent', [c.bucketsNearLimit.warningRatio, 'orange']),

    vars(multiInstance):: [
      g.datasourceVar(c.grafana.datasourceRegex),
      g.queryVar('cluster',
                 'Cluster',
                 'Cluster(s) to show: values of the ' + c.clusterLabel + ' label (All also matches series without it).',
                 'label_values(timewait_exporter_build_info{%s}, %s)' % [c.selector, c.clusterLabel],
                 true,
                 true,
                 '.*',
                 hide=if c.grafana.showMultiCluster then 0 else 2),
      g.queryVar('job',
                 'Job',
                 'Prometheus job(s) scraping timewait_exporter.',
                 'label_values(timewait_exporter_build_info{%s,%s=~"$cluster"}, job)' % [c.selector, c.clusterLabel],
                 true,
                 true,
                 '.+'),
      g.queryVar('instance',
                 'Instance',
                 if multiInstance then 'Hosts (exporter instances) to show.' else 'The host (exporter instance) to drill into.',
                 'label_values(timewait_exporter_build_info{%s,%s=~"$cluster",job=~"$job"}, instance)' % [c.selector, c.clusterLabel],
                 multiInstance,
                 multiInstance,
                 if multiInstance then '.+' else ''),
      g.queryVar('netns',
                 'Namespace',
                 "Network namespace (only with the exporter's namespace discovery on). All matches series with and without a netns label.",
                 'label_values(timewait_sockstat_tw_sockets{%s,%s=~"$cluster",job=~"$job",instance=~"$instance"}, netns)' % [c.selector, c.clusterLabel],
                 true,
                 true,
                 '.*'),
    ],

    // hostLink opens the Host dashboard on the clicked series' instance, all
    // its namespaces (a graph of per-host series: ${__field.labels.X});
    // hostRowLink on a table row's instance, and its netns when the table is
    // per namespace (an empty netns, discovery off, selects the series
    // without the label).
    local host = '/d/' + c.grafana.hostUID + '/?${datasource:queryparam}&${cluster:queryparam}&${job:queryparam}&${__url_time_range}',
    hostLink(title):: { title: title, url: host + '&var-instance=${__field.labels.instance}&var-netns=$__all' },
    hostRowLink(title, withNetns):: {
      title: title,
      url: host + '&var-instance=${__data.fields.instance}' + (if withNetns then '&var-netns=${__data.fields.netns}' else '&var-netns=$__all'),
    },
    // runbookLink(alert): a panel link to the alert's runbook section.
    runbookLink(alert):: g.panelLink('Runbook: ' + alert, c.runbook(alert)),
  },
}
