// SPDX-License-Identifier: Apache-2.0

// The one place to tune timewait_exporter's alerts, recording rules and
// dashboards (and the doctor's default thresholds). Override any key from
// your own jsonnet:
//
//   (import 'timewait_exporter/mixin/mixin.libsonnet') + {
//     _config+:: { selector: 'job="node-tw",cluster="prod"' },
//   }
//
// The promtool tests (mixin/tests/*.yml) are
// written against the values below: change both together.
{
  _config+:: {
    // PromQL label matchers that select the exporter's series. Put your
    // scrape job name here; add more matchers if you need to. The alerts keep
    // every target label, so a label that changes when the exporter is
    // redeployed (the Prometheus Operator's `pod`, `container`, `endpoint`)
    // starts new series and restarts every `for:`: drop such labels when
    // scraping (deploy/kubernetes/base/servicemonitor.yaml does). An alert
    // about one network namespace takes namespace and pod from the pod of
    // that namespace, or drops them (alerts/alerts.libsonnet).
    selector: 'job="timewait"',

    // PromQL label matchers that select kube-state-metrics' kube_pod_info,
    // which names the pod of a namespace by UID (rules/pods.libsonnet).
    // Without kube-state-metrics the exporter's own pod_namespace and
    // pod_name labels (from /var/log/pods) are used.
    kubeStateMetricsSelector: 'job="kube-state-metrics"',

    // The label that names a cluster (a dashboard variable; multi-cluster
    // Prometheus or Thanos setups add it as an external or target label).
    clusterLabel: 'cluster',
    // The labels that name one exporter (a host), and one of its network
    // namespaces: what the recording rules aggregate by and the
    // dashboards join on.
    hostLabels:: '%s, job, instance' % self.clusterLabel,
    netnsLabels:: self.hostLabels + ', netns',
    // The labels an Alertmanager inhibition rule compares (equal:): the
    // same alert on the same node and network namespace
    // (alertmanager.libsonnet; deploy/prometheus/alertmanager.yml).
    inhibitEqual:: ['alertname'] + [std.stripChars(l, ' ') for l in std.split(self.netnsLabels, ',')],

    // Alerts (and dashboard panels) link to <runbookURL>#<alertname in
    // lower case>; the exporter's own alerts (TimeWaitExporter*) to
    // <exporterRunbookURL>#<alertname in lower case>.
    runbookURL: 'https://github.com/timewait-exporter/timewait_exporter/blob/main/docs/runbook.md',
    exporterRunbookURL: 'https://github.com/timewait-exporter/timewait_exporter/blob/main/docs/runbook-exporter.md',
    runbook(alert)::
      (if std.startsWith(alert, 'TimeWaitExporter') then $._config.exporterRunbookURL else $._config.runbookURL)
      + '#' + std.asciiLower(alert),

    // info: worth a look, not an outage (TimeWaitSpike).
    severities: { info: 'info', warning: 'warning', critical: 'critical' },

    // Ephemeral-port exhaustion: timewait_ephemeral_port_utilization_max_ratio
    // is the busiest (source IP, destination) pair's share of the ephemeral
    // ports connect() can use (usable ports minus those listeners own, minus one for an odd-sized range). At 1
    // the next connect() to that destination fails with EADDRNOTAVAIL.
    ephemeralPorts: { warningRatio: 0.7, warningFor: '5m', criticalRatio: 0.9, criticalFor: '2m' },

    // The pool itself running out: programs that bind() before connect()
    // take a port from the pool for every connection, and
    // __inet_hash_connect (net/ipv4/inet_hashtables.c) never gives a port
    // bind() took to another connect(), so the ratio of one destination
    // stays low while connect() to every destination fails. Fires when
    // timewait_ephemeral_ports_in_use / timewait_ephemeral_ports_usable is
    // above the ratio while
    // - the outbound sockets share almost no port (sockets <= sharingMax x
    //   distinct ports; connect() alone shares ports between destinations
    //   as the pool fills), and
    // - more than excessMin of the usable ports are held beyond what the
    //   busiest (source IP, destination) flow alone occupies
    //   (timewait_outbound_max_flow_sockets, reusable TIME_WAIT included):
    //   one flow filling the pool is TimeWaitEphemeralPortsExhausting's case,
    //   or, under tcp_tw_reuse, no outage at all.
    // The doctor's bind-before-connect finding uses the same sharingMax and
    // excessMin.
    ephemeralPool: {
      warningRatio: $._config.ephemeralPorts.warningRatio,
      warningFor: $._config.ephemeralPorts.warningFor,
      criticalRatio: $._config.ephemeralPorts.criticalRatio,
      criticalFor: $._config.ephemeralPorts.criticalFor,
      sharingMax: 1.02,
      excessMin: 0.1,
    },

    // Predictive: the busiest pair's ratio, extrapolated linearly over
    // `window`, reaches 1 within `horizon`. Only above `minRatio` (a pair at
    // 5 % that doubles is no news) and for series at least `window` old (a
    // new series has no trend yet).
    portsFillingUp: { window: '30m', horizon: '1h', minRatio: 0.5, warningFor: '10m' },

    // TIME_WAIT mini-sockets (timewait_sockstat_tw_sockets) as a share of
    // net.ipv4.tcp_max_tw_buckets. At the limit the kernel closes new sockets
    // without TIME_WAIT (see bucketOverflow).
    bucketsNearLimit: { warningRatio: 0.8, warningFor: '10m' },

    // Any increase of TcpExt TCPTimeWaitOverflow over `window` (an integer
    // counter: increase() is 0 or about 1 or more; a reboot's reset is not an
    // increase, as it would be a change for changes()). One overflow keeps
    // increase() above 0 while the window holds the samples before and after
    // it: `window` less one scrape interval, on Prometheus 2 and 3 alike (4m
    // at a 1m scrape), which must outlast `warningFor` plus one rule
    // evaluation interval for a single overflow to page.
    bucketOverflow: { window: '5m', warningFor: '2m' },

    // TIME_WAIT count compared with its own average over `baselineWindow`
    // ending `baselineOffset` ago: fires when it exceeds `factor` times that
    // baseline and is above `minSockets` (so 10 -> 40 sockets does not page).
    // A series younger than baselineWindow + baselineOffset has no baseline
    // yet and is left out (a new namespace or pod is not a spike).
    spike: { factor: 3, baselineWindow: '1h', baselineOffset: '10m', minSockets: 1000, warningFor: '5m' },

    // Network namespaces the exporter does not watch (--netns.discover):
    // selected ones left out by netns.max_namespaces
    // (timewait_netns_dropped_namespaces), or processes whose
    // /proc/<pid>/ns/net it could not read
    // (timewait_netns_unreadable_processes), for `warningFor`. Pods'
    // namespaces are visited before the others (selectNetns), so the cap
    // drops the others first.
    namespacesNotWatched: { warningFor: '15m' },

    // The exporter itself: down (up == 0) or absent (no target at all), a
    // config reload failing, a collector failing: at least once in every
    // `collectorFailingWindow` for `collectorFailingFor` (a collector that
    // fails every other scrape, not only one that always fails). At a 1m
    // scrape a 10m window holds 10 scrapes: a collector failing once in 10
    // scrapes alerts, once in 11 does not, on Prometheus 2 and 3 alike.
    exporter: {
      downFor: '5m',
      absentFor: '10m',
      collectorFailingWindow: '10m',
      collectorFailingFor: '15m',
      configReloadFailingFor: '10m',
    },

    // Dashboards: uids, the title prefix ("TIME_WAIT / Overview") and tags
    // (the dashboards link to each other by the first tag), a regex that
    // limits the data source picker (e.g. '/^prom-.*/'; empty: every
    // Prometheus), and whether the cluster variable is shown (false hides it
    // on single-cluster setups; its All value still matches everything).
    // The panels' queries read raw metrics with `selector` too; recorded
    // series (level:metric:operation) are already selected by the rules.
    grafana: {
      hostUID: 'timewait-host',
      overviewUID: 'timewait-overview',
      titlePrefix: 'TIME_WAIT / ',
      tags: ['timewait', 'timewait_exporter', 'tcp'],
      datasourceRegex: '',
      showMultiCluster: true,
    },

    // The doctor's thresholds (timewait_exporter doctor, /doctor): the alert
    // thresholds, rendered into config/doctor_defaults.json. The utilisation
    // ones are defaults a config file may change; the bucket one is not.
    doctor: {
      utilization_warning: $._config.ephemeralPorts.warningRatio,
      utilization_critical: $._config.ephemeralPorts.criticalRatio,
      buckets_warning: $._config.bucketsNearLimit.warningRatio,
      bind_sharing_max: $._config.ephemeralPool.sharingMax,
      bind_excess_min: $._config.ephemeralPool.excessMin,
    },
  },
}
