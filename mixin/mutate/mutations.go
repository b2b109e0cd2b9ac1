// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// change is one mutation of a rule.
type change struct {
	desc string
	old  string // the text replaced
	at   int    // where in the expression (-1: not in it)
	r    rule
}

// mutations lists every single-point change of r: numbers (±10 %, 0 to ±1),
// comparisons (boundary: > to >=, >= to >, < to <=, <= to <; == to !=, != to
// ==), label matchers (each removed), range windows (halved, doubled),
// offsets (removed, doubled) and for: (one minute less and more).
func mutations(r rule) []change {
	var out []change
	e := r.Expr
	add := func(desc string, start, end int, repl string) {
		m := r
		m.Expr = e[:start] + repl + e[end:]
		out = append(out, change{fmt.Sprintf("%s (%q -> %q)", desc, e[start:end], repl), e[start:end], start, m})
	}
	depth := 0 // inside {...}
	for i := 0; i < len(e); {
		c := e[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(e) && e[j] != c {
				if e[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
			continue
		case c == '{':
			end := strings.IndexByte(e[i:], '}') + i
			for _, mt := range matchers(e, i+1, end) {
				add("label matcher removed", mt[0], mt[1], "")
			}
			depth++
			i = end
			continue
		case c == '}':
			depth--
		case c == '[':
			end := strings.IndexByte(e[i:], ']') + i
			d := e[i+1 : end]
			if k := strings.IndexByte(d, ':'); k >= 0 {
				d = d[:k]
			}
			if dur, err := parseDuration(d); err == nil {
				add("window halved", i+1, i+1+len(d), formatDuration(dur/2))
				add("window doubled", i+1, i+1+len(d), formatDuration(dur*2))
			}
			i = end + 1
			continue
		case strings.HasPrefix(e[i:], "offset ") && (i == 0 || !isIdent(e[i-1])):
			j := i + len("offset ")
			k := j
			for k < len(e) && (isIdent(e[k])) {
				k++
			}
			if dur, err := parseDuration(e[j:k]); err == nil {
				start := i
				for start > 0 && e[start-1] == ' ' {
					start--
				}
				add("offset removed", start, k, "")
				add("offset doubled", j, k, formatDuration(dur*2))
			}
			i = k
			continue
		case isIdent(c) && !isDigit(c):
			j := i
			for j < len(e) && isIdent(e[j]) {
				j++
			}
			i = j
			continue
		case isDigit(c) || (c == '.' && i+1 < len(e) && isDigit(e[i+1])):
			j := i
			for j < len(e) && (isDigit(e[j]) || e[j] == '.' || e[j] == 'e' || ((e[j] == '+' || e[j] == '-') && e[j-1] == 'e')) {
				j++
			}
			if j < len(e) && isIdent(e[j]) { // a duration outside [] (e.g. in a function): skip
				for j < len(e) && isIdent(e[j]) {
					j++
				}
				i = j
				continue
			}
			if v, err := strconv.ParseFloat(e[i:j], 64); err == nil {
				if v == 0 {
					add("number changed", i, j, "1")
					add("number changed", i, j, "-1")
				} else {
					add("number lowered 10%", i, j, strconv.FormatFloat(v*0.9, 'g', 6, 64))
					add("number raised 10%", i, j, strconv.FormatFloat(v*1.1, 'g', 6, 64))
				}
			}
			i = j
			continue
		case depth == 0 && (c == '>' || c == '<' || c == '=' || c == '!'):
			op := e[i : i+1]
			if i+1 < len(e) && e[i+1] == '=' {
				op = e[i : i+2]
			}
			repl := map[string]string{">": ">=", ">=": ">", "<": "<=", "<=": "<", "==": "!=", "!=": "=="}[op]
			if repl != "" {
				add("comparison", i, i+len(op), repl)
			}
			i += len(op)
			continue
		}
		i++
	}
	if r.For != "" {
		if d, err := parseDuration(r.For); err == nil {
			for _, n := range []time.Duration{d - time.Minute, d + time.Minute} {
				if n <= 0 {
					continue
				}
				m := r
				m.For = formatDuration(n)
				out = append(out, change{fmt.Sprintf("for: %s -> %s", r.For, m.For), r.For, -1, m})
			}
		}
	}
	return out
}

// matchers returns the [start, end) of each label matcher in e[from:to],
// including one adjacent comma so that removing it leaves a valid selector.
func matchers(e string, from, to int) [][2]int {
	var out [][2]int
	start := from
	inStr := false
	for i := from; i <= to; i++ {
		if i < to && e[i] == '"' && e[i-1] != '\\' {
			inStr = !inStr
		}
		if i == to || (!inStr && e[i] == ',') {
			if strings.TrimSpace(e[start:i]) != "" {
				s, t := start, i
				if i < to { // take the comma after it
					t++
				} else if s > from { // the last one: take the comma before it
					s--
				}
				out = append(out, [2]int{s, t})
			}
			start = i + 1
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdent(c byte) bool {
	return c == '_' || c == ':' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

var units = []struct {
	s string
	d time.Duration
}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}}

// parseDuration reads a Prometheus duration such as 1h30m, 10m, 30s.
func parseDuration(s string) (time.Duration, error) {
	var total time.Duration
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for s != "" {
		j := 0
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		n, _ := strconv.Atoi(s[:j])
		s = s[j:]
		found := false
		for _, u := range units {
			if strings.HasPrefix(s, u.s) {
				total += time.Duration(n) * u.d
				s = s[len(u.s):]
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("bad duration unit in %q", s)
		}
	}
	return total, nil
}

func formatDuration(d time.Duration) string {
	var b strings.Builder
	for _, u := range units {
		if u.s == "d" || u.s == "ms" {
			continue
		}
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}
