// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

func scenarioByName(t *testing.T, name string) scenario {
	t.Helper()
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return scenario{}
}

func TestRenderJSON(t *testing.T) {
	r := scenarioByName(t, "ephemeral critical").report()
	var b bytes.Buffer
	if err := RenderJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Worst    string `json:"worst"`
		ExitCode int    `json:"exit_code"`
		Scopes   []string
		Findings []struct {
			Rule, Severity, Scope, Title, Why string
			Subjects, Observed                []string
			Fix                               []struct {
				Text     string
				Commands []string
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Worst != "critical" || got.ExitCode != 2 || len(got.Scopes) != 1 {
		t.Errorf("header: %+v", got)
	}
	f := got.Findings[0]
	if f.Rule != "ephemeral-ports" || f.Severity != "critical" || f.Subjects[0] != "10.0.0.5:5432" || len(f.Fix) != 4 {
		t.Errorf("first finding: %+v", f)
	}
	if f.Fix[3].Commands[0] != "sysctl -w net.ipv4.tcp_tw_reuse=1" {
		t.Errorf("last step: %+v", f.Fix[3])
	}
}

func TestRenderText(t *testing.T) {
	r := scenarioByName(t, "ephemeral critical").report()
	text := textOf(r)
	for _, want := range []string{
		"Verdict: CRITICAL (exit status 2), 1 critical, 1 warning",
		"[CRITICAL] Ephemeral ports towards 10.0.0.5:5432 (postgres)",
		"Fix, in this order:",
		"         $ sysctl -w net.ipv4.ip_local_port_range=\"10240 65535\"\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if len([]rune(line)) > textWidth && !strings.Contains(line, "$ ") && strings.Contains(line, " ") &&
			!strings.HasPrefix(strings.TrimSpace(line), "[") {
			t.Errorf("line longer than %d columns: %q", textWidth, line)
		}
	}
	if m := regexp.MustCompile(`\d\n\s+(s|ms|bytes|MiB)\b`).FindString(text); m != "" {
		t.Errorf("a number is wrapped away from its unit: %q", m)
	}
}

// HTML: self-contained, every value escaped.
func TestRenderHTML(t *testing.T) {
	r := scenarioByName(t, "incomplete").report()
	var b bytes.Buffer
	if err := RenderHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>alert(1)</script>") {
		t.Errorf("error text not escaped:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("escaped error text missing:\n%s", page)
	}
	for _, bad := range []string{"<script", "<link", "<img", "src=", "http://", "https://", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q: must be self-contained", bad)
		}
	}
	for _, want := range []string{`<section class="finding warning" data-rule="incomplete"`, "Verdict: <strong>WARNING</strong>", "<!DOCTYPE html>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHandler(t *testing.T) {
	snap := scenarioByName(t, "reuse off loopback").host().snapshot()
	snaps := func(context.Context) []*scan.Snapshot { return []*scan.Snapshot{snap} }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	htmlH, jsonH := Handlers(snaps, config.Default, DefaultTimeout, logger)
	for _, tc := range []struct {
		h                   http.Handler
		format, ctype, want string
	}{
		{htmlH, FormatHTML, "text/html; charset=utf-8", "127.0.0.1:7000"},
		{jsonH, FormatJSON, "application/json", `"exit_code": 2`},
	} {
		srv := httptest.NewServer(tc.h)
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype || resp.Header.Get("X-Doctor-Verdict") != "critical" {
			t.Errorf("%s: %d %v", tc.format, resp.StatusCode, resp.Header)
		}
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: body lacks %q", tc.format, tc.want)
		}
		resp, err = http.Post(srv.URL, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", resp.StatusCode)
		}
		srv.Close()
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	if err := Render(io.Discard, Diagnose(nil, nil), "yaml"); err == nil {
		t.Error("want an error for an unknown format")
	}
}

// One diagnosis at a time across both routes: a request that cannot get
// its turn before its deadline gets 503.
func TestHandlerOneAtATime(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	snaps := func(context.Context) []*scan.Snapshot {
		started <- struct{}{}
		<-release
		return nil
	}
	htmlH, jsonH := Handlers(snaps, config.Default, DefaultTimeout, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		htmlH.ServeHTTP(rec, httptest.NewRequest("GET", "/doctor", nil))
		done <- rec.Code
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	jsonH.ServeHTTP(rec, httptest.NewRequest("GET", "/doctor.json", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("second request while one runs: %d, want 503", rec.Code)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("first request: %d", code)
	}
}
