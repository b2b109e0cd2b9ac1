// SPDX-License-Identifier: Apache-2.0

// Selectors, variables and links shared by the dashboards.
local g = import 'grafana.libsonnet';

{
  new(c):: {
    // netns=~"$netns" with the All value ".*" also matches series that have
    // no netns label (namespace discovery off), so one dashboard serves both
    // modes.
    selHost:: 'job=~"$job",instance=~"$instance"',
    sel:: self.selHost + ',netns=~"$netns"',

    // s puts the selector into a query template: {S} -> {sel}, {H} -> {selHost}.
    s(q):: std.strReplace(std.strReplace(std.strReplace(q, '{S}', '{' + self.sel + '}'), '{S,', '{' + self.sel + ','), '{H}', '{' + self.selHost + '}'),

    // nsLabel names the namespace when the netns label is absent.
    nsLabel(q):: 'label_replace(' + q + ', "netns", "(exporter\'s own)", "netns", "")',

    runbook:: c.runbookURL,
    pct(r):: '%.15g%%' % (r * 100),
    alertsText:: 'warning above %s for %s, critical above %s for %s' % [
      self.pct(c.ephemeralPorts.warningRatio), c.ephemeralPorts.warningFor,
      self.pct(c.ephemeralPorts.criticalRatio), c.ephemeralPorts.criticalFor,
    ],
    hostUID:: c.grafana.hostUID,

    utilTh:: g.steps('green', [c.ephemeralPorts.warningRatio, 'orange', c.ephemeralPorts.criticalRatio, 'red']),
    bucketTh:: g.steps('green', [c.bucketsNearLimit.warningRatio, 'orange', 0.95, 'red']),
    // the same as table-cell colours
    utilCells:: g.steps('transparent', [c.ephemeralPorts.warningRatio, 'orange', c.ephemeralPorts.criticalRatio, 'red']),
    bucketCells:: g.steps('transparent', [c.bucketsNearLimit.warningRatio, 'orange', 0.95, 'red']),

    vars(multiInstance):: [
      g.datasourceVar,
      g.queryVar('job', 'Job', 'Prometheus job(s) scraping timewait_exporter.',
                 'label_values(timewait_exporter_build_info, job)', true, true, '.+'),
      if multiInstance then
        g.queryVar('instance', 'Instance', 'Hosts (exporter instances) to show.',
                   'label_values(timewait_exporter_build_info{job=~"$job"}, instance)', true, true, '.+')
      else
        g.queryVar('instance', 'Instance', 'The host (exporter instance) to drill into.',
                   'label_values(timewait_exporter_build_info{job=~"$job"}, instance)', false, false),
      g.queryVar('netns', 'Namespace',
                 "Network namespace (only with the exporter's namespace discovery on). All matches series with and without a netns label.",
                 'label_values(timewait_sockstat_tw_sockets{job=~"$job",instance=~"$instance"}, netns)', true, true, '.*'),
    ],

    hostLink(title):: {
      title: title,
      url: '/d/' + c.grafana.hostUID + '/?${datasource:queryparam}&${job:queryparam}&var-instance=${__field.labels.instance}&${__url_time_range}',
    },
  },
}
