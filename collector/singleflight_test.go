// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// gatedCollector holds the real sockets collector's reads: each counts as
// one dump and waits for release (or its scope's deadline) before dumping.
type gatedCollector struct {
	dumps   atomic.Int32
	entered chan struct{} // closed at the first Update
	once    sync.Once
	release chan struct{}
}

// before is the exporter's scan.Options.BeforeRead.
func (g *gatedCollector) before(s *kread.Scope, source string) error {
	if source != "sockets" {
		return nil
	}
	g.dumps.Add(1)
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.release:
		return nil
	case <-s.Ctx.Done():
		return s.Ctx.Err()
	}
}

// gatedExporter is an exporter with every default collector, the sockets
// one behind a gate.
func gatedExporter(t *testing.T) (*Exporter, *gatedCollector) {
	t.Helper()
	return gatedExporterAt(t, "/proc")
}

// gatedExporterAt is gatedExporter reading the procfs tree at procPath.
func gatedExporterAt(t *testing.T, procPath string) (*Exporter, *gatedCollector) {
	t.Helper()
	e, err := New(Options{Options: scan.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProcPath: procPath}, Export: defaultExport()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.collectors["sockets"]; !ok {
		t.Fatal("no sockets collector (were the flags parsed?)")
	}
	g := &gatedCollector{entered: make(chan struct{}), release: make(chan struct{})}
	holdReads(e, g.before)
	return e, g
}

// inFlight counts scrapes inside Exporter.CollectContext: the one that
// started the run and those waiting for its result.
func inFlight() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "collector.(*Exporter).CollectContext(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// collectAll runs one scrape and returns its samples by metric name.
func collectAll(ctx context.Context, e *Exporter) map[string][]prometheus.Metric {
	ch := make(chan prometheus.Metric)
	done := make(chan map[string][]prometheus.Metric)
	go func() {
		out := map[string][]prometheus.Metric{}
		for m := range ch {
			name := m.Desc().String()
			out[name] = append(out[name], m)
		}
		done <- out
	}()
	e.CollectContext(ctx, ch)
	close(ch)
	return <-done
}

func successOf(t *testing.T, ms map[string][]prometheus.Metric, collector string) float64 {
	t.Helper()
	for name, list := range ms {
		if !strings.Contains(name, `"timewait_scrape_collector_success"`) {
			continue
		}
		for _, m := range list {
			var d dto.Metric
			if err := m.Write(&d); err != nil {
				t.Fatal(err)
			}
			for _, l := range d.GetLabel() {
				if l.GetName() == "collector" && l.GetValue() == collector {
					return d.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no timewait_scrape_collector_success{collector=%q}", collector)
	return 0
}

// TestConcurrentScrapesShareOneDump: scrapes that arrive while a dump runs
// (two Prometheus replicas, a curl), once the run has read other sources,
// cannot serve those older values: they wait for it and share the next
// run; the kernel's tables are walked twice for all of them, not once each.
func TestConcurrentScrapesShareOneDump(t *testing.T) {
	const scrapes = 8
	e, g := gatedExporter(t)
	results := make([]map[string][]prometheus.Metric, scrapes)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); results[0] = collectAll(context.Background(), e) }()
	<-g.entered // the first scrape is dumping
	waitRunHasSamples(t, e)
	for i := 1; i < scrapes; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = collectAll(context.Background(), e) }()
	}
	// Release the dump only once every scrape waits on it.
	deadline := time.Now().Add(10 * time.Second)
	for inFlight() < scrapes {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d scrapes reached the shared run", inFlight(), scrapes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.release)
	wg.Wait()
	if n := g.dumps.Load(); n != 2 {
		t.Fatalf("%d concurrent scrapes made %d dumps, want 2", scrapes, n)
	}
	for i, r := range results {
		if len(r) != len(results[0]) {
			t.Errorf("scrape %d got %d metric names, scrape 0 got %d", i, len(r), len(results[0]))
		}
		if successOf(t, r, "sockets") != 1 {
			t.Errorf("scrape %d: sockets collector failed", i)
		}
	}
	// The result is shared, not cached: the next scrape dumps again.
	collectAll(context.Background(), e)
	if n := g.dumps.Load(); n != 3 {
		t.Fatalf("a later scrape made %d dumps in all, want 3", n)
	}
}

// TestJoinedRunNeverServesOlderValues: a run held up by its dump (a long
// deadline, as a huge X-Prometheus-Scrape-Timeout-Seconds gave before it
// was capped) read sockstat before a later scrape began. That scrape,
// at its own deadline, reports the collectors failed rather than the old
// tw count as a success; once the run ends, the next scrape reads the new.
func TestJoinedRunNeverServesOlderValues(t *testing.T) {
	root := faultProc(t)
	sockstat := filepath.Join(root, "net", "sockstat")
	fixtureWrite(t, sockstat, []byte("TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 1\n"))
	e, g := gatedExporterAt(t, root)
	long, cancelLong := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelLong()
	done := make(chan struct{})
	go func() { defer close(done); collectAll(long, e) }()
	<-g.entered
	waitRunHasSamples(t, e)
	fixtureWrite(t, sockstat, []byte("TCP: inuse 1 orphan 0 tw 4242 alloc 1 mem 1\n"))

	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ms := collectAll(short, e)
	if got := successOf(t, ms, "sockstat"); got != 0 {
		t.Errorf("a scrape that joined a run begun before it reported sockstat success %v with its older values", got)
	}
	if hasMetric(ms, "timewait_sockstat_tw_sockets") {
		t.Error("older timewait_sockstat_tw_sockets served")
	}
	close(g.release)
	<-done
	ms = collectAll(context.Background(), e)
	if got := valueOf(t, ms, "timewait_sockstat_tw_sockets"); got != 4242 {
		t.Errorf("next scrape: tw %v, want 4242", got)
	}
}

// waitRunHasSamples waits until the run in flight has samples, so a
// scrape that begins now finds them older than itself.
func waitRunHasSamples(t *testing.T, e *Exporter) {
	t.Helper()
	waitFor(t, "the run in flight to have samples", func() bool {
		e.mu.Lock()
		r := e.current
		e.mu.Unlock()
		return r != nil && !r.p.freshFor(time.Now())
	})
}

// valueOf is the value of the one sample of the gauge name in ms.
func valueOf(t *testing.T, ms map[string][]prometheus.Metric, name string) float64 {
	t.Helper()
	for desc, list := range ms {
		if strings.Contains(desc, `"`+name+`"`) && len(list) == 1 {
			var d dto.Metric
			if err := list[0].Write(&d); err != nil {
				t.Fatal(err)
			}
			return d.GetGauge().GetValue()
		}
	}
	t.Fatalf("no single %s sample", name)
	return 0
}

// TestScrapeDeadlineBoundsDuration: the deadline main derives from
// X-Prometheus-Scrape-Timeout-Seconds ends a scrape whose dump does not
// finish, with the collector reported failed rather than the scrape hung.
func TestScrapeDeadlineBoundsDuration(t *testing.T) {
	e, g := gatedExporter(t) // never released
	const timeout = 300 * time.Millisecond
	// Timed from before the deadline is set, so the measured time cannot
	// come out a hair short of it.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ms := collectAll(ctx, e)
	took := time.Since(start)
	if took < timeout || took > timeout+2*time.Second {
		t.Errorf("scrape with a %v deadline took %v", timeout, took)
	}
	if g.dumps.Load() != 1 {
		t.Errorf("dumps = %d, want 1", g.dumps.Load())
	}
	if successOf(t, ms, "sockets") != 0 {
		t.Error("the sockets collector that ran out of time is not reported failed")
	}
	if successOf(t, ms, "sockstat") != 1 {
		t.Error("the other collectors' results are lost")
	}
}

// TestJoiningScrapeKeepsItsOwnDeadline: a scrape with a short deadline that
// joins a run started by one with a long deadline must still return within
// its own.
func TestJoiningScrapeKeepsItsOwnDeadline(t *testing.T) {
	e, g := gatedExporter(t)
	long, cancelLong := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelLong()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); collectAll(long, e) }()
	<-g.entered
	const timeout = 300 * time.Millisecond
	short, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	collectAll(short, e)
	took := time.Since(start)
	close(g.release)
	wg.Wait()
	if took > timeout+2*time.Second {
		t.Errorf("a scrape with a %v deadline that joined a longer one took %v", timeout, took)
	}
	if g.dumps.Load() != 1 {
		t.Errorf("dumps = %d, want 1", g.dumps.Load())
	}
}
