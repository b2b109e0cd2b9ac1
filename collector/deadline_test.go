// SPDX-License-Identifier: Apache-2.0

//go:build linux

package collector

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
	"golang.org/x/sys/unix"
)

// A read that blocks in the kernel cannot be cancelled: a FIFO without a
// writer blocks in open(2), one whose writer never writes blocks in
// read(2), as a procfs file behind a stuck lock or a hung mount would. The
// scrape must stop waiting at its deadline, fail only the collector that
// reads the file, and not start the same read again while it blocks.

const testDeadline = time.Second

// blockedFile is a FIFO in place of a file of a procfs tree.
type blockedFile struct {
	t      *testing.T
	path   string
	writer *os.File // read mode: held open, never written
	data   []byte   // the file's real content
}

// blockFile replaces path with a FIFO. mode "open" leaves it without a
// writer (open(2) blocks); mode "read" holds a writer that writes nothing
// (open succeeds, read(2) blocks). The cleanup releases any reader left.
func blockFile(t *testing.T, path, mode string) *blockedFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	b := &blockedFile{t: t, path: path, data: data}
	if mode == "read" {
		// O_RDWR on a FIFO does not wait for a partner (Linux fifo_open).
		if b.writer, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { b.release() })
	return b
}

// release gives the blocked readers the file's content and EOF.
func (b *blockedFile) release() {
	w := b.writer
	if w == nil {
		var err error
		if w, err = os.OpenFile(b.path, os.O_RDWR, 0); err != nil {
			return // already replaced by a regular file
		}
	}
	b.writer = nil
	_, _ = w.Write(b.data)
	_ = w.Close()
}

// restore puts the regular file back.
func (b *blockedFile) restore() {
	b.t.Helper()
	b.release()
	_ = os.Remove(b.path)
	fixtureWrite(b.t, b.path, b.data)
}

// settledStuckReaders is stuckReaders once the readers that earlier tests
// released at their cleanup have returned (they end asynchronously, and one
// still ending would hide the reader a test is waiting for); at most 5 s.
func settledStuckReaders() int {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if stuckReaders() == 0 {
			break
		}
	}
	return stuckReaders()
}

// stuckReaders counts goroutines inside one of the collectors' file reads.
func stuckReaders() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		count := 0
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			for _, f := range []string{"kread.ReadSysctls(", "kread.ReadSockstat(", "kread.ReadNetstat("} {
				if strings.Contains(g, f) {
					count++
					break
				}
			}
		}
		return count
	}
}

// timedScrape gathers once under testDeadline.
func timedScrape(t *testing.T, e *Exporter) (map[string][]prometheus.Metric, time.Duration) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ms := collectAll(ctx, e)
	return ms, time.Since(start)
}

// blockedScrape is scrape number i of an exporter with a blocked read: the
// first waits for it until the deadline; the later ones do not start it
// again, so they end before it.
func blockedScrape(t *testing.T, e *Exporter, i int) map[string][]prometheus.Metric {
	t.Helper()
	ms, took := timedScrape(t, e)
	if i == 1 && (took < testDeadline || took > testDeadline+time.Second) {
		t.Errorf("scrape 1 took %v with a %v deadline", took, testDeadline)
	}
	if i > 1 && took >= testDeadline {
		t.Errorf("scrape %d took %v: it waited for the blocked read again", i, took)
	}
	return ms
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// blockedCases are every file of the procfs tree the collectors read, with
// the collectors a block in it fails. A blocked sysctl fails the sockets
// collector too (no pressure without the port range), which still exports
// its state counts.
func blockedCases() map[string][]string {
	cases := map[string][]string{
		"net/sockstat":  {"sockstat"},
		"net/sockstat6": {"sockstat"},
		"net/netstat":   {"netstat"},
		"net/snmp":      {"netstat"},
	}
	for name := range kreadtest.Sysctls {
		cases["sys/net/ipv4/"+name] = []string{"sockets", "sysctl"}
	}
	return cases
}

func TestBlockedReadCostsOnlyItsCollector(t *testing.T) {
	cases := blockedCases()
	for _, file := range slices.Sorted(maps.Keys(cases)) {
		for _, mode := range []string{"open", "read"} {
			t.Run(mode+" "+file, func(t *testing.T) {
				testBlockedRead(t, file, mode, cases[file])
			})
		}
	}
}

func testBlockedRead(t *testing.T, file, mode string, failed []string) {
	root := faultProc(t)
	e, log := faultExporter(t, root)
	base := settledStuckReaders()
	b := blockFile(t, filepath.Join(root, file), mode)
	blocked := failed[len(failed)-1] // the collector that reads the file itself

	for i := 1; i <= 3; i++ {
		ms := blockedScrape(t, e, i)
		for _, name := range []string{"netstat", "sockets", "sockstat", "sysctl"} {
			want := 1.0
			if slices.Contains(failed, name) {
				want = 0
			}
			if got := successOf(t, ms, name); got != want {
				t.Errorf("scrape %d: %s success %v, want %v", i, name, got, want)
			}
		}
		if !hasMetric(ms, "timewait_tcp_sockets") {
			t.Errorf("scrape %d: no sockets state counts", i)
		}
		if n := stuckReaders() - base; n != 1 {
			t.Errorf("scrape %d: %d reads blocked, want 1", i, n)
		}
	}
	if got := log.count(`level=ERROR msg="collector failed" collector=` + blocked + ` err="abandoned at the deadline, still blocked`); got != 1 {
		t.Errorf("%d error lines saying %s was abandoned, want 1:\n%s", got, blocked, log)
	}
	if got := log.count("level=ERROR"); got != len(failed) {
		t.Errorf("%d error lines, want %d (one per failed collector):\n%s", got, len(failed), log)
	}

	// Once the read returns and the file is whole again, all recover.
	b.restore()
	// It is logged once it is no longer marked stuck.
	waitFor(t, "the blocked read to return", func() bool {
		return stuckReaders() == base && log.count("read abandoned at an earlier deadline returned") == 1
	})
	ms, _ := timedScrape(t, e)
	for _, name := range failed {
		if successOf(t, ms, name) != 1 {
			t.Errorf("%s did not recover:\n%s", name, log)
		}
	}
	if got := log.count(`msg="collector recovered" collector=` + blocked); got != 1 {
		t.Errorf("%d recovery lines for %s, want 1", got, blocked)
	}
}

func hasMetric(ms map[string][]prometheus.Metric, name string) bool {
	for desc := range ms {
		if strings.Contains(desc, `"`+name+`"`) {
			return true
		}
	}
	return false
}

// TestBlockedReadSnapshot: the doctor's snapshot ends at its deadline with
// the blocked source in Errors and the others read; once a scrape left the
// read behind, the snapshot does not start it again.
func TestBlockedReadSnapshot(t *testing.T) {
	for _, tc := range []struct{ file, source string }{
		{"net/netstat", "netstat"},
		{"net/sockstat", "sockstat"},
		{"sys/net/ipv4/ip_local_port_range", "sysctl"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			root := faultProc(t)
			e, _ := faultExporter(t, root)
			blockFile(t, filepath.Join(root, tc.file), "open")
			for i, afterScrape := range []bool{false, true} {
				if afterScrape {
					timedScrape(t, e)
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
				snaps := e.Snapshots(ctx)
				cancel()
				took := time.Since(start)
				if took > testDeadline+time.Second || afterScrape && took >= testDeadline {
					t.Errorf("snapshot %d took %v", i, took)
				}
				if len(snaps) != 1 || snaps[0].Errors[tc.source] == nil {
					t.Fatalf("snapshot %d: no error for %s: %+v", i, tc.source, snaps)
				}
				if (tc.source == "netstat") == (snaps[0].Netstat != nil) || (tc.source == "sockstat") == (snaps[0].Sockstat != nil) ||
					(tc.source == "sysctl") == (snaps[0].Sysctls != nil) || snaps[0].Sockets == nil {
					t.Errorf("snapshot %d: sources read: %+v", i, snaps[0])
				}
			}
		})
	}
}

// TestJoiningScrapeGetsNoOlderValues: a scrape that joins a run blocked on
// a read, which finished the other collectors before the scrape began, and
// reaches its own deadline first answers every collector failed, in time,
// rather than those older values as a success.
func TestJoiningScrapeGetsNoOlderValues(t *testing.T) {
	root := faultProc(t)
	e, log := faultExporter(t, root)
	base := settledStuckReaders()
	blockFile(t, filepath.Join(root, "net/sockstat"), "open")
	long, cancelLong := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelLong()
	done := make(chan struct{})
	go func() { defer close(done); collectAll(long, e) }()
	waitFor(t, "the first scrape to block", func() bool { return stuckReaders() > base })
	waitRunHasSamples(t, e)

	ms, took := timedScrape(t, e)
	if took < testDeadline || took > testDeadline+time.Second {
		t.Errorf("joining scrape took %v with a %v deadline", took, testDeadline)
	}
	for _, name := range []string{"sockstat", "netstat", "sockets", "sysctl"} {
		if got := successOf(t, ms, name); got != 0 {
			t.Errorf("joining scrape: %s success %v, want 0", name, got)
		}
	}
	if hasMetric(ms, "timewait_tcpext_tw_total") {
		t.Error("joining scrape served values read before it began")
	}
	if log.count("reported failed rather than with older values") != 1 {
		t.Errorf("no warning for the joining scrape:\n%s", log)
	}
	cancelLong()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the run did not end at its own deadline")
	}
}
