// SPDX-License-Identifier: Apache-2.0

// Package doctor turns snapshots of the kernel's TIME_WAIT state into
// findings a person can act on: what it sees (numbers), why it matters (the
// kernel behaviour behind it) and the fix, in the order to try it.
//
// It reasons only over scan.Snapshot values and the configuration; it
// reads neither /proc nor netlink itself. Every statement it makes must
// agree with the project's TIME_WAIT facts (see docs/doctor.md).
package doctor

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// Severity orders findings; the worst one decides the exit status.
type Severity int

// Severities, mildest first.
const (
	OK       Severity = iota // healthy
	Info                     // worth knowing, nothing to do now
	Warning                  // act soon
	Critical                 // failing or about to fail
)

var severityNames = [...]string{"ok", "info", "warning", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "unknown"
	}
	return severityNames[s]
}

// MarshalText writes the severity as its name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ExitCode is the doctor's exit status for a worst finding of s: 0 when
// nothing needs doing, 1 for a warning, 2 for a critical finding.
func (s Severity) ExitCode() int {
	switch s {
	case Critical:
		return 2
	case Warning:
		return 1
	}
	return 0
}

// Finding is one verdict about one scope (network namespace).
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Scope names the network namespace ("" is the doctor's own).
	Scope string `json:"scope"`
	Title string `json:"title"`
	// Subjects are what the finding is about, machine-readable: remote
	// ip:port destinations, local ports, sysctl keys.
	Subjects []string `json:"subjects,omitempty"`
	// Observed are the numbers the verdict rests on.
	Observed []string `json:"observed"`
	// Why is the kernel behaviour that makes it matter.
	Why string `json:"why"`
	// Fix are the steps to take, in order.
	Fix []Step `json:"fix,omitempty"`
	// Summary is the key numbers in one line, for a healthy scope listed
	// among many.
	Summary string `json:"summary,omitempty"`
	// Flows are the owners finding's destinations and listening ports:
	// rate, shape and the processes holding their live sockets.
	Flows []FlowReport `json:"flows,omitempty"`
	// OwnerLookup is how the owners finding's walk over /proc went.
	OwnerLookup *OwnerLookup `json:"owner_lookup,omitempty"`
}

// Step is one fix: what to do and, where they apply, the exact commands.
type Step struct {
	Text     string   `json:"text"`
	Commands []string `json:"commands,omitempty"`
}

// Report is the doctor's answer for every scope it was given.
type Report struct {
	Time     time.Time `json:"time"`
	Worst    Severity  `json:"worst"`
	ExitCode int       `json:"exit_code"`
	Scopes   []string  `json:"scopes"`
	// Findings are ordered worst first.
	Findings []Finding `json:"findings"`
}

// ScopeName is how a snapshot's scope is shown: its label values (the
// namespace name with discovery on), followed by its Kubernetes pod when
// known; "" for the doctor's own namespace.
func ScopeName(s *scan.Snapshot) string {
	name := strings.Join(s.Labels, "/")
	if p := s.Pod.String(); p != "" {
		name += " (" + p + ")"
	}
	return name
}

// DisplayScope is a scope name for people.
func DisplayScope(name string) string {
	if name == "" {
		return "this network namespace"
	}
	return "network namespace " + name
}

// Diagnose runs every rule over every snapshot. cfg supplies the
// utilisation thresholds and destination names; nil means the defaults.
func Diagnose(snaps []*scan.Snapshot, cfg *config.Config) *Report {
	if cfg == nil {
		cfg = config.Default()
	}
	r := &Report{Time: time.Now(), Scopes: []string{}, Findings: []Finding{}}
	for _, snap := range snaps {
		if snap == nil {
			continue
		}
		if len(r.Scopes) == 0 || snap.Time.Before(r.Time) {
			r.Time = snap.Time // the oldest reading the report rests on
		}
		name := ScopeName(snap)
		r.Scopes = append(r.Scopes, name)
		for _, f := range diagnoseScope(newEnv(snap, cfg)) {
			f.Scope = name
			r.Findings = append(r.Findings, f)
		}
	}
	// Worst first; within a severity, scopes in the order given and rules
	// in their fixed order (slices.SortStableFunc keeps both).
	slices.SortStableFunc(r.Findings, func(a, b Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	for _, f := range r.Findings {
		r.Worst = max(r.Worst, f.Severity)
	}
	r.ExitCode = r.Worst.ExitCode()
	return r
}

// diagnoseScope runs the rules in order; the healthy verdict comes last and
// only when no rule found anything to act on.
func diagnoseScope(e *env) []Finding {
	var out []Finding
	worst := OK
	for _, r := range rules {
		for _, f := range r.check(e) {
			f.Rule = r.id
			worst = max(worst, f.Severity)
			out = append(out, f)
		}
	}
	if worst < Warning {
		out = append(out, healthy(e)...)
	}
	return out
}

// compact reports whether healthy scopes are listed one line each: with
// several namespaces, pages of identical "healthy" findings would bury the
// ones to act on.
func (r *Report) compact() bool { return len(r.Scopes) > 1 }

// Detailed are the findings shown in full.
func (r *Report) Detailed() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if !r.compact() || f.Severity != OK {
			out = append(out, f)
		}
	}
	return out
}

// Healthy are the healthy scopes' findings listed one line each (only with
// several scopes).
func (r *Report) Healthy() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if r.compact() && f.Severity == OK {
			out = append(out, f)
		}
	}
	return out
}
