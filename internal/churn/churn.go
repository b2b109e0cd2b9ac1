// SPDX-License-Identifier: Apache-2.0

// Package churn estimates how fast a flow closes connections, and in what
// shape, from the ages of its TIME_WAIT sockets in one sock_diag dump.
//
// The side that closes a connection first keeps it in TIME_WAIT for a
// fixed TCP_TIMEWAIT_LEN (60 s): tcp_time_wait() in
// net/ipv4/tcp_minisocks.c arms the timer with it, and sock_diag reports
// the time left as idiag_expires (inet_twsk_diag_fill() in
// net/ipv4/inet_diag.c). So age = 60 s − expires, and the TIME_WAIT
// sockets of a flow are the connections it closed in the last minute, each
// stamped with when. The estimates are lower bounds where tcp_tw_reuse
// applies: connect() takes over TIME_WAIT sockets before their 60 s
// (tcp_twsk_unique() in net/ipv4/tcp_ipv4.c, counted in TcpExt
// TWRecycled), and those closes are not seen. No correction is made.
package churn

import (
	"math"
	"slices"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// Numbers the estimates rest on.
const (
	// MinWindow is the shortest window a rate is given over: a single
	// close a few milliseconds old is no rate.
	MinWindow = time.Second
	// GrowthSpan is the span compared at both ends of the minute to tell
	// whether the flow's TIME_WAIT count is rising now.
	GrowthSpan = 10 * time.Second
	// minShapeCloses are the closes needed to tell steady from burst.
	minShapeCloses = 30
	// binMean is the mean closes per bin the shape is measured with, so
	// a steady flow's bins are not mostly empty at low rates.
	binMean = 10
	// minBins is the fewest bins a window is cut into.
	minBins = 6
	// burstShare: half of the closes within this share of the window is
	// a burst; a steady flow needs about half of it.
	burstShare = 0.25
)

// Shape tells a flow that closes connections at an even pace from one
// that closes them in bursts.
type Shape string

// Shapes.
const (
	Steady Shape = "steady"
	Burst  Shape = "burst"
	// TooFew: fewer than minShapeCloses closes, no shape can be told.
	TooFew Shape = "too_few_to_tell"
)

// Estimate is what the ages of one flow's TIME_WAIT sockets tell.
type Estimate struct {
	Closes int // TIME_WAIT sockets counted
	// Window is what the ages cover: the age of the oldest, at least
	// MinWindow and at most model.TimeWaitLen. A flow closing connections for
	// a minute or more has the full 60 s; a younger one, or a burst, a
	// shorter window.
	Window    time.Duration
	PerSecond float64 // Closes / Window
	Shape     Shape
	// HalfWithin is the time the busiest bins of the window take to
	// hold half of the closes: about Window/2 for a steady flow, a bin
	// or a few for bursts.
	HalfWithin time.Duration
	// Recent are the closes of the last GrowthSpan; Expiring are the
	// TIME_WAIT sockets whose timer fires within the next GrowthSpan.
	Recent, Expiring int
}

// Estimated reports the closes of a flow whose TIME_WAIT sockets have
// these ages.
func Estimated(ages []time.Duration) Estimate {
	e := Estimate{Closes: len(ages), Shape: TooFew}
	if len(ages) == 0 {
		return e
	}
	oldest := slices.Max(ages)
	e.Window = min(max(oldest, MinWindow), model.TimeWaitLen)
	e.PerSecond = float64(e.Closes) / e.Window.Seconds()
	for _, a := range ages {
		if a < GrowthSpan {
			e.Recent++
		}
		if a >= model.TimeWaitLen-GrowthSpan {
			e.Expiring++
		}
	}
	e.HalfWithin = halfWithin(ages, e.Window)
	if e.Closes >= minShapeCloses {
		e.Shape = Steady
		if e.HalfWithin.Seconds() <= burstShare*e.Window.Seconds() {
			e.Shape = Burst
		}
	}
	return e
}

// halfWithin cuts window into bins of about binMean closes each (at least
// a second, at least minBins of them) and returns the time the busiest
// bins take to hold half of the closes.
func halfWithin(ages []time.Duration, window time.Duration) time.Duration {
	bin := time.Duration(float64(window) * binMean / float64(len(ages)))
	bin = min(max(bin, time.Second), window/minBins)
	if bin <= 0 {
		return window
	}
	counts := make([]int, int(math.Ceil(float64(window)/float64(bin))))
	for _, a := range ages {
		i := min(int(a/bin), len(counts)-1)
		counts[i]++
	}
	slices.SortFunc(counts, func(a, b int) int { return b - a })
	held := 0
	for k, c := range counts {
		held += c
		if 2*held >= len(ages) {
			return min(time.Duration(k+1)*bin, window)
		}
	}
	return window
}

// Rising reports whether the flow's TIME_WAIT count is growing now: more
// closes in the last GrowthSpan than timers firing in the next, by more
// than two standard deviations of the counts (taken as Poisson), so a
// steady flow's noise is not called a rise.
func (e Estimate) Rising() bool {
	d := float64(e.Recent - e.Expiring)
	return d > 0 && d > 2*math.Sqrt(float64(e.Recent+e.Expiring))
}

// GrowthPerSecond is how fast the flow's TIME_WAIT count grows now.
func (e Estimate) GrowthPerSecond() float64 {
	return float64(e.Recent-e.Expiring) / GrowthSpan.Seconds()
}

// SecondsToExhaustion is the time left until a flow holding held of the
// capacity ports connect() can use for it holds them all, if its
// TIME_WAIT count keeps growing as now; ok is false when it is not rising.
func (e Estimate) SecondsToExhaustion(held, capacity uint64) (seconds float64, ok bool) {
	if !e.Rising() {
		return 0, false
	}
	if held >= capacity {
		return 0, true
	}
	return float64(capacity-held) / e.GrowthPerSecond(), true
}
