// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// requester is a collector that says how its source is read.
type requester interface {
	request(req *scan.Request)
}

// request is what a scrape reads under configuration cfg.
func (e *Exporter) request(cfg *Export) scan.Request {
	req := scan.Request{Sources: e.collectorNames(), DumpBusy: cfg.DumpBusy && !e.opts.BoundInactive,
		Warning: cfg.UtilizationWarning, Detail: cfg.NetnsDetail}
	for _, c := range e.collectors {
		if r, ok := c.(requester); ok {
			r.request(&req)
		}
	}
	return req
}

// convertAll turns the readings of a scrape into samples in p, each on a
// goroutine of its own (an idle namespace's samples wait for the own
// namespace's, see hostSamples). visit takes each namespace's visit (a
// reading of no source) and returns its detail, nil for the own namespace
// or one not entered; host keeps the own namespace's samples (nil without
// --netns.discover).
func (e *Exporter) convertAll(ctx context.Context, readings <-chan scan.Reading, p *progress, visit func(scan.Reading) *nsDetail, host *hostSamples) {
	var wg sync.WaitGroup
	details := map[int]*nsDetail{} // by scope index
	for rd := range readings {
		if rd.Source == "" {
			details[rd.Index] = visit(rd)
			continue
		}
		d := details[rd.Index]
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.convert(ctx, rd, p, d, host)
		}()
	}
	wg.Wait()
}

// convert records in p the samples of one reading, in a namespace of
// detail d (nil: the own namespace), and its collector's duration (the
// read's time) and success (no error reading or converting it). The
// duration and success of an idle namespace are left out unless the
// collector failed within failureMemory.
func (e *Exporter) convert(ctx context.Context, rd scan.Reading, p *progress, d *nsDetail, host *hostSamples) {
	ms, err := collect(e.collectors[rd.Source], &rd)
	if d != nil {
		ms = d.keep(ctx, &rd, ms)
	} else {
		host.record(rd.Source, ms)
	}
	success := e.successValue(rd.Key, errors.Join(rd.Err, err), rd.Blocked)
	if d == nil || rd.Full || e.errors.failedWithinMemory(rd.Key) {
		ms = append(ms, e.taskMetrics(rd.Labels, rd.Source, rd.Took, success)...)
	}
	p.finish(rd.Key, ms...)
}

// taskMetrics are a collector's duration and success samples, labelled for
// the scope labelled scope.
func (e *Exporter) taskMetrics(scope []string, name string, took time.Duration, success float64) []prometheus.Metric {
	return []prometheus.Metric{e.duration.metric(scope, took.Seconds(), name), e.success.metric(scope, success, name)}
}

// collect turns reading rd into c's samples and returns them.
func collect(c Collector, rd *scan.Reading) ([]prometheus.Metric, error) {
	ch := make(chan prometheus.Metric)
	done := make(chan []prometheus.Metric)
	go func() {
		var ms []prometheus.Metric
		for m := range ch {
			ms = append(ms, m)
		}
		done <- ms
	}()
	err := c.Update(rd, ch)
	close(ch)
	return <-done, err
}
