package doctor

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/timewait-exporter/timewait_exporter/collector"
	"github.com/timewait-exporter/timewait_exporter/config"
)

// Timeout bounds one /doctor request's snapshot.
const Timeout = 30 * time.Second

// Handlers serve the doctor's findings as HTML (/doctor) and JSON
// (/doctor.json). Each request takes fresh snapshots through snapshots (the
// exporter's Snapshots); across both, at most one runs at a time and others
// wait for it or for their own deadline, so a burst of page loads cannot
// multiply the cost of dumping the socket tables.
func Handlers(snapshots func(context.Context) []*collector.Snapshot, cfg func() *config.Config, logger *slog.Logger) (htmlHandler, jsonHandler http.Handler) {
	sem := make(chan struct{}, 1)
	return handler(sem, snapshots, cfg, FormatHTML, logger), handler(sem, snapshots, cfg, FormatJSON, logger)
}

func handler(sem chan struct{}, snapshots func(context.Context) []*collector.Snapshot, cfg func() *config.Config, format string, logger *slog.Logger) http.Handler {
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
		ctx, cancel := context.WithTimeout(r.Context(), Timeout)
		defer cancel()
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			http.Error(w, "doctor busy: another diagnosis is running", http.StatusServiceUnavailable)
			return
		}
		report := Diagnose(snapshots(ctx), cfg())
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
