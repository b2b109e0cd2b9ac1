// Package collector gathers TIME_WAIT and ephemeral-port data on every
// scrape, the node_exporter way: one collector per source file, run in
// parallel, each timed and reported with a success gauge.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/config"
	"golang.org/x/sync/singleflight"
)

const namespace = "timewait"

// ErrNoData tells the runner a collector had nothing to report this time,
// which is not a failure (e.g. an optional kernel feature is absent).
var ErrNoData = errors.New("collector returned no data")

// Collector reads one source and sends its metrics for one scope (a network
// namespace) to ch. Update must do its I/O (netlink sockets, /proc/sys) on
// the calling goroutine: with --netns.discover it runs on an OS thread that
// has entered the scope's namespace, and another goroutine would read the
// exporter's own namespace instead.
type Collector interface {
	Update(s *Scope, ch chan<- prometheus.Metric) error
}

// Options are shared by every collector of an exporter.
type Options struct {
	Logger *slog.Logger
	// ProcPath is the procfs mount point (--path.procfs).
	ProcPath string
	// Config returns the current configuration; it is called on every
	// scrape so that a reload takes effect at once.
	Config func() *config.Config
	// ScopeLabels are label names every per-namespace metric carries (e.g.
	// "netns" when namespaces are discovered); each Scope supplies values.
	ScopeLabels []string
	// DiscoverNetns visits every network namespace of the host on each
	// scrape (--netns.discover); ScopeLabels must then be [NetnsLabel].
	DiscoverNetns bool
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
	duration   typedDesc
	success    typedDesc
	flight     singleflight.Group
	errors     *errorLog
}

// New builds an Exporter from the collectors enabled by flags.
func New(o Options) (*Exporter, error) {
	if o.DiscoverNetns && !slices.Equal(o.ScopeLabels, []string{NetnsLabel}) {
		return nil, fmt.Errorf("namespace discovery needs ScopeLabels [%q], got %q", NetnsLabel, o.ScopeLabels)
	}
	e := &Exporter{
		collectors: map[string]Collector{},
		opts:       o,
		errors:     newErrorLog(o.Logger),
		duration: newDesc(o, "scrape", "collector_duration_seconds",
			"Time a collector took to read its source during this scrape.", prometheus.GaugeValue, "collector"),
		success: newDesc(o, "scrape", "collector_success",
			"1 if the collector read its source without error during this scrape, 0 if it failed (see the exporter's log).",
			prometheus.GaugeValue, "collector"),
	}
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

// Collect implements prometheus.Collector without a deadline.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.CollectContext(context.Background(), ch)
}

// WithContext returns a prometheus.Collector whose scrapes honour ctx, so a
// handler can pass on Prometheus' scrape timeout.
func (e *Exporter) WithContext(ctx context.Context) prometheus.Collector {
	return contextCollector{e: e, ctx: ctx}
}

type contextCollector struct {
	e   *Exporter
	ctx context.Context
}

func (c contextCollector) Describe(ch chan<- *prometheus.Desc) { c.e.Describe(ch) }
func (c contextCollector) Collect(ch chan<- prometheus.Metric) { c.e.CollectContext(c.ctx, ch) }

// CollectContext runs one scrape, or joins the one already running. A
// scrape that joins keeps its own deadline: if it passes before the shared
// run ends (that run was started with a later one), it returns without the
// exporter's metrics rather than outlive its Prometheus scrape timeout. The
// scrape that started the run waits for it: its collectors honour the same
// deadline, so it ends promptly with the failed ones marked.
func (e *Exporter) CollectContext(ctx context.Context, ch chan<- prometheus.Metric) {
	var started atomic.Bool
	res := e.flight.DoChan("scrape", func() (any, error) {
		started.Store(true)
		return e.gather(ctx), nil
	})
	var r singleflight.Result
	select {
	case r = <-res:
	case <-ctx.Done():
		if !started.Load() {
			e.opts.Logger.Warn("scrape deadline passed while waiting for the scrape already in progress", "err", ctx.Err())
			return
		}
		r = <-res
	}
	for _, m := range r.Val.([]prometheus.Metric) {
		ch <- m
	}
}

// gather runs every collector in the exporter's own network namespace, or
// with DiscoverNetns in every namespace found (see gatherNetns), and
// returns everything they produced.
func (e *Exporter) gather(ctx context.Context) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	done := make(chan []prometheus.Metric)
	go func() {
		var ms []prometheus.Metric
		for m := range ch {
			ms = append(ms, m)
		}
		done <- ms
	}()
	if e.opts.DiscoverNetns {
		e.gatherNetns(ctx, ch)
	} else {
		e.gatherScope(OwnScope(ctx, e.opts.ProcPath), ch)
	}
	close(ch)
	return <-done
}

// gatherScope runs every collector in parallel in scope s, which must not
// depend on the calling thread (the own namespace).
func (e *Exporter) gatherScope(s *Scope, ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for name, c := range e.collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runCollector(name, c, s, ch)
		}()
	}
	wg.Wait()
}

// runCollector runs one collector and reports its duration and success.
func (e *Exporter) runCollector(name string, c Collector, s *Scope, ch chan<- prometheus.Metric) {
	start := time.Now()
	err := c.Update(s, ch)
	success := 1.0
	// Failures are remembered per collector and scope, so one failing
	// namespace does not make another's success look like a recovery.
	key := strings.Join(append([]string{name}, s.LabelValues...), " netns=")
	switch {
	case err == nil:
		e.errors.ok(key)
	case errors.Is(err, ErrNoData):
		e.opts.Logger.Debug("collector returned no data", "collector", key, "err", err)
	default:
		success = 0
		e.errors.failed(key, err)
	}
	ch <- e.duration.metric(s, time.Since(start).Seconds(), name)
	ch <- e.success.metric(s, success, name)
}

// errorLog logs a collector's failure once at error level and repeats of the
// same failure at debug level, so a host with a permanent problem (say, no
// permission on netlink) does not fill the log on every scrape. Recovery is
// logged at info.
type errorLog struct {
	logger *slog.Logger
	mu     sync.Mutex
	last   map[string]string
}

func newErrorLog(l *slog.Logger) *errorLog { return &errorLog{logger: l, last: map[string]string{}} }

func (l *errorLog) failed(key string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := err.Error()
	if l.last[key] == msg {
		l.logger.Debug("collector still failing", "collector", key, "err", msg)
		return
	}
	l.last[key] = msg
	l.logger.Error("collector failed", "collector", key, "err", msg)
}

func (l *errorLog) ok(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, failing := l.last[key]; failing {
		delete(l.last, key)
		l.logger.Info("collector recovered", "collector", key)
	}
}

// typedDesc pairs a descriptor with its value type.
type typedDesc struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
}

// newDesc builds a descriptor whose labels are the given ones followed by
// the scope labels of o.
func newDesc(o Options, subsystem, name, help string, vt prometheus.ValueType, labels ...string) typedDesc {
	all := append(labels[:len(labels):len(labels)], o.ScopeLabels...)
	return typedDesc{
		desc:      prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, all, nil),
		valueType: vt,
	}
}

// metric builds a sample for scope s; labels are the descriptor's own label
// values, the scope's are appended.
func (d typedDesc) metric(s *Scope, value float64, labels ...string) prometheus.Metric {
	if len(s.LabelValues) > 0 {
		labels = append(labels[:len(labels):len(labels)], s.LabelValues...)
	}
	return prometheus.MustNewConstMetric(d.desc, d.valueType, value, labels...)
}
