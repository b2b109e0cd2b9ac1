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
	dto "github.com/prometheus/client_model/go"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
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

// metricSections gathers every metric the exporter's collectors can
// export, grouped as docs/metrics.md lists them: one section per collector
// (built against the golden fixtures, with tcp_tw_recycle added so the
// sysctl of old kernels is listed too), "scrape" for the per-collector
// success and duration, and "netns" for the series of --netns.discover.
func metricSections(t *testing.T) map[string][]*dto.MetricFamily {
	t.Helper()
	proc := copyTree(t, fixtureProc)
	if err := os.WriteFile(filepath.Join(proc, "sys/net/ipv4/tcp_tw_recycle"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, log := goldenExporter(t, proc)
	all := e.collectors
	sections := map[string][]*dto.MetricFamily{}
	for name, c := range all {
		e.collectors = map[string]Collector{name: c}
		for _, mf := range gatherExporter(t, e) {
			section := name
			if strings.HasPrefix(mf.GetName(), "timewait_scrape_") {
				section = "scrape"
			}
			if !slices.ContainsFunc(sections[section], func(m *dto.MetricFamily) bool { return m.GetName() == mf.GetName() }) {
				sections[section] = append(sections[section], mf)
			}
		}
	}
	if t.Failed() {
		t.Log(log)
	}
	sections["netns"] = gatherDescs(t, slices.Concat(
		[]*prometheus.Desc{netnsMetrics.info, netnsMetrics.found, netnsMetrics.excluded,
			netnsMetrics.dropped, netnsMetrics.denied, netnsMetrics.skipped},
		[]*prometheus.Desc{dumpSkippedDesc(Options{Options: scan.Options{DiscoverNetns: true}}).desc}))
	return sections
}

// descLabels are the variable label names of d, which client_golang only
// shows in its String form.
var descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)

// descSamples sends one gauge sample of each descriptor, with empty
// label values.
type descSamples map[*prometheus.Desc][]string

func (d descSamples) Describe(ch chan<- *prometheus.Desc) {
	for desc := range d {
		ch <- desc
	}
}

func (d descSamples) Collect(ch chan<- prometheus.Metric) {
	for desc, values := range d {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, 1, values...)
	}
}

// gatherDescs gathers one gauge sample of each descriptor.
func gatherDescs(t *testing.T, descs []*prometheus.Desc) []*dto.MetricFamily {
	t.Helper()
	samples := descSamples{}
	for _, d := range descs {
		m := descLabels.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no labels in %s", d)
		}
		samples[d] = nil
		if m[1] != "" {
			samples[d] = make([]string, len(strings.Split(m[1], ",")))
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(samples)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// markdownText escapes what Markdown would take for table syntax or HTML.
var markdownText = strings.NewReplacer("|", `\|`, "<", "&lt;")

// metricTable is the generated Markdown table of one section.
func metricTable(mfs []*dto.MetricFamily) string {
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	var b strings.Builder
	b.WriteString("| metric | type | labels | help |\n|---|---|---|---|\n")
	for _, mf := range mfs {
		var labels []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, "`"+l.GetName()+"`")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", mf.GetName(), strings.ToLower(mf.GetType().String()),
			strings.Join(labels, ", "), markdownText.Replace(mf.GetHelp()))
	}
	return b.String()
}

// TestMetricsDoc: every generated table of docs/metrics.md is what the
// code exports (name, type, labels, HELP), and every section of metrics has
// its table. go test ./collector -run MetricsDoc -update rewrites the
// tables and leaves the prose around them alone.
func TestMetricsDoc(t *testing.T) {
	sections := metricSections(t)
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
	for _, mfs := range metricSections(t) {
		for _, mf := range mfs {
			if err := checkHelp(mf.GetHelp()); err != nil {
				t.Errorf("%s: %v: %q", mf.GetName(), err, mf.GetHelp())
			}
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
