// SPDX-License-Identifier: Apache-2.0

//go:build linux

package collector

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsDoc is the reference page whose metric tables this file generates.
const metricsDoc = "../docs/metrics.md"

// maxHelp is the longest HELP text a metric may have (the project's
// convention; node_exporter's median is 47 characters).
const maxHelp = 120

// docBlock matches one generated table of metricsDoc and its section name.
var docBlock = regexp.MustCompile(`(?s)(<!-- BEGIN generated: (\w+) -->\n).*?(<!-- END generated -->)`)

// sentenceEnd is a full stop, question or exclamation mark that ends a
// sentence: at the end of the text or before white space.
var sentenceEnd = regexp.MustCompile(`[.!?](\s|$)`)

// metricSections are the table's rows by collector, as docs/metrics.md
// lists them.
func metricSections() map[string][]*Metric {
	sections := map[string][]*Metric{}
	for i := range Metrics {
		m := &Metrics[i]
		sections[m.Collector] = append(sections[m.Collector], m)
	}
	return sections
}

// markdownText escapes what Markdown would take for table syntax or HTML.
var markdownText = strings.NewReplacer("|", `\|`, "<", "&lt;")

// typeNames are the Prometheus type names of the table's value types.
var typeNames = map[prometheus.ValueType]string{prometheus.GaugeValue: "gauge", prometheus.CounterValue: "counter"}

// metricTable is the generated Markdown table of one section.
func metricTable(rows []*Metric) string {
	rows = slices.SortedFunc(slices.Values(rows), func(a, b *Metric) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	b.WriteString("| metric | type | labels | detail | source | help |\n|---|---|---|---|---|---|\n")
	for _, m := range rows {
		var labels []string
		for _, l := range slices.Sorted(slices.Values(m.Labels)) {
			labels = append(labels, "`"+l+"`")
		}
		detail := m.Detail.String()
		if m.Optional {
			detail += ", optional"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", m.Name, typeNames[m.Type],
			strings.Join(labels, ", "), detail, markdownText.Replace(m.Source), markdownText.Replace(m.Help))
	}
	return b.String()
}

// TestMetricsDoc: every generated table of docs/metrics.md is what the
// code exports (name, type, labels, HELP), and every section of metrics has
// its table. go test ./collector -run MetricsDoc -update rewrites the
// tables and leaves the prose around them alone.
func TestMetricsDoc(t *testing.T) {
	sections := metricSections()
	doc, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	got := docBlock.ReplaceAllFunc(doc, func(block []byte) []byte {
		m := docBlock.FindSubmatch(block)
		name := string(m[2])
		seen[name] = true
		mfs, ok := sections[name]
		if !ok {
			t.Errorf("%s: generated block %q names no section of metrics", metricsDoc, name)
			return block
		}
		return slices.Concat(m[1], []byte(metricTable(mfs)), m[3])
	})
	for name := range sections {
		if !seen[name] {
			t.Errorf("%s has no block <!-- BEGIN generated: %s --> for these metrics:\n%s", metricsDoc, name, metricTable(sections[name]))
		}
	}
	if *update {
		if err := os.WriteFile(metricsDoc, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, doc) {
		t.Errorf("%s differs from the metrics the code exports (go test ./collector -run MetricsDoc -update):\n%s", metricsDoc, lineDiff(string(doc), string(got)))
	}
}

// TestHelpTexts: every HELP is one sentence of at most maxHelp characters;
// the detail lives in docs/metrics.md.
func TestHelpTexts(t *testing.T) {
	for _, m := range Metrics {
		if err := checkHelp(m.Help); err != nil {
			t.Errorf("%s: %v: %q", m.Name, err, m.Help)
		}
	}
}

// checkHelp says what is wrong with a HELP text, if anything.
func checkHelp(help string) error {
	ends := sentenceEnd.FindAllStringIndex(help, -1)
	switch {
	case utf8.RuneCountInString(help) > maxHelp:
		return fmt.Errorf("%d characters, more than %d", utf8.RuneCountInString(help), maxHelp)
	case len(ends) != 1 || ends[0][0]+1 != len(help):
		return fmt.Errorf("not one sentence ending in a full stop")
	}
	return nil
}

func TestCheckHelp(t *testing.T) {
	for _, tc := range []struct {
		help string
		ok   bool
	}{
		{"TCP sockets by state (ss -tan).", true},
		{"Removed in Linux 4.12 because it breaks NAT; should be 0.", true},
		{"One sentence. Then another.", false},
		{"No full stop", false},
		{"Ends early. ", false},
		{strings.Repeat("x", maxHelp-1) + ".", true},
		{strings.Repeat("x", maxHelp) + ".", false},
	} {
		if err := checkHelp(tc.help); (err == nil) != tc.ok {
			t.Errorf("checkHelp(%q) = %v, want ok %v", tc.help, err, tc.ok)
		}
	}
}

// knownMetricsFile is the dashboard checker's list of the exporter's
// metric names (mixin/dashcheck, a module of its own, embeds it).
const knownMetricsFile = "../mixin/dashcheck/metrics.txt"

// TestKnownMetricsFile: the dashboard checker knows exactly the table's
// names; -update rewrites its list.
func TestKnownMetricsFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Generated from collector/metrics.go by go test ./collector -run KnownMetrics -update; do not edit.\n")
	for _, m := range slices.SortedFunc(slices.Values(Metrics), func(a, b Metric) int { return strings.Compare(a.Name, b.Name) }) {
		b.WriteString(m.Name + "\n")
	}
	if *update {
		if err := os.WriteFile(knownMetricsFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(knownMetricsFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != b.String() {
		t.Errorf("%s differs from the table (go test ./collector -run KnownMetrics -update):\n%s", knownMetricsFile, lineDiff(string(got), b.String()))
	}
}

// TestTableRowsExported: the four collectors export every row of theirs
// from the golden fixture (the optional tcp_tw_recycle added, and
// timewait_netns_dump_skipped, which only --netns.discover exports, left
// out), with the row's type, labels and HELP; and nothing else.
func TestTableRowsExported(t *testing.T) {
	proc := copyTree(t, fixtureProc)
	if err := os.WriteFile(filepath.Join(proc, "sys/net/ipv4/tcp_tw_recycle"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, log := goldenExporter(t, proc)
	want := map[string]*Metric{}
	for _, c := range []string{"sockets", "sockstat", "netstat", "sysctl", "scrape"} {
		for _, m := range rowsOf(c) {
			want[m.Name] = m
		}
	}
	delete(want, "timewait_netns_dump_skipped")
	for _, mf := range gatherExporter(t, e) {
		m := want[mf.GetName()]
		if m == nil {
			t.Errorf("%s exported but not a row of the collectors' (or exported twice)", mf.GetName())
			continue
		}
		delete(want, mf.GetName())
		var labels []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		if mf.GetHelp() != m.Help || typeNames[m.Type] != strings.ToLower(mf.GetType().String()) ||
			!slices.Equal(labels, slices.Sorted(slices.Values(m.Labels))) {
			t.Errorf("%s: exported as %s %v %q, the table says %s %v %q", m.Name, mf.GetType(), labels, mf.GetHelp(), typeNames[m.Type], m.Labels, m.Help)
		}
	}
	for name := range want {
		t.Errorf("%s: a row of the table the collectors did not export", name)
	}
	if t.Failed() {
		t.Log(log)
	}
}
