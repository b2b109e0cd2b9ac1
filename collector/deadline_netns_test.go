// SPDX-License-Identifier: Apache-2.0

//go:build linux

package collector

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// stuckCollector blocks in one namespace until released, deaf to the
// scrape's deadline, as a read blocked in a system call is.
type stuckCollector struct {
	netns   string
	release chan struct{}
	calls   atomic.Int32 // Updates that blocked
	inside  atomic.Int32 // Updates blocked right now
}

// before is the exporter's scan.Options.BeforeRead: it holds the sockets
// source in namespace c.netns.
func (c *stuckCollector) before(s *kread.Scope, source string) error {
	if source == "sockets" && len(s.LabelValues) == 1 && s.LabelValues[0] == c.netns {
		c.calls.Add(1)
		c.inside.Add(1)
		defer c.inside.Add(-1)
		<-c.release
	}
	return nil
}

// successByNetns returns the collector success samples of one namespace.
func successByNetns(t *testing.T, ms map[string][]prometheus.Metric, netns string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for name, list := range ms {
		if !strings.Contains(name, `"timewait_scrape_collector_success"`) {
			continue
		}
		for _, m := range list {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				t.Fatal(err)
			}
			if labelValue(&d, NetnsLabel) == netns {
				out[labelValue(&d, "collector")] = d.GetGauge().GetValue()
			}
		}
	}
	return out
}

// TestBlockedCollectorInForeignNamespace: in a namespace entered by a
// thread of its own, collectors run one after the other on that thread. A
// blocked one is abandoned at the deadline with the thread; those after it
// are reported not started; later scrapes skip the blocked one at once and
// run the others, and the own namespace is not affected.
func TestBlockedCollectorInForeignNamespace(t *testing.T) {
	f := newNetnsFixture(t)
	ns := f.add("stuck")
	e, logs := f.exporter(10)
	// sockets runs second of four (netstat, sockets, sockstat, sysctl).
	stuck := &stuckCollector{netns: ns, release: make(chan struct{})}
	holdReads(e, stuck.before)
	var released sync.Once
	release := func() { released.Do(func() { close(stuck.release) }) }
	t.Cleanup(release)

	for i := 1; i <= 3; i++ {
		ms := blockedScrape(t, e, i)
		want := map[string]float64{"netstat": 1, "sockets": 0, "sockstat": 1, "sysctl": 1}
		if i == 1 {
			want["sockstat"], want["sysctl"] = 0, 0 // after it on the stuck thread
		}
		got := successByNetns(t, ms, ns)
		for name, w := range want {
			if g, ok := got[name]; !ok || g != w {
				t.Errorf("scrape %d, netns %s: %s success %v (reported %v), want %v", i, ns, name, g, ok, w)
			}
		}
		for name, g := range successByNetns(t, ms, netns.HostLabel) {
			if g != 1 {
				t.Errorf("scrape %d: own namespace's %s failed", i, name)
			}
		}
		if n := stuck.calls.Load(); n != 1 {
			t.Errorf("scrape %d: the blocked collector was started %d times, want 1", i, n)
		}
	}
	for _, want := range []string{
		`collector="sockets netns=` + ns + `" err="abandoned at the deadline, still blocked`,
		`collector="sockstat netns=` + ns + `" err="not started before the deadline: sockets, before it on the same thread, was still blocked"`,
	} {
		if logs.count(want) != 1 {
			t.Errorf("log lacks %s once:\n%s", want, logs)
		}
	}
	// Released, the thread finishes (the collectors after it are not run
	// late) and the next scrape succeeds everywhere.
	release()
	waitFor(t, "the abandoned collector to return", func() bool {
		return logs.count("read abandoned at an earlier deadline returned") == 1
	})
	ms, _ := timedScrape(t, e)
	for name, g := range successByNetns(t, ms, ns) {
		if g != 1 {
			t.Errorf("after release: %s success %v", name, g)
		}
	}
}

// TestBlockedDiscovery: discovery reads /proc/<pid>/comm of every process;
// one that blocks costs the scrape the other namespaces (netns success 0)
// but not the own namespace's collectors, and is not started again.
func TestBlockedDiscovery(t *testing.T) {
	root := faultProc(t)
	if err := os.Symlink("/proc/self", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	fixtureWrite(t, filepath.Join(root, "2", "comm"), []byte("kthreadd\n"))
	blockFile(t, filepath.Join(root, "2", "comm"), "open") // read first, by hostNs
	logs := &syncBuffer{}
	e, err := New(Options{Options: scan.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ProcPath: root, DiscoverNetns: true}, Export: defaultExport()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		ms, took := timedScrape(t, e)
		if took > testDeadline+time.Second || i > 1 && took >= testDeadline {
			t.Errorf("scrape %d took %v with a %v deadline", i, took, testDeadline)
		}
		got := successByNetns(t, ms, netns.HostLabel)
		for name, want := range map[string]float64{"netns": 0, "netstat": 1, "sockets": 1, "sockstat": 1, "sysctl": 1} {
			if g, ok := got[name]; !ok || g != want {
				t.Errorf("scrape %d: %s success %v (reported %v), want %v", i, name, g, ok, want)
			}
		}
	}
	if n := logs.count(`collector=netns err="abandoned at the deadline, still blocked`); n != 1 {
		t.Errorf("%d error lines for the blocked discovery, want 1:\n%s", n, logs)
	}
}
