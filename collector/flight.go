// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
	"golang.org/x/sync/singleflight"
)

// progress is one scrape run as it goes, shared by the scrapes that joined
// it: the samples gathered so far and the collectors still out. A scrape
// that joined and reaches its own deadline before the run ends answers
// with what is there and reports the collectors still out as failed,
// rather than with no timewait_scrape_collector_success at all.
type progress struct {
	mu      sync.Mutex
	metrics []prometheus.Metric
	out     map[*kernel.Task]*kernel.Scope
}

func (p *progress) add(ms ...prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.metrics = append(p.metrics, ms...)
}

// expect records tasks now running in scope s.
func (p *progress) expect(s *kernel.Scope, ts []*kernel.Task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out == nil {
		p.out = map[*kernel.Task]*kernel.Scope{}
	}
	for _, t := range ts {
		p.out[t] = s
	}
}

// finish records the samples of task t, which is no longer out.
func (p *progress) finish(t *kernel.Task, ms ...prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.out, t)
	p.metrics = append(p.metrics, ms...)
}

// partial is what a joining scrape answers at its deadline: the samples so
// far, and duration and success 0 for each collector still out; keys names
// those for the log.
func (p *progress) partial(e *Exporter) (ms []prometheus.Metric, keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ms = append(ms, p.metrics...)
	for t, s := range p.out {
		ms = append(ms, e.taskMetrics(s, t, 0)...)
		keys = append(keys, t.Key())
	}
	return ms, keys
}

// CollectContext runs one scrape, or joins the one already running, and
// returns within ctx's deadline either way. The run's collectors honour
// the deadline of the scrape that started it: one still blocked then is
// left behind, reported failed. A scrape that joins keeps its own deadline:
// if that passes first, it answers with what the run has gathered so far
// and the collectors still running reported failed. Without a deadline in
// ctx, DefaultTimeout applies.
func (e *Exporter) CollectContext(ctx context.Context, ch chan<- prometheus.Metric) {
	ctx, cancel := kernel.WithDeadline(ctx)
	defer cancel()
	var started atomic.Bool // set only by the run this call starts
	res := e.flight.DoChan("scrape", func() (any, error) {
		started.Store(true)
		p := &progress{}
		e.running.Store(p)
		defer e.running.CompareAndSwap(p, nil)
		return e.gather(ctx, p), nil
	})
	var ms []prometheus.Metric
	select {
	case r := <-res:
		ms = r.Val.([]prometheus.Metric)
	case <-ctx.Done():
		ms = e.joinedPastDeadline(ctx, res, &started)
	}
	for _, m := range ms {
		ch <- m
	}
}

// joinedPastDeadline is CollectContext once ctx has ended before the run.
func (e *Exporter) joinedPastDeadline(ctx context.Context, res <-chan singleflight.Result, started *atomic.Bool) []prometheus.Metric {
	select {
	case r := <-res:
		return r.Val.([]prometheus.Metric)
	default:
	}
	p := e.running.Load()
	if p == nil || started.Load() {
		// This call's own run (its collectors stop at this deadline
		// too), or one not yet under way: wait for it.
		return (<-res).Val.([]prometheus.Metric)
	}
	ms, keys := p.partial(e)
	e.opts.Logger.Warn("scrape deadline passed while waiting for the scrape already in progress; its collectors still running are reported failed",
		"err", ctx.Err(), "collectors", keys)
	return ms
}
