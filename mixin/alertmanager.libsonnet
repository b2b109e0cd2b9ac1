// SPDX-License-Identifier: Apache-2.0

// Alertmanager inhibition for the alerts: a critical alert silences the
// warning of the same alert for the same node and network namespace
// (_config.inhibitEqual), never another node's or another pod's.
// Rendered into deploy/prometheus/alertmanager.yml (render.jsonnet).
//
// kube-prometheus-stack's default rule (critical silences warning and info
// with `equal: [namespace, alertname]`) compares namespace only: a pod's
// alerts carry the pod's namespace (alerts/alerts.libsonnet) and stay apart
// from other namespaces' pods, but alerts without a namespace label (a
// node's own, as node_exporter's) all compare equal, so one node's critical
// silences every other node's warning of the same alert. This rule keys on
// the node instead.
{
  local c = $._config,
  // the alerts that fire in both severities
  local both = std.set([
    r.alert
    for g in $.prometheusAlerts.groups
    for r in g.rules
    if std.objectHas(r, 'alert') && r.labels.severity == c.severities.critical
  ]),
  local matchers(severity) = [
    'alertname =~ "%s"' % std.join('|', both),
    'severity = "%s"' % severity,
  ],

  alertmanagerInhibitRules+:: [{
    source_matchers: matchers(c.severities.critical),
    target_matchers: matchers(c.severities.warning),
    equal: c.inhibitEqual,
  }],
}
