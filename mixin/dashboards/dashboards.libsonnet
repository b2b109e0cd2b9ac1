// SPDX-License-Identifier: Apache-2.0

{
  grafanaDashboards+:: {
    'timewait-overview.json': (import 'overview.libsonnet')($._config),
    'timewait-host.json': (import 'host.libsonnet')($._config),
  },
}
