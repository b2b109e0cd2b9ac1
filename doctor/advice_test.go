// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"bytes"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// wrongAdvice are the popular, wrong answers to "how do I reduce TIME_WAIT"
// (see ../shared/seeds): turning tcp_tw_recycle on, and lowering
// tcp_fin_timeout as if it shortened TIME_WAIT. No rendering of any
// finding may contain them.
var wrongAdvice = []struct {
	why string
	re  *regexp.Regexp
}{
	{"sets tcp_tw_recycle to a non-zero value", regexp.MustCompile(`tcp_tw_recycle\s*=\s*"?[1-9]`)},
	{"tells to enable tcp_tw_recycle", regexp.MustCompile(`(?i)\b(enable|turn on|set|use|try|adjust|modify)\s+(the\s+)?(net\.ipv4\.)?tcp_tw_recycle\b(\s+(to|=)\s*"?[1-9])?`)},
	{"tells to tune tcp_tw_recycle", regexp.MustCompile(`(?i)\b(modify|adjust|change|tune|tweak)\b.{0,60}tcp_tw_recycle`)},
	{"tells to recycle TIME_WAIT", regexp.MustCompile(`(?i)(reuse|recycle) and recycle|recycle time_?wait`)},
	{"tells to lower tcp_fin_timeout", regexp.MustCompile(`(?i)\b(lower|reduce|decrease|shorten|cut|adjust)\s+(the\s+)?(net\.ipv4\.)?tcp_fin_timeout`)},
	{"says tcp_fin_timeout shortens TIME_WAIT", regexp.MustCompile(`(?i)tcp_fin_timeout[^.]{0,40}\b(shortens|reduces|lowers|controls|sets)\b[^.]{0,30}time_?wait`)},
	{"tells to shorten TIME_WAIT by a sysctl", regexp.MustCompile(`(?i)(reduce|shorten|lower) the time_?wait (timeout|duration|length)`)},
}

// finTimeoutSet finds every tcp_fin_timeout value the doctor would have
// someone set; it must never be below the default 60 s.
var finTimeoutSet = regexp.MustCompile(`tcp_fin_timeout\s*=\s*"?(\d+)`)

func scanAdvice(t *testing.T, where, text string) {
	t.Helper()
	for _, w := range wrongAdvice {
		if m := w.re.FindString(text); m != "" {
			t.Errorf("%s %s: %q", where, w.why, m)
		}
	}
	for _, m := range finTimeoutSet.FindAllStringSubmatch(text, -1) {
		if v, _ := strconv.Atoi(m[1]); v < 60 {
			t.Errorf("%s sets tcp_fin_timeout below 60: %q", where, m[0])
		}
	}
}

// allReports is every scenario's report plus one with every rule firing in
// several namespaces at once.
func allReports() map[string]*Report {
	out := map[string]*Report{}
	var snaps []*scan.Snapshot
	for _, s := range scenarios {
		out[s.name] = s.report()
		h := s.host()
		h.labels = []string{s.name}
		snaps = append(snaps, h.snapshot())
	}
	out["all scenarios as namespaces"] = Diagnose(snaps, nil)
	return out
}

// TestNoWrongAdvice renders every finding of every rule in every format
// and scans the outputs for the wrong advice.
func TestNoWrongAdvice(t *testing.T) {
	rules := map[string]bool{}
	for name, r := range allReports() {
		for _, f := range r.Findings {
			rules[f.Rule] = true
		}
		for _, format := range []string{FormatText, FormatJSON, FormatHTML} {
			var b bytes.Buffer
			if err := Render(&b, r, format); err != nil {
				t.Fatalf("%s %s: %v", name, format, err)
			}
			text := b.String()
			if format == FormatHTML {
				text = html.UnescapeString(text)
			}
			if format == FormatJSON {
				text = strings.ReplaceAll(text, `\"`, `"`)
			}
			scanAdvice(t, name+" ("+format+")", text)
		}
	}
	if len(rules) < 11 {
		t.Errorf("scanned findings of %d rules, want all 11", len(rules))
	}
}

// The scanner itself catches the advice of the seeds.
func TestWrongAdviceDetected(t *testing.T) {
	for _, bad := range []string{
		"sudo sysctl -w net.ipv4.tcp_tw_recycle=1",
		"you can modify the net.ipv4.tcp_tw_reuse and net.ipv4.tcp_tw_recycle parameters", // "Reuse and Recycle"
		"Enable tcp_tw_recycle for faster reuse.",
		"sudo sysctl -w net.ipv4.tcp_fin_timeout=10  # Adjust the timeout as needed",
		"Reduce the TIME_WAIT timeout by altering net.ipv4.tcp_fin_timeout",
		"lower tcp_fin_timeout to 15",
		"tcp_fin_timeout shortens the TIME_WAIT state",
	} {
		caught := finTimeoutSet.MatchString(bad) && func() bool {
			v, _ := strconv.Atoi(finTimeoutSet.FindStringSubmatch(bad)[1])
			return v < 60
		}()
		for _, w := range wrongAdvice {
			caught = caught || w.re.MatchString(bad)
		}
		if !caught {
			t.Errorf("scanner misses %q", bad)
		}
	}
	for _, good := range []string{
		"sysctl -w net.ipv4.tcp_tw_recycle=0",
		"tcp_tw_recycle is on (1): it drops connections from clients behind NAT; turn it off",
		"sysctl -w net.ipv4.tcp_fin_timeout=60",
		"tcp_fin_timeout is 10 s, not the default 60: it does not change TIME_WAIT",
	} {
		for _, w := range wrongAdvice {
			if w.re.MatchString(good) {
				t.Errorf("scanner flags correct advice %q (%s)", good, w.why)
			}
		}
	}
}
