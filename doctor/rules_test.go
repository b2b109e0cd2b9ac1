// SPDX-License-Identifier: Apache-2.0

// Tests of the rules as a whole: every scenario of every rule family run
// and checked, every rule covered, exit codes and several scopes; the
// scenario type and assertions the rule-family files use, and the verdict
// scenarios (healthy, incomplete).

package doctor

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// scenario is one fabricated namespace and what the doctor must say.
type scenario struct {
	name  string
	host  func() *host
	cfg   func() *config.Config // nil: defaults
	check func(t *testing.T, r *Report)
}

func (s scenario) report() *Report {
	var cfg *config.Config
	if s.cfg != nil {
		cfg = s.cfg()
	}
	return Diagnose([]*scan.Snapshot{s.host().snapshot()}, cfg)
}

// find returns the findings of one rule.
func find(r *Report, rule string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// one asserts exactly one finding of rule with severity sev and returns it.
func one(t *testing.T, r *Report, rule string, sev Severity) Finding {
	t.Helper()
	fs := find(r, rule)
	if len(fs) != 1 {
		t.Fatalf("want one %s finding, got %d; report:\n%s", rule, len(fs), textOf(r))
	}
	if fs[0].Severity != sev {
		t.Fatalf("%s: severity %s, want %s; report:\n%s", rule, fs[0].Severity, sev, textOf(r))
	}
	return fs[0]
}

func none(t *testing.T, r *Report, rule string) {
	t.Helper()
	if fs := find(r, rule); len(fs) != 0 {
		t.Fatalf("want no %s finding; report:\n%s", rule, textOf(r))
	}
}

func textOf(r *Report) string {
	var b strings.Builder
	_ = RenderText(&b, r)
	return b.String()
}

// all is every text of a finding, in reading order.
func all(f Finding) string {
	parts := []string{f.Title}
	parts = append(parts, f.Observed...)
	parts = append(parts, f.Why)
	for _, s := range f.Fix {
		parts = append(parts, s.Text)
		parts = append(parts, s.Commands...)
	}
	return strings.Join(parts, "\n")
}

func contains(t *testing.T, f Finding, want ...string) {
	t.Helper()
	text := all(f)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s finding lacks %q:\n%s", f.Rule, w, text)
		}
	}
}

// inOrder asserts that each want appears in the fix steps, in this order.
func inOrder(t *testing.T, f Finding, want ...string) {
	t.Helper()
	var steps []string
	for _, s := range f.Fix {
		steps = append(steps, s.Text+"\n"+strings.Join(s.Commands, "\n"))
	}
	text := strings.Join(steps, "\n--\n")
	last := -1
	for _, w := range want {
		i := strings.Index(text, w)
		if i < 0 {
			t.Fatalf("fix lacks %q:\n%s", w, text)
		}
		if i < last {
			t.Fatalf("fix has %q out of order:\n%s", w, text)
		}
		last = i
	}
}

// narrow is a namespace with 500 usable ephemeral ports.
func narrow() *host { return newHost().portRange(40000, 40499) }

// scenarios is every rule family's scenarios and the verdicts' below.
var scenarios = slices.Concat(portScenarios, timeWaitScenarios, verdictScenarios, ownerScenarios)

var verdictScenarios = []scenario{
	// 10. healthy
	{name: "healthy", host: func() *host {
		return newHost().listen(22).inbound(22, 3).outbound("10.0.0.1", "10.0.0.5:443", 40)
	}, check: func(t *testing.T, r *Report) {
		if len(r.Findings) != 1 {
			t.Fatalf("want only the healthy finding:\n%s", textOf(r))
		}
		f := one(t, r, "healthy", OK)
		contains(t, f, "43 of tcp_max_tw_buckets=131072", "outbound 40, inbound 3", "10.0.0.5:443, 40 of the 28232", "TCPTimeWaitOverflow since the namespace started: 0", "tcp_tw_reuse=2")
		if r.ExitCode != 0 || r.Worst != OK {
			t.Errorf("worst %s exit %d, want ok 0", r.Worst, r.ExitCode)
		}
	}},

	// unreadable sources
	{name: "incomplete", host: func() *host {
		h := newHost()
		h.errors = map[string]error{"sockets": errors.New("netlink: operation not permitted <script>alert(1)</script>")}
		return h
	}, check: func(t *testing.T, r *Report) {
		f := one(t, r, "incomplete", Warning)
		contains(t, f, "sockets: netlink: operation not permitted")
		none(t, r, "healthy")
	}},
}

func TestRules(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.check(t, s.report()) })
	}
}

// Every rule is exercised by at least one scenario.
func TestEveryRuleCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range scenarios {
		for _, f := range s.report().Findings {
			seen[f.Rule] = true
		}
	}
	for _, r := range append(rules, rule{id: "healthy"}) {
		if !seen[r.id] {
			t.Errorf("no scenario produces a %s finding", r.id)
		}
	}
}

func TestSeverityExitCodes(t *testing.T) {
	for s, want := range map[Severity]int{OK: 0, Info: 0, Warning: 1, Critical: 2} {
		if got := s.ExitCode(); got != want {
			t.Errorf("%s.ExitCode() = %d, want %d", s, got, want)
		}
	}
}

// Several scopes: findings worst first, each labelled with its scope, and
// the healthy verdict only for the scope that is healthy.
func TestScopes(t *testing.T) {
	sick := narrow().set("net.ipv4.tcp_tw_reuse", 0).outbound("127.0.0.1", "127.0.0.1:7000", 470)
	sick.labels = []string{"ci-1"}
	fine := newHost()
	r := Diagnose([]*scan.Snapshot{fine.snapshot(), sick.snapshot()}, nil)
	if got := strings.Join(r.Scopes, ","); got != ",ci-1" {
		t.Errorf("scopes %q", got)
	}
	if r.Findings[0].Scope != "ci-1" || r.Findings[0].Severity != Critical {
		t.Errorf("first finding %+v, want the critical one of ci-1", r.Findings[0])
	}
	h := one(t, r, "healthy", OK)
	if h.Scope != "" {
		t.Errorf("healthy finding for scope %q, want the own namespace", h.Scope)
	}
	if r.ExitCode != 2 {
		t.Errorf("exit %d", r.ExitCode)
	}
	for i := 1; i < len(r.Findings); i++ {
		if r.Findings[i].Severity > r.Findings[i-1].Severity {
			t.Fatalf("findings not worst first:\n%s", textOf(r))
		}
	}
	text := textOf(r)
	for _, want := range []string{
		"Scope: 2 network namespaces; each finding names its own",
		"in network namespace ci-1 (run the commands inside it",
		"[OK] No TIME_WAIT problem in 1 network namespace(s):\n    - (own namespace): TIME_WAIT 0 of 131072 buckets (0%); 0 overflows\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "No TIME_WAIT problem") != 1 {
		t.Errorf("healthy scopes not listed compactly:\n%s", text)
	}
	var page strings.Builder
	if err := RenderHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "<li><strong>(own namespace)</strong>: TIME_WAIT 0 of 131072 buckets (0%); 0 overflows</li>") {
		t.Errorf("HTML does not list the healthy scope:\n%s", page.String())
	}
	if empty := Diagnose(nil, nil); empty.ExitCode != 0 || len(empty.Findings) != 0 {
		t.Errorf("no snapshots: %+v", empty)
	}
}

// One bad sysctl silences the rules that read it and no other: the rest
// still run on the sysctls that were read, and ruleIncomplete names it.
// Every rule named in want or skipped finds something on the host when
// all its sysctls are read (the "none" case), so a skip is the bad
// sysctl's doing.
func TestOneBadSysctl(t *testing.T) {
	// 400 of 500 ports towards one remote destination with tcp_tw_reuse=0,
	// as many timewait sockets as tcp_max_tw_buckets, a listener inside
	// the port range and a tcp_fin_timeout off its default.
	sick := func() *host {
		return narrow().set(kread.KeyTwReuse, 0).set(kread.KeyMaxTwBuckets, 400).set(kread.KeyFinTimeout, 10).
			listen(40250).outbound("10.0.0.1", "10.0.0.5:443", 400)
	}
	portRules := []string{"ephemeral-ports", "tw-reuse", "port-range"}
	twRules := []string{"tw-buckets", "tw-buckets-lowered"}
	for _, tc := range []struct {
		bad     string // "" for none
		want    []string
		skipped []string
	}{
		{bad: "", want: slices.Concat(portRules, twRules, []string{"fin-timeout"})},
		{bad: kread.KeyFinTimeout, want: slices.Concat(portRules, twRules, []string{"incomplete"}), skipped: []string{"fin-timeout"}},
		{bad: kread.KeyPortRange, want: slices.Concat(twRules, []string{"fin-timeout", "incomplete"}), skipped: portRules},
		{bad: kread.KeyMaxTwBuckets, want: slices.Concat(portRules, []string{"fin-timeout", "incomplete"}), skipped: twRules},
	} {
		name := "no bad sysctl"
		if tc.bad != "" {
			name = "bad " + tc.bad
		}
		t.Run(name, func(t *testing.T) {
			h := sick()
			if tc.bad != "" {
				h.badSysctl(tc.bad)
			}
			r := Diagnose([]*scan.Snapshot{h.snapshot()}, nil)
			for _, rule := range tc.want {
				if len(find(r, rule)) == 0 {
					t.Errorf("no %s finding; report:\n%s", rule, textOf(r))
				}
			}
			for _, rule := range tc.skipped {
				none(t, r, rule)
			}
			if tc.bad != "" {
				contains(t, one(t, r, "incomplete", Warning), "sysctl: sysctl "+tc.bad+": field 1")
			}
		})
	}
}
