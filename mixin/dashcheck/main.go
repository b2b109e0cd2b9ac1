// SPDX-License-Identifier: Apache-2.0

// Command dashcheck checks the Grafana dashboards the mixin renders
// (dashboards/*.json). Standard library only. From mixin/:
//
//	go run ./dashcheck lint -dir ../dashboards -rules x.yml
//	                                     # structural checks; every PromQL
//	                                     # expression into a rule file for
//	                                     # `promtool check rules x.yml`
//	go run ./dashcheck query -dir ../dashboards -prometheus http://127.0.0.1:9090 -var job=timewait
//	                                     # every panel query must return data
package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dashcheck lint|query|expr [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "lint":
		err = lint(os.Args[2:])
	case "query":
		err = query(os.Args[2:])
	case "expr":
		err = exprCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashcheck:", err)
		os.Exit(1)
	}
}

// ---- reading any dashboard JSON (generated or hand-edited) ----

type jdash struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []jpane `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
			Def   string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type jpane struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Datasource  *jds            `json:"datasource"`
	GridPos     map[string]int  `json:"gridPos"`
	Targets     []jtarget       `json:"targets"`
	Panels      []jpane         `json:"panels"`
	Raw         json.RawMessage `json:"-"`
}

type jds struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type jtarget struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Instant    bool   `json:"instant"`
	Range      bool   `json:"range"`
	Datasource *jds   `json:"datasource"`
}

// expr is one PromQL expression found in a dashboard.
type expr struct {
	where   string // dashboard / panel / refId
	expr    string
	instant bool
	mustHit bool // must return data end to end
	isVar   bool // a variable's values, not a panel
}

func loadDashboards(dir string) (map[string]*jdash, []string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("no dashboards in %s", dir)
	}
	sort.Strings(paths)
	out := map[string]*jdash{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		var d jdash
		if err := dec.Decode(&d); err != nil {
			return nil, nil, fmt.Errorf("%s: invalid JSON: %w", p, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s: trailing data after the dashboard object", p)
		}
		out[p] = &d
	}
	return out, paths, nil
}

var (
	uidRE     = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,40}$`)
	varRE     = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)`)
	metricRE  = regexp.MustCompile(`[a-z_:]*timewait_[a-z0-9_:]+`)
	recordRE  = regexp.MustCompile(`(?m)^\s*(?:-\s+)?record:\s*(\S+)\s*$`)
	labelVals = regexp.MustCompile(`^\s*label_values\((.*),\s*(\w+)\s*\)\s*$`)
)

// metricsList is the exporter's metric names, one a line, generated from
// its table of metrics (collector/metrics.go; TestKnownMetricsFile fails
// when the two differ).
//
//go:embed metrics.txt
var metricsList string

// knownMetrics are the exporter's metric names (exact), and once
// addRecorded has run the recording rules'. A dashboard that names
// anything else has a typo.
var knownMetrics = toSet(commentRE.ReplaceAllString(metricsList, ""))

// commentRE matches the comment lines of metrics.txt.
var commentRE = regexp.MustCompile(`(?m)^#.*$`)

// addRecorded adds the recording rules' names (record: lines of the rules
// file) to the known metrics: the Overview reads them.
func addRecorded(rulesFile, dashboards string) error {
	if rulesFile == "" {
		rulesFile = filepath.Join(dashboards, "..", "deploy", "prometheus", "rules", "timewait.rules.yml")
	}
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		return err
	}
	for _, m := range recordRE.FindAllStringSubmatch(string(b), -1) {
		knownMetrics[m[1]] = true
	}
	return nil
}

func toSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

type varFlag map[string]string

func (v varFlag) String() string { return fmt.Sprint(map[string]string(v)) }
func (v varFlag) Set(s string) error {
	k, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want name=value, got %q", s)
	}
	v[k] = val
	return nil
}

// substitute replaces dashboard variables; unknown names are errors.
func substitute(e string, vars map[string]string) (string, error) {
	var bad []string
	out := varRE.ReplaceAllStringFunc(e, func(m string) string {
		sm := varRE.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		v, ok := vars[name]
		if !ok {
			bad = append(bad, name)
			return m
		}
		return v
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("undefined variable(s) %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// collect runs the structural checks over all dashboards and returns every
// expression with variables substituted.
func collect(dir string, overrides map[string]string) ([]expr, []string, error) {
	dashes, paths, err := loadDashboards(dir)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	fail := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	uids, titles := map[string]string{}, map[string]string{}
	var exprs []expr
	for _, p := range paths {
		d := dashes[p]
		name := filepath.Base(p)
		if !uidRE.MatchString(d.UID) {
			fail("%s: uid %q missing or not a stable short id", name, d.UID)
		}
		if o, dup := uids[d.UID]; dup {
			fail("%s: uid %q also used by %s", name, d.UID, o)
		}
		uids[d.UID] = name
		if d.Title == "" {
			fail("%s: no title", name)
		}
		if o, dup := titles[d.Title]; dup {
			fail("%s: title %q also used by %s", name, d.Title, o)
		}
		titles[d.Title] = name
		if d.SchemaVersion < 30 {
			fail("%s: schemaVersion %d too old", name, d.SchemaVersion)
		}
		vars := map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "1h",
			"__range_s": "3600", "__interval_ms": "60000"}
		defined := map[string]bool{}
		var varQueries []expr
		for _, v := range d.Templating.List {
			defined[v.Name] = true
			switch v.Type {
			case "datasource":
				var q string
				json.Unmarshal(v.Query, &q)
				if v.Name != "datasource" || q != "prometheus" {
					fail("%s: datasource variable must be named datasource with query prometheus", name)
				}
			case "query":
				vars[v.Name] = ".*"
				q := v.Def
				var qo struct {
					Query string `json:"query"`
				}
				if json.Unmarshal(v.Query, &qo) == nil && qo.Query != "" {
					q = qo.Query
				} else if json.Unmarshal(v.Query, &q) != nil {
					q = v.Def
				}
				m := labelVals.FindStringSubmatch(q)
				if m == nil {
					fail("%s: variable %s: query %q is not label_values(selector, label)", name, v.Name, q)
					continue
				}
				varQueries = append(varQueries, expr{where: name + " / variable " + v.Name,
					expr: "count by (" + m[2] + ") (" + m[1] + ")", instant: true, mustHit: v.Name == "job" || v.Name == "instance", isVar: true})
			default:
				vars[v.Name] = ".*"
			}
		}
		for _, want := range []string{"datasource", "job", "instance"} {
			if !defined[want] {
				fail("%s: no %s variable", name, want)
			}
		}
		for k, v := range overrides {
			vars[k] = v
		}
		for _, vq := range varQueries {
			e, err := substitute(vq.expr, vars)
			if err != nil {
				fail("%s: %v", vq.where, err)
				continue
			}
			vq.expr = e
			exprs = append(exprs, vq)
		}
		ids := map[int]bool{}
		var walk func(ps []jpane)
		walk = func(ps []jpane) {
			for _, pn := range ps {
				where := fmt.Sprintf("%s / panel %d %q", name, pn.ID, pn.Title)
				if ids[pn.ID] || pn.ID <= 0 {
					fail("%s: panel id missing or duplicated", where)
				}
				ids[pn.ID] = true
				if pn.GridPos["w"] <= 0 || pn.GridPos["x"]+pn.GridPos["w"] > 24 || pn.GridPos["h"] <= 0 {
					fail("%s: bad gridPos %v", where, pn.GridPos)
				}
				if pn.Type == "row" {
					walk(pn.Panels)
					continue
				}
				if pn.Title == "" {
					fail("%s: no title", where)
				}
				if strings.TrimSpace(pn.Description) == "" {
					fail("%s: no description", where)
				}
				if pn.Datasource == nil || (pn.Datasource.UID != "${datasource}" && pn.Datasource.UID != "$datasource") {
					fail("%s: datasource must be ${datasource}", where)
				}
				if len(pn.Targets) == 0 {
					fail("%s: no queries", where)
				}
				refs := map[string]bool{}
				for _, t := range pn.Targets {
					tw := where + " / " + t.RefID
					if t.RefID == "" || refs[t.RefID] {
						fail("%s: refId missing or duplicated", tw)
					}
					refs[t.RefID] = true
					if t.Datasource != nil && t.Datasource.UID != "${datasource}" && t.Datasource.UID != "$datasource" {
						fail("%s: target datasource must be ${datasource}", tw)
					}
					if strings.TrimSpace(t.Expr) == "" {
						fail("%s: empty expr", tw)
						continue
					}
					for _, m := range metricRE.FindAllString(t.Expr, -1) {
						if !knownMetrics[m] {
							fail("%s: unknown metric %s", tw, m)
						}
					}
					e, err := substitute(t.Expr, vars)
					if err != nil {
						fail("%s: %v", tw, err)
						continue
					}
					exprs = append(exprs, expr{where: tw, expr: e, instant: t.Instant && !t.Range, mustHit: true})
				}
			}
		}
		walk(d.Panels)
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "\n  "))
	}
	return exprs, paths, nil
}

func lint(args []string) error {
	fs := flag.NewFlagSet("lint", flag.ExitOnError)
	dir := fs.String("dir", "..", "directory holding the dashboards")
	rules := fs.String("rules", "", "write every expression as a recording rule here, for promtool check rules")
	recorded := fs.String("recorded", "", "rules file whose recorded metric names the dashboards may use (default: deploy/prometheus/rules/timewait.rules.yml beside -dir)")
	fs.Parse(args)
	if err := addRecorded(*recorded, *dir); err != nil {
		return err
	}
	exprs, paths, err := collect(*dir, nil)
	if err != nil {
		return fmt.Errorf("dashboard lint:\n  %w", err)
	}
	if *rules != "" {
		var b strings.Builder
		b.WriteString("groups:\n  - name: dashboard-expressions\n    rules:\n")
		for _, e := range exprs {
			q, _ := json.Marshal(e.expr) // a JSON string is a valid YAML scalar
			w, _ := json.Marshal(e.where)
			fmt.Fprintf(&b, "      - record: dashboard_expression\n        expr: %s\n        labels:\n          where: %s\n", q, w)
		}
		if err := os.WriteFile(*rules, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("dashboard lint: %d dashboards, %d expressions, structure OK\n", len(paths), len(exprs))
	return nil
}
