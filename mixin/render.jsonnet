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
    + { [chartFiles + 'timewait.rules.yml']: files[rulesFile] }
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
    'config/doctor_defaults.json': std.manifestJsonEx(m._config.doctor, '  ') + '\n',
  } + {
    ['dashboards/' + name]: std.manifestJsonEx(m.grafanaDashboards[name], '  ') + '\n'
    for name in std.objectFields(m.grafanaDashboards)
  })
