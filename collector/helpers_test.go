// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// syncBuffer is a log sink safe for the collectors' parallel goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// count is how many times substr occurs in what was written.
func (s *syncBuffer) count(substr string) int {
	return strings.Count(s.String(), substr)
}

// scoped adapts one Collector and kread.Scope to prometheus.Collector
// (unchecked: it describes nothing): it reads the collector's source in
// the scope and records the error of the reading and the collector.
type scoped struct {
	c      Collector
	s      *kread.Scope
	detail *nsDetail // of a foreign namespace, as gatherNetns filters it; nil: none
	err    error
}

func (sc *scoped) Describe(chan<- *prometheus.Desc) {}
func (sc *scoped) Collect(ch chan<- prometheus.Metric) {
	rd := readFor(sc.c, sc.s)
	ms, err := collect(sc.c, &rd)
	sc.err = errors.Join(rd.Err, err)
	if sc.detail != nil {
		ms = sc.detail.keep(sc.s.Ctx, &rd, ms)
	}
	for _, m := range ms {
		ch <- m
	}
}

// readFor reads the source of collector c in scope s, as a scrape would.
func readFor(c Collector, s *kread.Scope) scan.Reading {
	var req scan.Request
	if r, ok := c.(requester); ok {
		r.request(&req)
	}
	rd, _ := scan.ReadSource(s, sourceOf(c), req)
	return rd
}

// sourceOf is the name of the source collector c turns into samples.
func sourceOf(c Collector) string {
	switch c.(type) {
	case *socketsCollector:
		return "sockets"
	case *sysctlCollector:
		return "sysctl"
	case *sockstatCollector:
		return "sockstat"
	}
	return "netstat"
}

// holdReads makes e's reads call hook first (see scan.Options.BeforeRead).
func holdReads(e *Exporter, hook func(*kread.Scope, string) error) {
	e.opts.BeforeRead = hook
	e.reader = scan.NewReader(e.opts.Options)
}

// runCollector runs one collector against procPath through a registry (so
// the output is checked for consistency) and returns its samples by
// "name{label="value",...}" and Update's error.
func runOne(t *testing.T, f factory, o Options, procPath string) (map[string]float64, error) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := f(o)
	if err != nil {
		t.Fatal(err)
	}
	sc := &scoped{c: c, s: kread.OwnScope(context.Background(), procPath)}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sc)
	return gatherMap(t, reg), sc.err
}

// checkRun checks what runOne returned: with wantErr, an error containing
// it (and no samples, unless partial: the collector may export what it read
// before the error); otherwise no error and exactly want.
func checkRun(t *testing.T, got map[string]float64, err error, want map[string]float64, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatal(err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("error = %v, want one containing %q", err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

// newTestExporter builds an Exporter with the default collectors (the
// flags' defaults, parsed in TestMain).
func newTestExporter(t *testing.T, procPath string, cfg func() *config.Config) *Exporter {
	t.Helper()
	if cfg == nil {
		cfg = config.Default
	}
	e, err := New(Options{Options: scan.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProcPath: procPath,
		Netns: cfg().Netns}, Export: cfg().Export()})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.collectors) != 4 {
		t.Fatalf("want the 4 default collectors, got %d (were the flags parsed?)", len(e.collectors))
	}
	return e
}

// defaultExport is what the default configuration exports.
func defaultExport() Export { return config.Default().Export() }

// gatherExporter gathers e once through a fresh registry (not pedantic:
// like node_exporter's, the Exporter describes only its scrape metrics).
func gatherExporter(t testing.TB, e *Exporter) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return mfs
}

// scrape gathers the exporter once through a registry.
func scrape(t *testing.T, e *Exporter) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry() // not pedantic: like node_exporter's, the Exporter describes only its scrape metrics
	reg.MustRegister(e)
	return gatherMap(t, reg)
}

// gatherMap gathers g and returns every sample by series name; label pairs
// are sorted by name (dto order).
func gatherMap(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := seriesKey(mf.GetName(), labels)
			if _, dup := out[key]; dup {
				t.Fatalf("duplicate series %s", key)
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			default:
				t.Fatalf("%s: unexpected metric type", key)
			}
		}
	}
	return out
}

func seriesKey(name string, labels []string) string {
	if len(labels) == 0 {
		return name
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}

// series returns the samples whose name is name (any labels).
func series(ms map[string]float64, name string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range ms {
		if k == name || strings.HasPrefix(k, name+"{") {
			out[k] = v
		}
	}
	return out
}

// mustValue returns one sample or fails.
func mustValue(t *testing.T, ms map[string]float64, key string) float64 {
	t.Helper()
	v, ok := ms[key]
	if !ok {
		t.Fatalf("series %s missing", key)
	}
	return v
}

// withDeadline is the deadline a caller of Snapshots or CollectContext
// sets: DefaultTimeout from now, ended with the test.
func withDeadline(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	t.Cleanup(cancel)
	return ctx
}
