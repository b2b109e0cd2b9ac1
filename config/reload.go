// SPDX-License-Identifier: Apache-2.0

package config

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

// ReloadHandler serves POST /-/reload: 200 when the file was reloaded, 500
// with the error text when it was not (the old config stays in use). Other
// methods get 405, as reloading on a GET would let any crawler or prefetch
// trigger it.
func (sc *SafeConfig) ReloadHandler(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "this endpoint requires a POST request", http.StatusMethodNotAllowed)
			return
		}
		if err := sc.reloadAndLog(logger, "http"); err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "config reloaded\n")
	})
}

// WatchSIGHUP reloads the config whenever the process receives SIGHUP, until
// ctx is cancelled. The signal handler is installed before it returns, so a
// SIGHUP sent afterwards is never lost to the default action (exit); the
// watching itself runs in its own goroutine.
func (sc *SafeConfig) WatchSIGHUP(ctx context.Context, logger *slog.Logger) {
	// Buffer of one: signals that arrive during a reload collapse into one
	// more reload, which then reads the newest file anyway.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = sc.reloadAndLog(logger, "sighup")
			}
		}
	}()
}

// reloadAndLog is the one reload path for every trigger, so that all reloads
// are serialised by Reload and logged alike.
func (sc *SafeConfig) reloadAndLog(logger *slog.Logger, trigger string) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := sc.Reload(); err != nil {
		logger.Error("Error reloading config, keeping the previous one", "file", sc.path, "trigger", trigger, "err", err)
		return err
	}
	logger.Info("Reloaded config", "file", sc.path, "trigger", trigger)
	return nil
}
