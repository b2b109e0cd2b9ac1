// SPDX-License-Identifier: Apache-2.0

// Package collector exports what the kernel tells (read by package scan
// in the scopes a scrape covers, with kread's readers and model's
// aggregation) as Prometheus metrics on every scrape, the node_exporter
// way: one collector per source, each timed and reported with a success
// gauge. Collectors do no I/O: each turns its source's reading into
// samples. It decides what is exported: the top-N selection of
// destinations and ports, the label names and each idle namespace's
// detail.
//
// The path of one scrape through the packages (default configuration;
// docs/performance.md counts the crossings: 6, each boundary crossed once):
//
//   - main: the HTTP handler sets the scrape's one deadline;
//   - client_golang: promhttp gathers the registry, calls Collect;
//   - collector: one run shared by concurrent scrapes; what to export is
//     its own plain data (Export), set by main at load and reload;
//   - scan: Reader.Read, the collector's one call, reads every source of
//     every scope, each read a task under the deadline, and returns each
//     source's reading as plain data, with its error and read time;
//   - kread: the reads (sysctls, sockstat, netstat, sockets);
//   - sockdiag: the dump, one reply's sockets at a time, which kread adds
//     to model's aggregation and, at the end, has model summarise.
//
// The collectors then turn each reading into samples, the top-N selection
// their own, calling no other package.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// ErrNoData tells the runner a collector had nothing to report this time,
// which is not a failure (e.g. an optional kernel feature is absent).
var ErrNoData = errors.New("collector returned no data")

// Collector turns the reading of its source in one scope (a network
// namespace), read by package scan under the scrape's deadline, into
// samples sent to ch. It does no I/O: its error, with the reading's, is
// the collector's failure.
type Collector interface {
	Update(rd *scan.Reading, ch chan<- prometheus.Metric) error
}

// NetnsLabel is the scope label --netns.discover adds to every
// per-namespace metric.
const NetnsLabel = "netns"

// Options are shared by every collector of an exporter: where and what
// the kernel is read (scan.Options), what is exported, and what the
// sockets collector dumps.
type Options struct {
	scan.Options
	// Export is what is exported until SetExport replaces it.
	Export Export
	// BoundInactive also dumps bound sockets that neither listen nor are
	// connected (--collector.sockets.bound-inactive).
	BoundInactive bool

	current *atomic.Pointer[Export] // the Exporter's, see SetExport
}

type factory func(o Options) (Collector, error)

var (
	factories      = map[string]factory{}
	collectorState = map[string]*bool{}
)

// registerCollector adds a collector and its --[no-]collector.<name> flag.
func registerCollector(name string, enabledByDefault bool, f factory) {
	def := "disabled"
	if enabledByDefault {
		def = "enabled"
	}
	help := fmt.Sprintf("Enable the %s collector (default: %s).", name, def)
	collectorState[name] = kingpin.Flag("collector."+name, help).Default(fmt.Sprint(enabledByDefault)).Bool()
	factories[name] = f
}

// Exporter is the prometheus.Collector that runs every enabled collector on
// each scrape. Scrapes that arrive while one is running share its result
// rather than dumping the kernel's socket tables again.
type Exporter struct {
	collectors map[string]Collector
	opts       Options
	reader     *scan.Reader // remembers the reads left blocked at a deadline
	duration   typedDesc
	success    typedDesc
	mu         sync.Mutex
	current    *run // the run in flight, nil between runs
	errors     *errorLog
	export     atomic.Pointer[Export] // what is exported, see SetExport
}

// New builds an Exporter from the collectors enabled by flags.
func New(o Options) (*Exporter, error) {
	e := &Exporter{
		collectors: map[string]Collector{},
		reader:     scan.NewReader(o.Options),
		errors:     newErrorLog(o.Logger),
		duration:   Lookup("timewait_scrape_collector_duration_seconds").desc(o),
		success:    Lookup("timewait_scrape_collector_success").desc(o),
	}
	e.SetExport(o.Export)
	o.current = &e.export
	e.opts = o
	for name, enabled := range collectorState {
		if !*enabled {
			continue
		}
		c, err := factories[name](o)
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", name, err)
		}
		e.collectors[name] = c
	}
	return e, nil
}

// Describe sends only the scrape descriptors: the collectors' metric sets
// depend on the host (IPv6, kernel version), so the exporter is unchecked
// the way node_exporter's is.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- e.duration.desc
	ch <- e.success.desc
}

// DefaultTimeout is the one default deadline of a scrape: Prometheus' own
// default scrape_timeout, which the HTTP handler takes for a client without
// X-Prometheus-Scrape-Timeout-Seconds, and Collect for a registry that
// brings no context.
const DefaultTimeout = 10 * time.Second

// Reader is the reader of the exporter's scopes, shared by its scrapes and
// the doctor's snapshots (main sets its netns filters at load and reload).
func (e *Exporter) Reader() *scan.Reader { return e.reader }

// Snapshots reads every scope a scrape covers once, for the doctor (see
// scan.Reader.Snapshots). It shares the reads left blocked with scrapes.
func (e *Exporter) Snapshots(ctx context.Context) []*scan.Snapshot {
	return e.reader.Snapshots(ctx)
}

// Collect implements prometheus.Collector for a registry that brings no
// context: the scrape's deadline is DefaultTimeout from now.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	e.CollectContext(ctx, ch)
}

// WithContext returns a prometheus.Collector whose scrapes honour ctx, so a
// handler can pass on Prometheus' scrape timeout; ctx must carry the
// scrape's deadline (see CollectContext).
func (e *Exporter) WithContext(ctx context.Context) prometheus.Collector {
	return contextCollector{e: e, ctx: ctx}
}

type contextCollector struct {
	e   *Exporter
	ctx context.Context
}

func (c contextCollector) Describe(ch chan<- *prometheus.Desc) { c.e.Describe(ch) }
func (c contextCollector) Collect(ch chan<- prometheus.Metric) { c.e.CollectContext(c.ctx, ch) }

// gather reads the sources of every collector in the exporter's own
// network namespace, or with DiscoverNetns in every namespace found (see
// gatherNetns), and records in p the samples of every reading that came
// in by ctx's deadline.
func (e *Exporter) gather(ctx context.Context, p *progress) {
	ch := make(chan prometheus.Metric)
	done := make(chan struct{})
	go func() {
		for m := range ch {
			p.add(m)
		}
		close(done)
	}()
	if e.opts.DiscoverNetns {
		e.gatherNetns(ctx, ch, p)
	} else {
		readings := e.reader.Read(ctx, e.request(e.opts.export()))
		e.convertAll(ctx, readings, p, func(rd scan.Reading) *nsDetail {
			p.expect(rd.Labels, e.collectorNames(), rd.Keys)
			return nil
		}, nil)
	}
	close(ch)
	<-done
}

// collectorNames are the enabled collectors, in the order their sources
// are read one after the other in a foreign namespace.
func (e *Exporter) collectorNames() []string { return slices.Sorted(maps.Keys(e.collectors)) }

// successValue is the success value of a collector's outcome, which it logs
// (blocked: err is a read left blocked). Failures are remembered per
// collector and scope (key), so one failing namespace does not make
// another's success look like a recovery.
func (e *Exporter) successValue(key string, err error, blocked bool) float64 {
	switch {
	case err == nil:
		e.errors.ok(key)
	case errors.Is(err, ErrNoData):
		e.opts.Logger.Debug("collector returned no data", "collector", key, "err", err)
	default:
		e.errors.failed(key, err, blocked)
		return 0
	}
	return 1
}

// errorLog logs a collector's failure once at error level and repeats of the
// same failure at debug level, so a host with a permanent problem (say, no
// permission on netlink) does not fill the log on every scrape. Recovery is
// logged at info.
type errorLog struct {
	logger   *slog.Logger
	mu       sync.Mutex
	last     map[string]string
	failedAt map[string]time.Time // the last failure of each key, within failureMemory
	pruned   time.Time            // when failedAt was last rid of older ones
}

func newErrorLog(l *slog.Logger) *errorLog {
	return &errorLog{logger: l, last: map[string]string{}, failedAt: map[string]time.Time{}, pruned: time.Now()}
}

// remember records a failure of key now, without logging it.
func (l *errorLog) remember(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rememberLocked(key)
}

// rememberLocked records a failure of key now, and once per failureMemory
// forgets the failures older than it (of namespaces long gone, say).
func (l *errorLog) rememberLocked(key string) {
	now := time.Now()
	l.failedAt[key] = now
	if now.Sub(l.pruned) < failureMemory {
		return
	}
	l.pruned = now
	for k, at := range l.failedAt {
		if now.Sub(at) >= failureMemory {
			delete(l.failedAt, k)
		}
	}
}

// failedWithinMemory reports whether key failed within failureMemory.
func (l *errorLog) failedWithinMemory(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.failedAt[key]
	return ok && time.Since(at) < failureMemory
}

// failed logs the failure err of key (blocked: a read left blocked).
func (l *errorLog) failed(key string, err error, blocked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rememberLocked(key)
	msg, class := err.Error(), failureClass(err, blocked)
	if l.last[key] == class {
		l.logger.Debug("collector still failing", "collector", key, "err", msg)
		return
	}
	l.last[key] = class
	l.logger.Error("collector failed", "collector", key, "err", msg)
}

// failureClass is what makes two failures of a collector the same one for
// the log: the error text, except that a read left blocked and the later
// scrapes that do not start it again are one failure.
func failureClass(err error, blocked bool) string {
	if blocked {
		return "still blocked"
	}
	return err.Error()
}

func (l *errorLog) ok(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, failing := l.last[key]; failing {
		delete(l.last, key)
		l.logger.Info("collector recovered", "collector", key)
	}
}

// typedDesc is a row's descriptor for one exporter.
type typedDesc struct {
	desc   *prometheus.Desc
	row    *Metric
	scoped bool // the scope's label values follow the row's own
}

// sample is a metric with its row, value and the row's own label values,
// which the detail filter reads (see nsDetail).
type sample struct {
	prometheus.Metric
	row    *Metric
	value  float64
	labels []string
}

// metric builds a sample for the scope labelled scope; labels are the
// row's own label values, the scope's are appended.
func (d typedDesc) metric(scope []string, value float64, labels ...string) prometheus.Metric {
	all := labels
	if d.scoped && len(scope) > 0 {
		all = append(labels[:len(labels):len(labels)], scope...)
	}
	return sample{prometheus.MustNewConstMetric(d.desc, d.row.Type, value, all...), d.row, value, labels}
}
