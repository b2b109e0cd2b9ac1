package main

// Minimal Grafana dashboard model (schemaVersion 39, Grafana 10.x/11.x):
// just the fields these dashboards use. Map-typed parts (options,
// fieldConfig) are kept as generic JSON so they follow Grafana's own names.

type obj = map[string]any

const schemaVersion = 39

// ds is the datasource reference every panel and target uses.
var ds = obj{"type": "prometheus", "uid": "${datasource}"}

type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Refresh       string      `json:"refresh"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Time          obj         `json:"time"`
	Timepicker    obj         `json:"timepicker"`
	Templating    obj         `json:"templating"`
	Annotations   obj         `json:"annotations"`
	Links         []obj       `json:"links"`
	Panels        []*Panel    `json:"panels"`
	FiscalYear    int         `json:"fiscalYearStartMonth"`
	LiveNow       bool        `json:"liveNow"`
	WeekStart     string      `json:"weekStart"`
	ID            *int        `json:"id"`
	vars          []*Variable `json:"-"`
	nextID        int         `json:"-"`
	y             int         `json:"-"`
	rowX          int         `json:"-"`
	rowH          int         `json:"-"`
}

type Panel struct {
	ID              int       `json:"id"`
	Type            string    `json:"type"`
	Title           string    `json:"title"`
	Description     string    `json:"description,omitempty"`
	GridPos         obj       `json:"gridPos"`
	Datasource      obj       `json:"datasource,omitempty"`
	Targets         []*Target `json:"targets,omitempty"`
	FieldConfig     obj       `json:"fieldConfig,omitempty"`
	Options         obj       `json:"options,omitempty"`
	Transformations []obj     `json:"transformations,omitempty"`
	Collapsed       *bool     `json:"collapsed,omitempty"`
	Panels          any       `json:"panels,omitempty"` // rows only: always a list
}

type Target struct {
	RefID        string `json:"refId"`
	Datasource   obj    `json:"datasource"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat,omitempty"`
	Instant      bool   `json:"instant"`
	Range        bool   `json:"range"`
	Format       string `json:"format"`
	EditorMode   string `json:"editorMode"`
}

type Variable struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description"`
	Type        string `json:"type"`
	Query       any    `json:"query"`
	Definition  string `json:"definition,omitempty"`
	Datasource  obj    `json:"datasource,omitempty"`
	Refresh     int    `json:"refresh"`
	Regex       string `json:"regex"`
	Sort        int    `json:"sort"`
	Multi       bool   `json:"multi"`
	IncludeAll  bool   `json:"includeAll"`
	AllValue    string `json:"allValue,omitempty"`
	Current     obj    `json:"current"`
	Options     []obj  `json:"options"`
	Hide        int    `json:"hide"`
}

func newDashboard(uid, title, desc string) *Dashboard {
	return &Dashboard{
		UID: uid, Title: title, Description: desc,
		Tags:          []string{"timewait", "timewait_exporter", "tcp"},
		Timezone:      "browser",
		Editable:      true,
		GraphTooltip:  1,
		Refresh:       "30s",
		SchemaVersion: schemaVersion,
		Version:       1,
		Time:          obj{"from": "now-6h", "to": "now"},
		Timepicker:    obj{},
		Annotations: obj{"list": []obj{{
			"builtIn": 1, "datasource": obj{"type": "grafana", "uid": "-- Grafana --"},
			"enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)",
			"name": "Annotations & Alerts", "type": "dashboard",
		}}},
		Links: []obj{{
			"title": "timewait_exporter dashboards", "type": "dashboards", "tags": []string{"timewait"},
			"asDropdown": true, "includeVars": true, "keepTime": true, "icon": "external link",
			"targetBlank": false, "tooltip": "", "url": "",
		}},
		WeekStart: "",
		nextID:    1,
	}
}

func (d *Dashboard) finish() *Dashboard {
	d.Templating = obj{"list": d.vars}
	return d
}

func (d *Dashboard) datasourceVar() {
	d.vars = append(d.vars, &Variable{
		Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus",
		Description: "Prometheus data source that scrapes timewait_exporter.",
		Refresh:     1, Current: obj{"text": "default", "value": "default"}, Options: []obj{},
	})
}

// queryVar adds a Prometheus label_values variable.
func (d *Dashboard) queryVar(name, label, desc, query string, multi, includeAll bool, allValue string) {
	v := &Variable{
		Name: name, Label: label, Description: desc, Type: "query",
		Query:      obj{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
		Definition: query, Datasource: ds,
		Refresh: 2, Sort: 1, Multi: multi, IncludeAll: includeAll, AllValue: allValue,
		Current: obj{"text": "", "value": ""}, Options: []obj{},
	}
	if includeAll {
		v.Current = obj{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}
		if !multi {
			v.Current = obj{"selected": true, "text": "All", "value": "$__all"}
		}
	}
	d.vars = append(d.vars, v)
}

// row starts a new row of panels.
func (d *Dashboard) row(title string) {
	d.newline()
	f := false
	d.Panels = append(d.Panels, &Panel{
		ID: d.id(), Type: "row", Title: title, Collapsed: &f, Panels: []*Panel{},
		GridPos: obj{"h": 1, "w": 24, "x": 0, "y": d.y},
	})
	d.y++
}

func (d *Dashboard) id() int { d.nextID++; return d.nextID - 1 }

func (d *Dashboard) newline() {
	if d.rowX > 0 {
		d.y += d.rowH
		d.rowX, d.rowH = 0, 0
	}
}

// add places p w columns wide and h rows high, wrapping at 24 columns.
func (d *Dashboard) add(p *Panel, w, h int) *Panel {
	if d.rowX+w > 24 {
		d.newline()
	}
	p.ID = d.id()
	p.GridPos = obj{"h": h, "w": w, "x": d.rowX, "y": d.y}
	p.Datasource = ds
	for i, t := range p.Targets {
		t.RefID = string(rune('A' + i))
		t.Datasource = ds
		t.EditorMode = "code"
	}
	d.rowX += w
	if h > d.rowH {
		d.rowH = h
	}
	d.Panels = append(d.Panels, p)
	return p
}

// Targets.

func rangeQ(expr, legend string) *Target {
	return &Target{Expr: expr, LegendFormat: legend, Range: true, Format: "time_series"}
}

func instantQ(expr, legend string) *Target {
	return &Target{Expr: expr, LegendFormat: legend, Instant: true, Format: "time_series"}
}

func tableQ(expr string) *Target {
	return &Target{Expr: expr, LegendFormat: "__auto", Instant: true, Format: "table"}
}

// Field config helpers.

func steps(base string, kv ...any) obj {
	s := []obj{{"color": base, "value": nil}}
	for i := 0; i+1 < len(kv); i += 2 {
		s = append(s, obj{"value": kv[i], "color": kv[i+1]})
	}
	return obj{"mode": "absolute", "steps": s}
}

func timeseries(title, desc, unit string, stacked bool, targets ...*Target) *Panel {
	custom := obj{
		"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "gradientMode": "none",
		"showPoints": "never", "spanNulls": false, "axisPlacement": "auto",
		"stacking":        obj{"mode": "none", "group": "A"},
		"thresholdsStyle": obj{"mode": "off"},
	}
	if stacked {
		custom["stacking"] = obj{"mode": "normal", "group": "A"}
		custom["fillOpacity"] = 60
		custom["lineWidth"] = 0
	}
	return &Panel{
		Type: "timeseries", Title: title, Description: desc, Targets: targets,
		FieldConfig: obj{
			"defaults": obj{"unit": unit, "min": 0, "custom": custom, "color": obj{"mode": "palette-classic"},
				"thresholds": steps("green"), "mappings": []obj{}},
			"overrides": []obj{},
		},
		Options: obj{
			"legend":  obj{"displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": []string{"lastNotNull", "max"}, "sortBy": "Max", "sortDesc": true},
			"tooltip": obj{"mode": "multi", "sort": "desc"},
		},
	}
}

// withThresholdLines draws the thresholds as dashed lines on a time series.
func withThresholdLines(p *Panel, th obj) *Panel {
	def := p.FieldConfig["defaults"].(obj)
	def["thresholds"] = th
	def["custom"].(obj)["thresholdsStyle"] = obj{"mode": "dashed"}
	return p
}

func withMax(p *Panel, max float64) *Panel {
	p.FieldConfig["defaults"].(obj)["max"] = max
	return p
}

func stat(title, desc, unit string, th obj, t *Target) *Panel {
	return &Panel{
		Type: "stat", Title: title, Description: desc, Targets: []*Target{t},
		FieldConfig: obj{
			"defaults":  obj{"unit": unit, "thresholds": th, "color": obj{"mode": "thresholds"}, "mappings": []obj{}, "decimals": nil},
			"overrides": []obj{},
		},
		Options: obj{
			"reduceOptions": obj{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "background", "graphMode": "area", "justifyMode": "auto",
			"orientation": "auto", "textMode": "auto", "wideLayout": true, "showPercentChange": false,
			"percentChangeColorMode": "standard",
		},
	}
}

// column describes one column of a merged multi-query table.
type column struct {
	name string // header
	expr string
	unit string
	th   obj   // nil: no colouring
	maps []obj // value mappings
	desc string
}

// table builds an instant, merged table: one query per column, joined on
// their common labels (Grafana's "merge" transformation).
func table(title, desc string, keyCols []string, cols []column) *Panel {
	p := &Panel{Type: "table", Title: title, Description: desc}
	rename := obj{}
	index := obj{}
	exclude := obj{"Time": true}
	for i, k := range keyCols {
		index[k] = i
	}
	var overrides []obj
	for i, c := range cols {
		p.Targets = append(p.Targets, tableQ(c.expr))
		field := "Value #" + string(rune('A'+i))
		rename[field] = c.name
		index[c.name] = len(keyCols) + i
		props := []obj{}
		if c.unit != "" {
			props = append(props, obj{"id": "unit", "value": c.unit})
		}
		if c.th != nil {
			props = append(props,
				obj{"id": "thresholds", "value": c.th},
				obj{"id": "custom.cellOptions", "value": obj{"type": "color-background", "mode": "basic"}})
		}
		if c.maps != nil {
			props = append(props, obj{"id": "mappings", "value": c.maps})
		}
		if c.desc != "" {
			props = append(props, obj{"id": "description", "value": c.desc})
		}
		if len(props) > 0 {
			overrides = append(overrides, obj{"matcher": obj{"id": "byName", "options": c.name}, "properties": props})
		}
	}
	p.Transformations = []obj{
		{"id": "merge", "options": obj{}},
		{"id": "organize", "options": obj{"excludeByName": exclude, "renameByName": rename, "indexByName": index}},
	}
	p.FieldConfig = obj{
		"defaults": obj{
			"custom":     obj{"align": "auto", "cellOptions": obj{"type": "auto"}, "inspect": false, "filterable": true},
			"thresholds": steps("transparent"), "mappings": []obj{}, "color": obj{"mode": "thresholds"},
		},
		"overrides": overrides,
	}
	p.Options = obj{"showHeader": true, "cellHeight": "sm", "frameIndex": 0, "footer": obj{"show": false, "reducer": []string{"sum"}, "fields": ""}}
	return p
}

// valueMap maps exact values to display texts (and colours).
func valueMap(pairs ...[3]string) []obj {
	opts := obj{}
	for i, p := range pairs {
		m := obj{"text": p[1], "index": i}
		if p[2] != "" {
			m["color"] = p[2]
		}
		opts[p[0]] = m
	}
	return []obj{{"type": "value", "options": opts}}
}
