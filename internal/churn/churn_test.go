// SPDX-License-Identifier: Apache-2.0

package churn

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// steady returns the ages of a flow closing rate connections per second
// for the last span, evenly.
func steady(rate float64, span time.Duration) []time.Duration {
	n := int(rate * span.Seconds())
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(float64(i) / rate * float64(time.Second))
	}
	return out
}

// poisson returns the ages of a flow closing rate connections per second
// at random for the last span.
func poisson(rate float64, span time.Duration, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []time.Duration
	for t := r.ExpFloat64() / rate; t < span.Seconds(); t += r.ExpFloat64() / rate {
		out = append(out, time.Duration(t*float64(time.Second)))
	}
	return out
}

// bursts returns the ages of n closes at once, every period, the last at
// age first, count bursts in all.
func bursts(n, count int, first, period time.Duration) []time.Duration {
	var out []time.Duration
	for b := range count {
		at := first + time.Duration(b)*period
		for i := range n {
			out = append(out, at+time.Duration(i)*time.Millisecond)
		}
	}
	return out
}

func TestEstimated(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ages       []time.Duration
		window     time.Duration
		rate       float64
		tol        float64 // relative
		shape      Shape
		rising     bool
		recent     int
		expiringGT int // Expiring above this
	}{
		{"none", nil, 0, 0, 0, TooFew, false, 0, -1},
		{"one close, fresh: the window is at least a second", []time.Duration{5 * time.Millisecond}, time.Second, 1, 0.02, TooFew, false, 1, -1},
		{"steady 50/s for 15 s: rate over 15 s", steady(50, 15*time.Second), 15 * time.Second, 50, 0.02, Steady, true, 500, -1},
		{"steady 50/s for a minute: full window, flat", steady(50, model.TimeWaitLen), model.TimeWaitLen, 50, 0.02, Steady, false, 500, 400},
		{"random 2/s for a minute", poisson(2, model.TimeWaitLen, 7), 0, 2, 0.15, Steady, false, -1, -1},
		{"random 0.8/s for a minute", poisson(0.8, model.TimeWaitLen, 3), 0, 0.8, 0.25, Steady, false, -1, -1},
		{"150 at once every 4 s, 4 bursts", bursts(150, 4, 500*time.Millisecond, 4*time.Second), 12649 * time.Millisecond, 600 / 12.649, 0.02, Burst, true, 450, -1},
		{"one burst of 1000, 30 s ago: over 30 s", bursts(1000, 1, 30*time.Second, 0), 30999 * time.Millisecond, 1000 / 30.999, 0.02, Burst, false, 0, -1},
		{"29 closes: too few for a shape, young so rising", steady(1, 29*time.Second), 28 * time.Second, 29.0 / 28, 0.02, TooFew, true, 10, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Estimated(tc.ages)
			if e.Closes != len(tc.ages) {
				t.Errorf("closes %d, want %d", e.Closes, len(tc.ages))
			}
			if tc.window != 0 && (e.Window-tc.window).Abs() > 50*time.Millisecond {
				t.Errorf("window %v, want %v", e.Window, tc.window)
			}
			if math.Abs(e.PerSecond-tc.rate) > tc.tol*tc.rate+1e-9 {
				t.Errorf("rate %.3f/s, want %.3f/s", e.PerSecond, tc.rate)
			}
			if e.Shape != tc.shape {
				t.Errorf("shape %s (half within %v of %v), want %s", e.Shape, e.HalfWithin, e.Window, tc.shape)
			}
			if e.Rising() != tc.rising {
				t.Errorf("rising %v (recent %d, expiring %d), want %v", e.Rising(), e.Recent, e.Expiring, tc.rising)
			}
			if tc.recent >= 0 && e.Recent != tc.recent {
				t.Errorf("recent %d, want %d", e.Recent, tc.recent)
			}
			if e.Expiring <= tc.expiringGT {
				t.Errorf("expiring %d, want above %d", e.Expiring, tc.expiringGT)
			}
		})
	}
}

// Random steady flows must not be called bursts, whatever the seed.
func TestSteadyNotBurst(t *testing.T) {
	for seed := range uint64(200) {
		for _, rate := range []float64{1, 5, 50} {
			if e := Estimated(poisson(rate, 20*time.Second, seed)); e.Shape == Burst {
				t.Fatalf("seed %d, %v/s: burst (half within %v of %v)", seed, rate, e.HalfWithin, e.Window)
			}
		}
	}
}

func TestSecondsToExhaustion(t *testing.T) {
	young := Estimated(steady(50, 15*time.Second)) // 500 in the last 10 s, none expiring
	if s, ok := young.SecondsToExhaustion(750, 28232); !ok || math.Abs(s-(28232-750)/50.0) > 1 {
		t.Errorf("young flow: %v s, %v; want %v s", s, ok, (28232-750)/50.0)
	}
	if s, ok := young.SecondsToExhaustion(30000, 28232); !ok || s != 0 {
		t.Errorf("already full: %v s, %v; want 0, true", s, ok)
	}
	flat := Estimated(steady(50, model.TimeWaitLen))
	if _, ok := flat.SecondsToExhaustion(3000, 28232); ok {
		t.Error("a flow at its steady level is not rising")
	}
}
