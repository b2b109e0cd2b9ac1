// SPDX-License-Identifier: Apache-2.0

// timewait_exporter's monitoring mixin: alerts, recording rules and Grafana
// dashboards from one _config (config.libsonnet). Import it and override
// _config; see README.md.
(import 'config.libsonnet')
+ (import 'alerts/alerts.libsonnet')
+ (import 'rules/rules.libsonnet')
+ (import 'rules/pods.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
+ (import 'alertmanager.libsonnet')
