// SPDX-License-Identifier: Apache-2.0

// Every file the mixin renders, keyed by its path in the repository. The
// render command (render/) writes them, or with -check compares them with
// the committed ones. `m` is mixin.libsonnet, possibly with an override.
function(m)
  local rules = { groups: m.prometheusAlerts.groups + m.prometheusRules.groups };
  // {header, yaml}: the render command writes the header, then the value as YAML.
  local yaml(header, x) = { header: header, yaml: x };
  local generated = '# Generated from mixin/ (jsonnet): DO NOT EDIT. Change mixin/config.libsonnet\n# (or the mixin) and run `make mixin`; test/alerts_rules.sh fails when they differ.\n';
  // The Helm chart (deploy/helm/timewait-exporter) carries copies of the
  // rules and the dashboards under files/: a chart reads only its own files.
  local chartFiles = 'deploy/helm/timewait-exporter/files/';
  local rulesFile = 'deploy/prometheus/rules/timewait.rules.yml';
  local withChartCopies(files) = files
                                 { [chartFiles + 'timewait.rules.yml']: files[rulesFile] }
                                 + { [chartFiles + p]: files[p] for p in std.objectFields(files) if std.startsWith(p, 'dashboards/') };
  withChartCopies({
    'deploy/prometheus/rules/timewait.rules.yml':
      yaml(generated + '# Usable as a Prometheus rule_files entry and as the spec of a PrometheusRule.\n', rules),
    'deploy/kubernetes/base/prometheusrule.yaml': yaml(generated, {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: {
        name: 'timewait-exporter',
        labels: {
          'app.kubernetes.io/name': 'timewait-exporter',
          'app.kubernetes.io/component': 'alerting-rules',
        },
      },
      spec: rules,
    }),
    'deploy/prometheus/alertmanager.yml': yaml(
      "# Example Alertmanager configuration for timewait_exporter's alerts\n"
      + '# (deploy/prometheus/rules/timewait.rules.yml), rendered from mixin/ (jsonnet):\n'
      + '# DO NOT EDIT; the inhibition comes from mixin/alertmanager.libsonnet.\n'
      + '#\n'
      + '# Ephemeral-port exhaustion is about to break outgoing connect()s: critical\n'
      + '# pages (oncall-pager); everything else from the exporter goes to the owning\n'
      + "# team's chat (network-team). A pod's alerts carry the pod's namespace and\n"
      + '# pod labels: add routes that match namespace to reach its team. Replace the\n'
      + "# receivers' endpoints with your own.\n"
      + '#\n'
      + '# inhibit_rules: a critical alert silences the warning of the same alert for\n'
      + '# the same node and network namespace only (equal: %s).\n' % std.join(', ', m._config.inhibitEqual),
      {
        route: {
          receiver: 'default',
          group_by: ['alertname', 'instance'],
          group_wait: '30s',
          group_interval: '5m',
          repeat_interval: '4h',
          routes: [
            {
              receiver: 'oncall-pager',
              matchers: ['alertname =~ "TimeWait.*"', 'severity = "%s"' % m._config.severities.critical],
              group_by: ['alertname', 'instance', 'netns'],
              repeat_interval: '1h',
            },
            {
              receiver: 'network-team',
              matchers: ['alertname =~ "TimeWait.*"'],
              group_by: ['alertname', 'instance', 'netns'],
            },
          ],
        },
        inhibit_rules: m.alertmanagerInhibitRules,
        receivers: [
          { name: 'default' },
          { name: 'oncall-pager', webhook_configs: [{ url: 'http://127.0.0.1:5001/pager', send_resolved: true }] },
          { name: 'network-team', webhook_configs: [{ url: 'http://127.0.0.1:5001/network-team', send_resolved: true }] },
        ],
      },
    ),
    'config/doctor_defaults.json': std.manifestJsonEx(m._config.doctor, '  ') + '\n',
  } + {
    ['dashboards/' + name]: std.manifestJsonEx(m.grafanaDashboards[name], '  ') + '\n'
    for name in std.objectFields(m.grafanaDashboards)
  })
