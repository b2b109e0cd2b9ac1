// SPDX-License-Identifier: Apache-2.0

// Minimal Grafana dashboard model (schemaVersion 39, Grafana 10.x/11.x): just
// the fields these dashboards use, as plain jsonnet objects (grafonnet is not
// a dependency). A dashboard is a list of rows and [panel, width, height]
// entries; layout() places them left to right, wrapping at 24 columns, and
// numbers panels, targets and refIds.
local ds = { type: 'prometheus', uid: '${datasource}' };

{

  steps(base, pairs=[]):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] + [
      { value: pairs[2 * i], color: pairs[2 * i + 1] }
      for i in std.range(0, std.length(pairs) / 2 - 1)
    ],
  },

  rangeQ(expr, legend=''):: { expr: expr, legendFormat: legend, instant: false, range: true, format: 'time_series' },
  instantQ(expr, legend=''):: { expr: expr, legendFormat: legend, instant: true, range: false, format: 'time_series' },
  tableQ(expr):: { expr: expr, legendFormat: '__auto', instant: true, range: false, format: 'table' },

  timeseries(title, desc, unit, stacked, targets):: {
    type: 'timeseries',
    title: title,
    description: desc,
    targets: targets,
    fieldConfig: {
      defaults: {
        unit: unit,
        min: 0,
        custom: {
          drawStyle: 'line',
          lineWidth: if stacked then 0 else 1,
          fillOpacity: if stacked then 60 else 10,
          gradientMode: 'none',
          showPoints: 'never',
          spanNulls: false,
          axisPlacement: 'auto',
          stacking: { mode: if stacked then 'normal' else 'none', group: 'A' },
          thresholdsStyle: { mode: 'off' },
        },
        color: { mode: 'palette-classic' },
        thresholds: $.steps('green'),
        mappings: [],
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'], sortBy: 'Max', sortDesc: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },

  // withThresholdLines draws the thresholds as dashed lines on a time series.
  withThresholdLines(th):: {
    fieldConfig+: { defaults+: { thresholds: th, custom+: { thresholdsStyle: { mode: 'dashed' } } } },
  },
  withMax(max):: { fieldConfig+: { defaults+: { max: max } } },
  withLinks(links):: { fieldConfig+: { defaults+: { links: links } } },
  // panelLink is a link in the panel's header menu (a runbook section).
  panelLink(title, url):: {
    title: title,
    type: 'link',
    url: url,
    icon: 'doc',
    tooltip: '',
    tags: [],
    asDropdown: false,
    targetBlank: true,
    includeVars: false,
    keepTime: false,
  },
  withPanelLinks(links):: { links: links },
  // withSort sorts a table by one column, largest first.
  withSort(column):: { options+: { sortBy: [{ displayName: column, desc: true }] } },
  // withName shows the series name (legend) with the value: which host.
  withName:: { options+: { textMode: 'value_and_name' } },

  stat(title, desc, unit, th, target):: {
    type: 'stat',
    title: title,
    description: desc,
    targets: [target],
    fieldConfig: {
      defaults: { unit: unit, thresholds: th, color: { mode: 'thresholds' }, mappings: [], decimals: null },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'area',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'auto',
      wideLayout: true,
      showPercentChange: false,
      percentChangeColorMode: 'standard',
    },
  },

  // column of a merged multi-query table: {name, expr, unit, th, maps, desc}.
  column(name, expr, unit='', th=null, maps=null, desc=''):: {
    name: name,
    expr: expr,
    unit: unit,
    th: th,
    maps: maps,
    desc: desc,
  },

  // table: an instant table, one query per column, joined on their common
  // labels (Grafana's "merge" transformation).
  table(title, desc, keyCols, cols):: {
    local n = std.length(keyCols),
    local field(i) = 'Value #' + std.char(65 + i),
    local props(c) =
      (if c.unit != '' then [{ id: 'unit', value: c.unit }] else [])
      + (if c.th != null then [
           { id: 'thresholds', value: c.th },
           { id: 'custom.cellOptions', value: { type: 'color-background', mode: 'basic' } },
         ] else [])
      + (if c.maps != null then [{ id: 'mappings', value: c.maps }] else [])
      + (if c.desc != '' then [{ id: 'description', value: c.desc }] else []),
    type: 'table',
    title: title,
    description: desc,
    targets: [$.tableQ(c.expr) for c in cols],
    transformations: [
      { id: 'merge', options: {} },
      {
        id: 'organize',
        options: {
          excludeByName: { Time: true },
          renameByName: { [field(i)]: cols[i].name for i in std.range(0, std.length(cols) - 1) },
          indexByName: { [keyCols[i]]: i for i in std.range(0, n - 1) }
                       + { [cols[i].name]: n + i for i in std.range(0, std.length(cols) - 1) },
        },
      },
    ],
    fieldConfig: {
      defaults: {
        custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false, filterable: true },
        thresholds: $.steps('transparent'),
        mappings: [],
        color: { mode: 'thresholds' },
      },
      overrides: [
        { matcher: { id: 'byName', options: c.name }, properties: props(c) }
        for c in cols
        if std.length(props(c)) > 0
      ],
    },
    options: { showHeader: true, cellHeight: 'sm', frameIndex: 0, footer: { show: false, reducer: ['sum'], fields: '' } },
  },

  // valueMap maps exact values to display texts (and colours): [[value, text, colour]].
  valueMap(pairs):: [{
    type: 'value',
    options: {
      [pairs[i][0]]: { text: pairs[i][1], index: i } + (if pairs[i][2] != '' then { color: pairs[i][2] } else {})
      for i in std.range(0, std.length(pairs) - 1)
    },
  }],

  // datasourceVar: the Prometheus picker, limited to names matching regex
  // ('' for every Prometheus data source).
  datasourceVar(regex):: {
    name: 'datasource',
    label: 'Data source',
    description: 'Prometheus data source that scrapes timewait_exporter.',
    type: 'datasource',
    query: 'prometheus',
    refresh: 1,
    regex: regex,
    sort: 0,
    multi: false,
    includeAll: false,
    current: { text: 'default', value: 'default' },
    options: [],
    hide: 0,
  },

  // queryVar is a Prometheus label_values variable; hide 2 hides it.
  queryVar(name, label, desc, query, multi, includeAll, allValue='', hide=0):: {
    name: name,
    label: label,
    description: desc,
    type: 'query',
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
    definition: query,
    datasource: ds,
    refresh: 2,
    regex: '',
    sort: 1,
    multi: multi,
    includeAll: includeAll,
    [if allValue != '' then 'allValue']: allValue,
    current:
      if !includeAll then { text: '', value: '' }
      else if multi then { selected: true, text: ['All'], value: ['$__all'] }
      else { selected: true, text: 'All', value: '$__all' },
    options: [],
    hide: hide,
  },

  row(title):: { row: title },

  // layout numbers and places the items: rows ({row: title}) and
  // [panel, w, h] entries, wrapping at 24 columns.
  layout(items)::
    local step(st, it) =
      if std.isObject(it) then
        local y = if st.x > 0 then st.y + st.h else st.y;
        st {
          id: st.id + 1,
          y: y + 1,
          x: 0,
          h: 0,
          panels+: [{
            id: st.id,
            type: 'row',
            title: it.row,
            gridPos: { h: 1, w: 24, x: 0, y: y },
            collapsed: false,
            panels: [],
          }],
        }
      else
        local p = it[0], w = it[1], h = it[2];
        local wrap = st.x + w > 24;
        local y = if wrap then st.y + st.h else st.y;
        local x = if wrap then 0 else st.x;
        local rh = if wrap then 0 else st.h;
        st {
          id: st.id + 1,
          y: y,
          x: x + w,
          h: std.max(rh, h),
          panels+: [p {
            id: st.id,
            gridPos: { h: h, w: w, x: x, y: y },
            datasource: ds,
            targets: [
              p.targets[i] {
                refId: std.char(65 + i),
                datasource: ds,
                editorMode: 'code',
                [if p.targets[i].legendFormat == '' then 'legendFormat']:: '',
              }
              for i in std.range(0, std.length(p.targets) - 1)
            ],
          }],
        };
    std.foldl(step, items, { id: 1, y: 0, x: 0, h: 0, panels: [] }).panels,

  // dashboard: the dashboards link to each other by their first tag.
  dashboard(uid, title, desc, tags, vars, items):: {
    uid: uid,
    title: title,
    description: desc,
    tags: tags,
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    templating: { list: vars },
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }],
    },
    links: [{
      title: 'timewait_exporter dashboards',
      type: 'dashboards',
      tags: [tags[0]],
      asDropdown: true,
      includeVars: true,
      keepTime: true,
      icon: 'external link',
      targetBlank: false,
      tooltip: '',
      url: '',
    }],
    panels: $.layout(items),
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    id: null,
  },
}
