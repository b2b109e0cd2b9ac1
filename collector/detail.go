// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// failureMemory is how long after a failure an idle namespace still
// reports the collector's success and duration: longer than the window of
// TimeWaitExporterCollectorFailing (10m), so a collector failing once in a
// while keeps one series whose avg_over_time says how often.
const failureMemory = time.Hour

// nsDetail is how much a scrape exports of a foreign namespace: every
// series of a reading at full detail (netns.detail names it, netns.dump is
// all, --collector.sockets.bound-inactive, or its counts could reach the
// utilisation warning: package scan decides, see scan.Request), else, in
// an idle one, only the rows whose Detail admits it.
type nsDetail struct {
	host *hostSamples
}

// keep is ms, converted from reading rd, without the samples that the
// namespace's detail leaves out.
func (d *nsDetail) keep(ctx context.Context, rd *scan.Reading, ms []prometheus.Metric) []prometheus.Metric {
	full := !rd.Idle
	out := ms[:0]
	for _, m := range ms {
		if sm, ok := m.(sample); !ok || d.keeps(ctx, full, sm) {
			out = append(out, m)
		}
	}
	return out
}

func (d *nsDetail) keeps(ctx context.Context, full bool, sm sample) bool {
	switch sm.row.Detail {
	case Own:
		return false
	case NonZero:
		return full || sm.value != 0
	case Differs:
		return full || d.host.differs(ctx, sm)
	case Full:
		return full
	}
	return true
}

// hostSamples are the own namespace's samples of Differs rows, by
// collector, which an idle namespace's are compared with.
type hostSamples struct {
	mu     sync.Mutex
	done   map[string]chan struct{} // closed when the own namespace's collector has run
	gaveUp map[string]bool          // its collector did not run in time: keep every sample
	vals   map[string]float64
}

func newHostSamples(collectors []string) *hostSamples {
	h := &hostSamples{done: map[string]chan struct{}{}, gaveUp: map[string]bool{}, vals: map[string]float64{}}
	for _, c := range collectors {
		h.done[c] = make(chan struct{})
	}
	return h
}

func sampleKey(sm sample) string { return sm.row.Name + "\xff" + strings.Join(sm.labels, "\xff") }

// record stores what the own namespace's collector sent (nil h: without
// --netns.discover, nothing to compare).
func (h *hostSamples) record(collector string, ms []prometheus.Metric) {
	if h == nil {
		return
	}
	h.mu.Lock()
	for _, m := range ms {
		if sm, ok := m.(sample); ok && sm.row.Detail == Differs {
			h.vals[sampleKey(sm)] = sm.value
		}
	}
	h.mu.Unlock()
	close(h.done[collector])
}

// hostPatience bounds how long an idle namespace waits for the own
// namespace's collector, which runs at the same time and takes
// microseconds when healthy.
const hostPatience = time.Second

// differs reports whether sm differs from the own namespace's sample, or
// cannot be compared with it in time (the scrape's ctx).
func (h *hostSamples) differs(ctx context.Context, sm sample) bool {
	c := sm.row.Collector
	h.mu.Lock()
	gaveUp := h.gaveUp[c]
	h.mu.Unlock()
	if gaveUp {
		return true
	}
	if !h.ran(ctx, c) {
		h.mu.Lock()
		h.gaveUp[c] = true
		h.mu.Unlock()
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.vals[sampleKey(sm)]
	return !ok || v != sm.value
}

// ran reports whether the own namespace's collector c ran within
// hostPatience, and at most half of the time the scrape ctx has left, so
// that an idle namespace's samples still make the scrape.
func (h *hostSamples) ran(ctx context.Context, c string) bool {
	return scan.WaitBriefly(ctx, h.done[c], hostPatience)
}
