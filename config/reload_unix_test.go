// SPDX-License-Identifier: Apache-2.0

//go:build unix

package config

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestWatchSIGHUP sends real SIGHUPs to the test process: good → bad → good.
// WatchSIGHUP installs its handler before returning, so the signals cannot
// hit the default action (which would kill the test binary).
func TestWatchSIGHUP(t *testing.T) {
	sc, file := newSafeConfigFile(t, "top_n: 1\n")
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc.WatchSIGHUP(ctx, slog.New(slog.NewTextHandler(logs, nil)))

	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	replaceFile(t, file, "top_n: 2\n")
	hup()
	waitFor(t, "reload to top_n 2", func() bool { return sc.Get().TopN == 2 && sc.LastReloadSuccessful() })
	good := sc.LastReloadSuccessTime()

	replaceFile(t, file, "top_n: 2000\n")
	hup()
	waitFor(t, "failed reload", func() bool { return !sc.LastReloadSuccessful() })
	assertTopN(t, sc, 2)
	if !sc.LastReloadSuccessTime().Equal(good) {
		t.Error("a failed reload moved the success time")
	}
	waitFor(t, "error log", func() bool {
		return strings.Contains(logs.String(), `level=ERROR msg="Error reloading config, keeping the previous one"`) &&
			strings.Contains(logs.String(), "trigger=sighup") &&
			strings.Contains(logs.String(), "top_n: 2000 is out of range 0-1000")
	})

	replaceFile(t, file, "top_n: 3\n")
	hup()
	waitFor(t, "reload to top_n 3", func() bool { return sc.Get().TopN == 3 && sc.LastReloadSuccessful() })
	if !sc.LastReloadSuccessTime().After(good) {
		t.Error("a successful reload did not move the success time")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer lets the test read logs written by the watcher goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
