// SPDX-License-Identifier: Apache-2.0

//go:build unix

package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReadFileRefuses: a FIFO is refused at once (it would block), a file
// over MaxFileBytes with a clear error, whatever its content.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, []byte("ports:\n"+strings.Repeat("  - 8080\n", MaxFileBytes/9+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{fifo: "not a regular file", big: "is larger than 1048576 bytes (1 MiB)"} {
		start := time.Now()
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", path, err, want)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: refused after %v", path, took)
		}
	}
}

// TestFileReaderBlocked: a read that blocks is given up at the timeout;
// while it blocks, 300 more attempts fail at once without a goroutine
// each; once it returns, the file is read again.
func TestFileReaderBlocked(t *testing.T) {
	release := make(chan struct{})
	var blocking atomic.Bool
	blocking.Store(true)
	r := &fileReader{timeout: 100 * time.Millisecond, read: func(string) ([]byte, error) {
		if blocking.Load() {
			<-release
		}
		return []byte("top_n: 3\n"), nil
	}}
	if _, err := r.load("cfg"); err == nil || !strings.Contains(err.Error(), "no data within 100ms") {
		t.Fatalf("blocked read: %v", err)
	}
	base := runtime.NumGoroutine()
	start := time.Now()
	for range 300 {
		if _, err := r.load("cfg"); !errors.Is(err, errStillBlocked) {
			t.Fatalf("read while one blocks: %v", err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("300 refused reads took %v", took)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines after 300 refused reads, %d before", n, base)
	}
	blocking.Store(false)
	close(release)
	waitFor(t, "a read once the blocked one returned", func() bool {
		cfg, err := r.load("cfg")
		return err == nil && cfg.TopN == 3
	})
}

// TestParseLinear: unknown keys are refused in time linear in their
// number. Decoding them again with yaml.v3 was quadratic (its duplicate-key
// test): 100,000 keys (1 MB, under the cap) took 48 s. The bound is a ratio
// of two sizes measured in the same run, so a loaded machine slows both:
// 4 times the keys take about 4 times as long, 16 times if quadratic.
func TestParseLinear(t *testing.T) {
	small, large := parseUnknownKeys(t, 5_000), parseUnknownKeys(t, 20_000)
	if ratio := float64(large) / float64(small); ratio > 9 {
		t.Errorf("4x the unknown keys took %.1fx as long (%v, then %v)", ratio, small, large)
	}
}

// parseUnknownKeys is the fastest of three parses of n unknown keys.
func parseUnknownKeys(t *testing.T, n int) time.Duration {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "k%06d: 1\n", i)
	}
	want := fmt.Sprintf("and %d more problems", n-50)
	best := time.Duration(math.MaxInt64)
	for range 3 {
		start := time.Now()
		_, err := Parse([]byte(b.String()))
		best = min(best, time.Since(start))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %.200v", err)
		}
	}
	return best
}
