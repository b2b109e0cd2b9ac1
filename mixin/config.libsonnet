// SPDX-License-Identifier: Apache-2.0

// The one place to tune timewait_exporter's alerts, recording rules and
// dashboards (and the doctor's default thresholds). Override any key from
// your own jsonnet:
//
//   (import 'timewait_exporter/mixin/mixin.libsonnet') + {
//     _config+:: { selector: 'job="node-tw",cluster="prod"' },
//   }
//
// The promtool tests (deploy/prometheus/rules/timewait.rules.test.yml) are
// written against the values below: change both together.
{
  _config+:: {
    // PromQL label matchers that select the exporter's series. Put your
    // scrape job name here; add more matchers if you need to.
    selector: 'job="timewait"',

    // Alerts link to <runbookURL>#<alertname in lower case>.
    runbookURL: 'https://github.com/timewait-exporter/timewait_exporter/blob/main/docs/runbook.md',

    severities: { warning: 'warning', critical: 'critical' },

    // Ephemeral-port exhaustion: timewait_ephemeral_port_utilization_max_ratio
    // is the busiest (source IP, destination) pair's share of the ephemeral
    // ports connect() can use (usable ports minus those listeners own). At 1
    // the next connect() to that destination fails with EADDRNOTAVAIL.
    ephemeralPorts: { warningRatio: 0.7, warningFor: '5m', criticalRatio: 0.9, criticalFor: '2m' },

    // TIME_WAIT mini-sockets (timewait_sockstat_tw_sockets) as a share of
    // net.ipv4.tcp_max_tw_buckets. At the limit the kernel closes new sockets
    // without TIME_WAIT (see bucketOverflow).
    bucketsNearLimit: { warningRatio: 0.8, warningFor: '10m' },

    // Any increase of TcpExt TCPTimeWaitOverflow over `window`.
    bucketOverflow: { window: '5m', warningFor: '2m' },

    // TIME_WAIT count compared with its own average over `baselineWindow`
    // ending `baselineOffset` ago: fires when it exceeds `factor` times that
    // baseline and is above `minSockets` (so 10 -> 40 sockets does not page).
    spike: { factor: 3, baselineWindow: '1h', baselineOffset: '10m', minSockets: 1000, warningFor: '5m' },

    // The exporter itself: down (up == 0) or absent (no target at all),
    // a collector failing, a config reload failing.
    exporter: { downFor: '5m', absentFor: '10m', collectorFailingFor: '10m', configReloadFailingFor: '10m' },

    grafana: { hostUID: 'timewait-host', overviewUID: 'timewait-overview' },

    // The doctor's default utilisation thresholds (timewait_exporter doctor,
    // /doctor): the alert thresholds, rendered into config/doctor_defaults.json.
    doctor: {
      utilization_warning: $._config.ephemeralPorts.warningRatio,
      utilization_critical: $._config.ephemeralPorts.criticalRatio,
    },
  },
}
