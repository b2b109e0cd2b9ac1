// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats the renderers know, for --output.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatHTML = "html"
)

// Render writes r in one of the formats.
func Render(w io.Writer, r *Report, format string) error {
	switch format {
	case FormatText, "":
		return RenderText(w, r)
	case FormatJSON:
		return RenderJSON(w, r)
	case FormatHTML:
		return RenderHTML(w, r)
	}
	return CheckFormat(format)
}

// CheckFormat reports an error unless Render knows format, so a caller can
// refuse a bad format before it reads anything.
func CheckFormat(format string) error {
	switch format {
	case FormatText, "", FormatJSON, FormatHTML:
		return nil
	}
	return fmt.Errorf("unknown output format %q (want text, json or html)", format)
}

// RenderJSON writes r as indented JSON.
func RenderJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

const textWidth = 78

// RenderText writes r for a terminal: findings worst first, each with what
// was seen, why it matters and the fix steps in order, wrapped to 78
// columns; commands are never wrapped so they can be pasted.
func RenderText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "timewait_exporter doctor, %s\n", r.Time.UTC().Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(&b, "Scope: %s\n", scopeLine(r))
	fmt.Fprintf(&b, "Verdict: %s (exit status %d), %s\n", strings.ToUpper(r.Worst.String()), r.ExitCode, countLine(r))
	for _, f := range r.Detailed() {
		b.WriteString("\n")
		wrap(&b, "", "["+strings.ToUpper(f.Severity.String())+"] ", f.Title)
		if len(r.Scopes) > 1 || f.Scope != "" {
			fmt.Fprintf(&b, "  in %s", DisplayScope(f.Scope))
			if f.Scope != "" && len(f.Fix) > 0 {
				b.WriteString(" (run the commands inside it: ip netns exec or nsenter -n)")
			}
			b.WriteString("\n")
		}
		b.WriteString("  Seen:\n")
		for _, o := range f.Observed {
			wrap(&b, "      ", "    - ", o)
		}
		b.WriteString("  Why:\n")
		wrap(&b, "    ", "    ", f.Why)
		if len(f.Fix) > 0 {
			if len(f.Fix) > 1 {
				b.WriteString("  Fix, in this order:\n")
			} else {
				b.WriteString("  Fix:\n")
			}
			for i, s := range f.Fix {
				wrap(&b, "       ", fmt.Sprintf("    %d. ", i+1), s.Text)
				for _, c := range s.Commands {
					fmt.Fprintf(&b, "         $ %s\n", c)
				}
			}
		}
	}
	if healthy := r.Healthy(); len(healthy) > 0 {
		fmt.Fprintf(&b, "\n[OK] No TIME_WAIT problem in %d network namespace(s):\n", len(healthy))
		for _, f := range healthy {
			wrap(&b, "      ", "    - "+scopeShort(f.Scope)+": ", f.Summary)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// scopeLine names what the report covers.
func scopeLine(r *Report) string {
	if len(r.Scopes) == 1 {
		return DisplayScope(r.Scopes[0])
	}
	return fmt.Sprintf("%d network namespaces; each finding names its own", len(r.Scopes))
}

// scopeShort is a scope's name in a list of scopes.
func scopeShort(name string) string {
	if name == "" {
		return "(own namespace)"
	}
	return name
}

// countLine summarises the findings by severity, worst first.
func countLine(r *Report) string {
	var n [len(severityNames)]int
	for _, f := range r.Findings {
		n[f.Severity]++
	}
	var parts []string
	for s := Critical; s > OK; s-- {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	if len(parts) == 0 {
		return "nothing to act on"
	}
	return strings.Join(parts, ", ")
}

// wrap writes text word-wrapped to textWidth: the first line after first,
// the others after indent.
func wrap(b *strings.Builder, indent, first, text string) {
	line := first
	empty := true
	for _, word := range words(text) {
		if !empty && len(line)+1+len(word) > textWidth {
			b.WriteString(line + "\n")
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	b.WriteString(line + "\n")
}

// units stay on the line of the number before them ("60 s", "256 bytes").
var units = map[string]bool{"s": true, "ms": true, "MiB": true, "bytes": true, "ports": true}

// words splits text for wrapping, keeping a number and its unit together.
func words(text string) []string {
	var out []string
	for _, w := range strings.Fields(text) {
		n := len(out)
		if n > 0 && units[strings.TrimRight(w, ".,;:)")] && strings.IndexAny(out[n-1][len(out[n-1])-1:], "0123456789") == 0 {
			out[n-1] += " " + w
			continue
		}
		out = append(out, w)
	}
	return out
}
