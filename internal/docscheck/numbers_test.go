// SPDX-License-Identifier: Apache-2.0

package docscheck

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/collector"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/doctor"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
	"gopkg.in/yaml.v3"
)

// root is the repository, seen from this package.
const root = "../.."

// quote is a number a text states about the exporter and where it comes
// from: every match of re in file (at least one) must capture want, group
// by group. A quote that no longer matches fails too: the sentence was
// rewritten, so its check must follow.
type quote struct {
	file string
	re   string
	want []string
}

// pct prints a ratio as the docs write it in percent (0.7 -> "70").
func pct(r float64) string { return num(math.Round(r*1000) / 10) }

// num prints a number as written (0.8, not 0.80000000000000004).
func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func read(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkQuotes(t *testing.T, quotes []quote) {
	t.Helper()
	for _, q := range quotes {
		ms := regexp.MustCompile(q.re).FindAllStringSubmatch(read(t, q.file), -1)
		if len(ms) == 0 {
			t.Errorf("%s: no longer says %q: update this check with the text", q.file, q.re)
		}
		for _, m := range ms {
			if !slices.Equal(m[1:], q.want) {
				t.Errorf("%s: %q says %v, its source %v", q.file, m[0], m[1:], q.want)
			}
		}
	}
}

// TestThresholdsAndDefaults: the doctor's and the alerts' thresholds (one
// source: config/doctor_defaults.json, rendered from the mixin's _config),
// the configuration's defaults and the timeouts, as the docs quote them.
func TestThresholdsAndDefaults(t *testing.T) {
	warn, crit := config.DefaultUtilizationWarning, config.DefaultUtilizationCritical
	buckets, sharing, excess := config.BucketsWarningRatio, config.BindSharingMax, config.BindExcessMin
	topN, maxNs := strconv.Itoa(config.DefaultTopN), strconv.Itoa(config.DefaultMaxNamespaces)
	checkQuotes(t, []quote{
		{"docs/doctor.md", `defaults ([\d.]+) and ([\d.]+)\)`, []string{num(warn), num(crit)}},
		{"docs/doctor.md", `a destination at ≥ (\d+) % of its ports`, []string{pct(crit)}},
		{"docs/doctor.md", `TIME_WAIT above (\d+) % of the limit`, []string{pct(buckets)}},
		{"docs/doctor.md", "`sockstat tw` > (\\d+) % of `tcp_max_tw_buckets`", []string{pct(buckets)}},
		{"docs/doctor.md", `≤ (\d+) % more outbound sockets`, []string{pct(sharing - 1)}},
		{"docs/doctor.md", `more than (\d+) % of the usable ports held beyond`, []string{pct(excess)}},
		{"docs/runbook.md", `warning above (\d+) % for \d+ m, critical above (\d+) %`, []string{pct(warn), pct(crit)}},
		{"docs/runbook.md", "`timewait_outbound_sockets <= ([\\d.]+) × timewait_outbound_local_ports`", []string{num(sharing)}},
		{"docs/runbook.md", `more than (\d+) % of the usable ports are held beyond`, []string{pct(excess)}},
		{"docs/runbook.md", "timewait_sysctl_tcp_max_tw_buckets > ([\\d.]+)`", []string{num(buckets)}},
		{"docs/runbook.md", `fill more than (\d+) % of`, []string{pct(buckets)}},
		{"docs/metrics.md", "`top_n` \\(default (\\d+)\\)", []string{topN}},
		{"docs/metrics.md", `with the defaults and no\s+config, (\d+) destination series and (\d+) port series`,
			[]string{strconv.Itoa(4 * config.DefaultTopN), topN}},
		{"README.md", `\ntop_n: (\d+) `, []string{topN}},
		{"docs/netns.md", `max_namespaces: \d+ +# per scrape \(default (\d+)\)`, []string{maxNs}},
		{"config/example.yml", `max_namespaces: \d+ # per scrape \(default (\d+)\)`, []string{maxNs}},
		{"README.md", `\((\d+) s\s+without it\)`, []string{num(collector.DefaultTimeout.Seconds())}},
		{"docs/doctor.md", "`--doctor.timeout` \\(default (\\d+) s", []string{num(doctor.DefaultTimeout.Seconds())}},
	})
}

// flagDefault is a kingpin flag of main.go with a literal default.
var flagDefault = regexp.MustCompile(`(?s)Flag\("([\w.-]+)",\s*"(?:[^"\\]|\\.)*"\)\.\s*Default\("([^"]*)"\)`)

// TestReadmeFlagDefaults: the README's flag table gives each flag the
// default main.go gives it.
func TestReadmeFlagDefaults(t *testing.T) {
	want := map[string]string{
		"doctor.timeout":     doctor.DefaultTimeout.String(),
		"netns.pod-log-dir":  netns.DefaultPodLogDir,
		"collector.<name>":   "on",
		"web.listen-address": ":9966",
	}
	for _, m := range flagDefault.FindAllStringSubmatch(read(t, "main.go"), -1) {
		want[m[1]] = m[2]
	}
	row := regexp.MustCompile("(?m)^\\| `--([\\w.<>-]+)` \\| `([^`]*)` \\|")
	rows := row.FindAllStringSubmatch(read(t, "README.md"), -1)
	checked := 0
	for _, r := range rows {
		w, ok := want[r[1]]
		if !ok {
			continue // a flag of exporter-toolkit or promslog
		}
		checked++
		if r[2] != w {
			t.Errorf("README: --%s defaults to %q, main.go to %q", r[1], r[2], w)
		}
	}
	if checked < 5 {
		t.Errorf("checked %d README flag rows of %d: has the table changed form?", checked, len(rows))
	}
}

// perfTable is docs/performance.md's result at 250k: a tool's CPU per
// scrape, peak RSS and CPU ratios to the bare dump and to node_exporter.
var perfRow = regexp.MustCompile(`(?m)^(timewait_exporter \(all default collectors\)|ss -tan) +([\d.]+) ms +[\d.]+ ms +([\d.]+) MB +([\d.]+)x +([\d.]+)x$`)

// TestCostFigures: the cost figures quoted outside docs/performance.md are
// its measurements.
func TestCostFigures(t *testing.T) {
	perf := read(t, "docs/performance.md")
	rows := map[string][]string{}
	for _, m := range perfRow.FindAllStringSubmatch(perf, -1) {
		rows[m[1]] = m[2:]
	}
	us, ss := rows["timewait_exporter (all default collectors)"], rows["ss -tan"]
	if us == nil || ss == nil {
		t.Fatalf("docs/performance.md: no exporter or ss -tan row at 250k (%v)", rows)
	}
	cpuBare, cpuNode, rss := us[2], us[3], us[1]
	// The growth curve's cost per 100k sockets at 100k.
	per100k := regexp.MustCompile(`(?m)^ +100\d{3} +\d+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+x +[\d.]+x +([\d.]+)`).FindStringSubmatch(perf)
	if per100k == nil {
		t.Fatal("docs/performance.md: no growth row at 100k")
	}
	ms100k, _ := strconv.ParseFloat(per100k[1], 64)
	checkQuotes(t, []quote{
		{"docs/performance.md", `CPU per scrape ([\d.]+)× the bare one-walk dump \(≤ [\d.]+×\)\s+and ([\d.]+)× node_exporter`, []string{cpuBare, cpuNode}},
		{"docs/performance.md", `peak RSS ([\d.]+) MB\s+\(≤`, []string{rss}},
		{"README.md", `cost ([\d.]+)× the CPU of a\s+bare counting dump, ([\d.]+)× node_exporter`, []string{cpuBare, cpuNode}},
		{"README.md", `at ([\d.]+) MB peak RSS`, []string{rss}},
		{"CHANGELOG.md", `costs about the bare dump \(([\d.]+)x\) and\s+([\d.]+)x node_exporter`, []string{cpuBare, cpuNode}},
		{"docs/doctor.md", `about (\d+) ms of CPU per 100k sockets`, []string{num(math.Round(ms100k))}},
		{"docs/deploy.md", `about (\d+) ms of\s+CPU per 100k`, []string{num(math.Round(ms100k))}},
	})
	usCPU, _ := strconv.ParseFloat(us[0], 64)
	ssCPU, _ := strconv.ParseFloat(ss[0], 64)
	if r := usCPU / ssCPU; math.Abs(r-1.0/6) > 0.03 {
		t.Errorf("README and docs/doctor.md say a scrape costs about a sixth of ss -tan; docs/performance.md gives %.2f", r)
	}
}

// TestNetnsCostFigures: the ratios docs/netns.md and the CHANGELOG quote
// are the ones its measurement table gives.
func TestNetnsCostFigures(t *testing.T) {
	netns := read(t, "docs/netns.md")
	cell := func(row string) (lo, hi float64) {
		m := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(row) + ` \| \d+ \| ([\d,]+)(?:–([\d,]+))? ms \|`).FindStringSubmatch(netns)
		if m == nil {
			t.Fatalf("docs/netns.md: no cost row %q", row)
		}
		lo, _ = strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
		hi = lo
		if m[2] != "" {
			hi, _ = strconv.ParseFloat(strings.ReplaceAll(m[2], ",", ""), 64)
		}
		return lo, hi
	}
	oneLo, oneHi := cell("one namespace with 50,000 TIME_WAIT, default mode")
	many, _ := cell("50 namespaces × 1,000 TIME_WAIT, `--netns.discover`")
	ratio := fmt.Sprintf("%.0f", many/oneHi) + "–" + fmt.Sprintf("%.0f", many/oneLo)
	busy := regexp.MustCompile(`a ratio of ([\d.]+–[\d.]+) over`).FindStringSubmatch(netns)
	if busy == nil {
		t.Fatal("docs/netns.md: no netns.dump: busy ratio")
	}
	checkQuotes(t, []quote{
		{"docs/netns.md", `cost about (\d+–\d+)× the CPU of the same 50,000`, []string{ratio}},
		{"CHANGELOG.md", `5 busy: ([\d.]+-[\d.]+)x the CPU of dumping all`, []string{strings.ReplaceAll(busy[1], "–", "-")}},
	})
}

// TestRunbookAlertWindows: each alert's Severity line in the runbooks
// states the for: windows of the rendered rules (the mixin's _config, which
// test/alerts_rules.sh keeps equal to the rendering).
func TestRunbookAlertWindows(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				For   string `yaml:"for"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "deploy/prometheus/rules/timewait.rules.yml")), &rules); err != nil {
		t.Fatal(err)
	}
	windows := map[string][]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			d, err := time.ParseDuration(r.For)
			if err != nil {
				t.Fatalf("%s: for: %q: %v", r.Alert, r.For, err)
			}
			if w := num(d.Minutes()); !slices.Contains(windows[r.Alert], w) {
				windows[r.Alert] = append(windows[r.Alert], w)
			}
		}
	}
	runbooks := read(t, "docs/runbook.md") + read(t, "docs/runbook-exporter.md")
	forWindow := regexp.MustCompile(`\bfor (\d+) m\b`)
	for alert, want := range windows {
		m := regexp.MustCompile(`(?s)\n## ` + alert + `\n\n\*\*Severity:\*\*(.*?)\n\n`).FindStringSubmatch(runbooks)
		if m == nil {
			t.Errorf("no runbook section with a Severity line for %s", alert)
			continue
		}
		var got []string
		for _, w := range forWindow.FindAllStringSubmatch(m[1], -1) {
			got = append(got, w[1])
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(slices.Compact(got), want) {
			t.Errorf("runbook %s: Severity says for %v m, the rules' for: %v m", alert, got, want)
		}
	}
}
