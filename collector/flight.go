// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// progress is one scrape run as it goes, shared by the scrapes that joined
// it: the samples gathered so far and the collectors still out. A scrape
// that joined and reaches its own deadline before the run ends answers
// with what is there and reports the collectors still out as failed,
// rather than with no timewait_scrape_collector_success at all.
type progress struct {
	mu      sync.Mutex
	metrics []prometheus.Metric
	tasks   map[string]expected // every collector of the run, by key
	out     map[string]bool
	first   time.Time // when the first samples came in; zero before
}

// expected is one collector of a run in one scope.
type expected struct {
	scope []string // its labels
	name  string
	since time.Time
}

func (p *progress) add(ms ...prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record(ms)
}

// record appends ms; p.mu is held.
func (p *progress) record(ms []prometheus.Metric) {
	if p.first.IsZero() {
		p.first = time.Now()
	}
	p.metrics = append(p.metrics, ms...)
}

// expect records the collectors names, whose sources are now being read
// in the scope labelled s, by keys.
func (p *progress) expect(s []string, names, keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		p.tasks, p.out = map[string]expected{}, map[string]bool{}
	}
	now := time.Now()
	for i, key := range keys {
		p.tasks[key], p.out[key] = expected{s, names[i], now}, true
	}
}

// finish records the samples of the collector key, no longer out.
func (p *progress) finish(key string, ms ...prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.out, key)
	p.record(ms)
}

// freshFor reports whether every sample of the run came in at or after
// start, so a scrape that started then may serve them.
func (p *progress) freshFor(start time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first.IsZero() || !p.first.Before(start)
}

// failedMetrics are the duration (since its source's read began) and
// success 0 of collector x.
func (e *Exporter) failedMetrics(x expected) []prometheus.Metric {
	return e.taskMetrics(x.scope, x.name, time.Since(x.since), 0)
}

// failed is what a scrape answers when the run holds only samples older
// than the scrape: duration and success 0 for each of its collectors.
func (p *progress) failed(e *Exporter) []prometheus.Metric {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ms []prometheus.Metric
	for _, x := range p.tasks {
		ms = append(ms, e.failedMetrics(x)...)
	}
	return ms
}

// partial is what a joining scrape answers at its deadline: the samples so
// far, and duration and success 0 for each collector still out; keys names
// those for the log.
func (p *progress) partial(e *Exporter) (ms []prometheus.Metric, keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ms = append(ms, p.metrics...)
	for key := range p.out {
		ms = append(ms, e.failedMetrics(p.tasks[key])...)
		keys = append(keys, key)
	}
	return ms, keys
}

// CollectContext runs one scrape, or joins the one already running, and
// returns within ctx's deadline either way. The run's collectors honour
// the deadline of the scrape that started it: one still blocked then is
// left behind, reported failed. A scrape that joins keeps its own deadline:
// if that passes first, it answers with what the run has gathered so far
// and the collectors still running reported failed. ctx carries the
// scrape's deadline, set once by the caller (the HTTP handler, or Collect):
// nothing below sets another.
//
// A scrape never serves samples read before it started: a run that had
// some when the scrape joined is waited out, and the next one (which starts
// after it) is joined instead; if the deadline comes first, every
// collector of the old run is reported failed rather than its old values.
func (e *Exporter) CollectContext(ctx context.Context, ch chan<- prometheus.Metric) {
	start := time.Now()
	for _, m := range e.collectFresh(ctx, start) {
		ch <- m
	}
}

// run is one scrape run, shared by the scrapes that join it.
type run struct {
	p    *progress
	done chan struct{} // closed once the run has ended
}

// join returns the run in flight, or starts one whose reads honour ctx's
// deadline; started says whether this call started it.
func (e *Exporter) join(ctx context.Context) (r *run, started bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.current != nil {
		return e.current, false
	}
	r = &run{p: &progress{}, done: make(chan struct{})}
	e.current = r
	go func() {
		e.gather(ctx, r.p)
		e.mu.Lock()
		e.current = nil
		e.mu.Unlock()
		close(r.done)
	}()
	return r, true
}

// collectFresh is CollectContext's samples, all read after start.
func (e *Exporter) collectFresh(ctx context.Context, start time.Time) []prometheus.Metric {
	for {
		r, started := e.join(ctx)
		select {
		case <-r.done:
			if r.p.freshFor(start) {
				ms, _ := r.p.partial(e) // nothing is out any more
				return ms
			}
		case <-ctx.Done():
			return e.joinedPastDeadline(ctx, r, started, start)
		}
	}
}

// joinedPastDeadline is collectFresh once ctx has ended before run r.
func (e *Exporter) joinedPastDeadline(ctx context.Context, r *run, started bool, start time.Time) []prometheus.Metric {
	if started {
		// This call's own run: its reads stop at this deadline too.
		<-r.done
	}
	p := r.p
	if !p.freshFor(start) {
		e.opts.Logger.Warn("scrape deadline passed while waiting for a scrape that began before it; its collectors are reported failed rather than with older values",
			"err", ctx.Err())
		return p.failed(e)
	}
	ms, keys := p.partial(e)
	if len(keys) > 0 {
		e.opts.Logger.Warn("scrape deadline passed while waiting for the scrape already in progress; its collectors still running are reported failed",
			"err", ctx.Err(), "collectors", keys)
	}
	return ms
}
