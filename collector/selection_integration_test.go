// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

// TestPressurePooledDestinationExported: a pooled client (connections held
// ESTABLISHED, no TIME_WAIT) with a higher ratio than eleven TIME_WAIT-heavy
// destinations is exported with top_n 10, and its ratio is the max ratio.
// With selection by TIME_WAIT alone it ranked twelfth and had no series.
func TestPressurePooledDestinationExported(t *testing.T) {
	nstest.Require(t)
	const lo, hi, usable = 58000, 58999, 1000
	const pooledConns = 60
	setSysctl(t, "net.ipv4.ip_local_port_range", fmt.Sprintf("%d %d", lo, hi))
	heavy := listen(t, lo4, twgen.Ports(27000, 11)...)
	pooled := listen(t, lo4, 27100)[0]
	for i, d := range heavy {
		dial(t, []netip.AddrPort{d}, 20+2*i, twgen.ClientCloses) // 20..40 TIME_WAIT
	}
	holdOpen(t, pooled, pooledConns)
	time.Sleep(100 * time.Millisecond)

	kernel := func(dst netip.AddrPort) (held, tw int) {
		for _, s := range ss(t, "dst", dst.String()) {
			if inRange(lo, hi)(s) {
				held++
				if s.State == "TIME-WAIT" {
					tw++
				}
			}
		}
		return held, tw
	}
	pooledHeld, pooledTW := kernel(pooled)
	if pooledHeld != pooledConns || pooledTW != 0 {
		t.Fatalf("setup: ss sees %d sockets (%d TIME_WAIT) towards the pool %s", pooledHeld, pooledTW, pooled)
	}
	least, leastTW := heavy[0], -1
	for _, d := range heavy {
		held, tw := kernel(d)
		if tw < 18 || held >= pooledHeld {
			t.Fatalf("setup: %s has %d TIME_WAIT and %d sockets in all; want many, and fewer than the pool's %d", d, tw, held, pooledHeld)
		}
		if leastTW < 0 || tw < leastTW {
			least, leastTW = d, tw
		}
	}

	e := newTestExporter(t, "/proc", mustConfig(t, "top_n: 10\n"))
	ms := scrape(t, e)
	ratioKey := destKey("timewait_destination_ephemeral_port_utilization_ratio", pooled.String(), "")
	ratio, ok := ms[ratioKey]
	maxRatio := mustValue(t, ms, "timewait_ephemeral_port_utilization_max_ratio")
	t.Logf("pool %s: %d established, ratio %v (exported: %v), max ratio %v; busiest TIME_WAIT destination's ratio %v",
		pooled, pooledHeld, ratio, ok, maxRatio, ms[destKey("timewait_destination_ephemeral_port_utilization_ratio", heavy[10].String(), "")])
	if !ok {
		t.Fatalf("the destination with the highest ratio, %s, is not exported", pooled)
	}
	if want := float64(pooledHeld) / usable; ratio != want {
		t.Errorf("ratio towards the pool %v, ss %d/%d = %v", ratio, pooledHeld, usable, want)
	}
	if maxRatio != ratio {
		t.Errorf("max ratio %v, the pool's %v", maxRatio, ratio)
	}
	if got := mustValue(t, ms, destKey("timewait_destination_time_wait_sockets", pooled.String(), "")); got != 0 {
		t.Errorf("TIME_WAIT towards the pool %v, want 0", got)
	}
	// The ten with the most TIME_WAIT are exported too; the eleventh, with
	// the least TIME_WAIT and the lowest ratio, is the one left out.
	if n := len(series(ms, "timewait_destination_time_wait_sockets")); n != 11 {
		t.Errorf("%d destination series, want 11 (the top 10 by TIME_WAIT and by ratio overlap in 9)", n)
	}
	if _, ok := ms[destKey("timewait_destination_time_wait_sockets", least.String(), "")]; ok {
		t.Errorf("%s (%d TIME_WAIT, the least) exported", least, leastTW)
	}
	if got := mustValue(t, ms, `timewait_pressure_series_dropped{kind="destination"}`); got != 1 {
		t.Errorf("dropped destinations %v, want 1", got)
	}
}
