// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewSafeConfigWithoutFile(t *testing.T) {
	before := time.Now()
	sc, err := NewSafeConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if !equalConfig(sc.Get(), Default()) {
		t.Errorf("Get() = %+v, want defaults", sc.Get())
	}
	assertStatus(t, sc, true, before)
	if err := sc.Reload(); err != nil {
		t.Errorf("Reload without a file = %v, want nil", err)
	}
	assertStatus(t, sc, true, before)
}

func TestNewSafeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, "top_n: -1\n")
	for path, want := range map[string]string{
		bad:                               `config file "` + bad + `": line 1: top_n: -1 is out of range 0-1000`,
		filepath.Join(dir, "missing.yml"): "no such file or directory",
	} {
		sc, err := NewSafeConfig(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewSafeConfig(%s) = %v, %v; want error containing %q", path, sc, err, want)
		}
	}
}

// TestReloadKeepsOldConfigOnError: good → bad → deleted → good, checking the
// config in use and both status getters after each step.
func TestReloadKeepsOldConfigOnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yml")
	replaceFile(t, file, "top_n: 1\n")
	start := time.Now()
	sc, err := NewSafeConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	assertStatus(t, sc, true, start)
	loaded := sc.LastReloadSuccessTime()

	replaceFile(t, file, "top_n: -1\n")
	if err := sc.Reload(); err == nil || !strings.Contains(err.Error(), "top_n: -1 is out of range") {
		t.Fatalf("Reload(bad) = %v", err)
	}
	assertTopN(t, sc, 1)
	assertStatus(t, sc, false, loaded)
	if got := sc.LastReloadSuccessTime(); !got.Equal(loaded) {
		t.Errorf("a failed reload moved the success time from %v to %v", loaded, got)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := sc.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reload(missing) = %v, want ErrNotExist", err)
	}
	assertTopN(t, sc, 1)

	replaceFile(t, file, "top_n: 2\n")
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	assertTopN(t, sc, 2)
	assertStatus(t, sc, true, loaded)
}

func TestReloadHandler(t *testing.T) {
	sc, file := newSafeConfigFile(t, "top_n: 1\n")
	var logs bytes.Buffer
	handler := sc.ReloadHandler(slog.New(slog.NewTextHandler(&logs, nil)))
	serve := func(method string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(method, "/-/reload", nil))
		return rec
	}

	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		replaceFile(t, file, "top_n: 9\n")
		rec := serve(method)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
			t.Errorf("%s: got %d Allow=%q, want 405 Allow=POST", method, rec.Code, rec.Header().Get("Allow"))
		}
		assertTopN(t, sc, 1) // no reload happened
	}

	steps := []struct {
		file     string
		wantCode int
		wantBody string
		wantTopN int
		wantOK   bool
		wantLog  string
	}{
		{"top_n: 2\n", http.StatusOK, "config reloaded\n", 2, true, "level=INFO msg=\"Reloaded config\" file=" + file + " trigger=http"},
		{"top_n: 3\nports: [0]\n", http.StatusInternalServerError,
			"failed to reload config: config file \"" + file + "\": line 2: ports[0]: port 0 is out of range 1-65535\n", 2, false,
			"level=ERROR msg=\"Error reloading config, keeping the previous one\" file=" + file + " trigger=http err="},
		{"top_n: 4\n", http.StatusOK, "config reloaded\n", 4, true, "level=INFO"},
	}
	for i, step := range steps {
		replaceFile(t, file, step.file)
		logs.Reset()
		before := sc.LastReloadSuccessTime()
		rec := serve(http.MethodPost)
		if rec.Code != step.wantCode || rec.Body.String() != step.wantBody {
			t.Errorf("step %d: got %d %q, want %d %q", i, rec.Code, rec.Body.String(), step.wantCode, step.wantBody)
		}
		assertTopN(t, sc, step.wantTopN)
		if got := sc.LastReloadSuccessful(); got != step.wantOK {
			t.Errorf("step %d: LastReloadSuccessful = %v, want %v", i, got, step.wantOK)
		}
		if moved := sc.LastReloadSuccessTime().After(before); moved != step.wantOK {
			t.Errorf("step %d: success time moved = %v, want %v", i, moved, step.wantOK)
		}
		if !strings.Contains(logs.String(), step.wantLog) {
			t.Errorf("step %d: log %q does not contain %q", i, logs.String(), step.wantLog)
		}
	}
}

// TestConcurrentGetAndReload is for -race: readers use the config while
// reloads (direct and over HTTP) swap good and bad files underneath.
func TestConcurrentGetAndReload(t *testing.T) {
	sc, file := newSafeConfigFile(t, "top_n: 1\nports: [1]\n")
	handler := sc.ReloadHandler(slog.New(slog.DiscardHandler))

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cfg := sc.Get()
				// Only valid configs are ever installed.
				if len(cfg.Ports) != 1 || int(cfg.Ports[0]) != cfg.TopN {
					t.Errorf("inconsistent config: %+v", cfg)
					return
				}
				_ = sc.LastReloadSuccessful()
				_ = sc.LastReloadSuccessTime()
			}
		})
	}

	var reloaders sync.WaitGroup
	for r := range 3 {
		reloaders.Go(func() {
			for i := range 50 {
				if r == 0 {
					// Alternate valid and invalid files.
					if i%3 == 2 {
						replaceFile(t, file, "top_n: -1\n")
					} else {
						replaceFile(t, file, strings.ReplaceAll("top_n: N\nports: [N]\n", "N", string(rune('1'+i%9))))
					}
				}
				if r == 1 {
					handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/-/reload", nil))
				} else {
					_ = sc.Reload()
				}
			}
		})
	}
	reloaders.Wait()
	close(stop)
	readers.Wait()
}

func assertTopN(t *testing.T, sc *SafeConfig, want int) {
	t.Helper()
	if got := sc.Get().TopN; got != want {
		t.Errorf("config in use has top_n %d, want %d", got, want)
	}
}

func assertStatus(t *testing.T, sc *SafeConfig, wantOK bool, notBefore time.Time) {
	t.Helper()
	if got := sc.LastReloadSuccessful(); got != wantOK {
		t.Errorf("LastReloadSuccessful() = %v, want %v", got, wantOK)
	}
	if got := sc.LastReloadSuccessTime(); got.Before(notBefore) {
		t.Errorf("LastReloadSuccessTime() = %v, want not before %v", got, notBefore)
	}
}

// replaceFile swaps in new contents atomically, as editors and config
// management do, so that a concurrent reload never reads half a file.
// newSafeConfigFile writes data to a config file in a temporary directory
// and loads it; the test rewrites the file with replaceFile.
func newSafeConfigFile(t *testing.T, data string) (*SafeConfig, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.yml")
	replaceFile(t, file, data)
	sc, err := NewSafeConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	return sc, file
}

func replaceFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}

// TestWatch: a watcher gets the current config at once and each one a
// successful reload installs, never a failed one's.
func TestWatch(t *testing.T) {
	sc, file := newSafeConfigFile(t, "top_n: 1\n")
	var seen []int
	sc.Watch(func(c *Config) { seen = append(seen, c.TopN) })
	replaceFile(t, file, "top_n: -1\n")
	if err := sc.Reload(); err == nil {
		t.Fatal("Reload(bad) succeeded")
	}
	replaceFile(t, file, "top_n: 2\n")
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []int{1, 2}) {
		t.Errorf("watcher saw top_n %v, want [1 2]", seen)
	}
}
