// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// DefaultTimeout bounds one diagnosis (--doctor.timeout): its snapshots
// report what they could not read by then.
const DefaultTimeout = 10 * time.Second

// overrun is how long past its deadline a diagnosis is waited for. The
// snapshots honour the deadline themselves; this only bounds a read they
// do not cover.
const overrun = time.Second

// Handlers serve the doctor's findings as HTML (/doctor) and JSON
// (/doctor.json). Each request takes fresh snapshots through snapshots (the
// exporter's Snapshots) under a deadline of timeout: a source still blocked
// then is reported unread. Across both routes at most one diagnosis runs
// at a time and others wait for it or for their own deadline, so a burst
// of page loads cannot multiply the cost of dumping the socket tables.
func Handlers(snapshots func(context.Context) []*scan.Snapshot, cfg func() *config.Config, timeout time.Duration, logger *slog.Logger) (htmlHandler, jsonHandler http.Handler) {
	sem := make(chan struct{}, 1)
	h := handler{sem: sem, snapshots: snapshots, cfg: cfg, timeout: timeout, logger: logger}
	return h.serve(FormatHTML), h.serve(FormatJSON)
}

type handler struct {
	sem       chan struct{}
	snapshots func(context.Context) []*scan.Snapshot
	cfg       func() *config.Config
	timeout   time.Duration
	logger    *slog.Logger
}

// Bounded takes snapshots under ctx and waits for them at most overrun
// past its deadline; ok is false if they did not return by then. release
// is called once they return, however late.
func Bounded(ctx context.Context, snapshots func(context.Context) []*scan.Snapshot, release func()) (snaps []*scan.Snapshot, ok bool) {
	res := make(chan []*scan.Snapshot, 1)
	go func() {
		defer release()
		res <- snapshots(ctx)
	}()
	select {
	case snaps = <-res:
		return snaps, true
	case <-ctx.Done():
	}
	t := time.NewTimer(overrun)
	defer t.Stop()
	select {
	case snaps = <-res:
		return snaps, true
	case <-t.C:
		return nil, false
	}
}

func (h handler) serve(format string) http.Handler {
	sem, cfg, logger := h.sem, h.cfg, h.logger
	contentType := "text/html; charset=utf-8"
	if format == FormatJSON {
		contentType = "application/json"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
		defer cancel()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			http.Error(w, "doctor busy: another diagnosis is running", http.StatusServiceUnavailable)
			return
		}
		snaps, ok := Bounded(ctx, h.snapshots, func() { <-sem })
		if !ok {
			logger.Error("doctor: reading the sources did not end at the deadline", "timeout", h.timeout)
			http.Error(w, "doctor timed out: a source is still blocked", http.StatusServiceUnavailable)
			return
		}
		report := Diagnose(snaps, cfg())
		var buf bytes.Buffer
		if err := Render(&buf, report, format); err != nil {
			logger.Error("rendering doctor report", "format", format, "err", err)
			http.Error(w, "rendering the report failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("X-Doctor-Verdict", report.Worst.String())
		_, _ = w.Write(buf.Bytes())
	})
}
