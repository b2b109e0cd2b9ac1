// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// selectRanked ranks all as the model's Summary does (a copy sorted by
// ByTimeWait, and its UtilizationOrder) and selects from it.
func selectRanked(all []model.Destination, cfg *Export) ([]model.Destination, int) {
	all = slices.Clone(all)
	slices.SortFunc(all, model.ByTimeWait)
	return selectDestinations(all, model.UtilizationOrder(all), cfg)
}

func selCfg(topN int, named ...string) Export {
	c := config.Default().Export()
	c.TopN = topN
	for _, addr := range named {
		c.Destinations[netip.MustParseAddrPort(addr)] = "n" + addr
	}
	return c
}

// TestSelectDestinationsUnion: the exported destinations are the top_n by
// TIME_WAIT and the top_n by utilisation, and the configured ones.
func TestSelectDestinationsUnion(t *testing.T) {
	d := func(addr string, tw uint64, util float64) model.Destination {
		return model.Destination{Addr: netip.MustParseAddrPort(addr), TimeWait: tw, Utilization: util}
	}
	// In TIME_WAIT order, as the model gives them.
	all := []model.Destination{
		d("10.0.0.1:80", 50, 0.10),  // most TIME_WAIT
		d("10.0.0.2:80", 40, 0.05),  // second most TIME_WAIT, low ratio
		d("10.0.0.4:80", 30, 0.01),  // TIME_WAIT, reusable: ratio near 0
		d("10.0.0.5:80", 5, 0.30),   // second highest ratio
		d("10.0.0.3:443", 0, 0.60),  // pooled: highest ratio, no TIME_WAIT
		d("10.0.0.6:80", 0, 0.30),   // ties 10.0.0.5:80 on ratio, less TIME_WAIT
		d("10.0.0.7:80", 0, 0),      // idle
		d("[2001:db8::1]:80", 0, 0), // idle, sorts after every IPv4 address
	}
	tests := []struct {
		name        string
		cfg         Export
		want        []string
		wantDropped int
	}{
		{"top 1: the most TIME_WAIT and the highest ratio", selCfg(1),
			[]string{"10.0.0.1:80", "10.0.0.3:443"}, 6},
		{"top 2: disjoint rankings give 2 × top_n; a ratio tie goes to more TIME_WAIT", selCfg(2),
			[]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.5:80", "10.0.0.3:443"}, 4},
		{"top 3: disjoint again", selCfg(3),
			[]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.4:80", "10.0.0.3:443", "10.0.0.5:80", "10.0.0.6:80"}, 2},
		{"top 4: the rankings overlap in two, 6 exported", selCfg(4),
			[]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.4:80", "10.0.0.5:80", "10.0.0.3:443", "10.0.0.6:80"}, 2},
		{"top 7: idle destinations ordered by address", selCfg(7),
			[]string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.4:80", "10.0.0.5:80", "10.0.0.3:443", "10.0.0.6:80", "10.0.0.7:80"}, 1},
		{"a configured destination takes no slot in either ranking", selCfg(1, "10.0.0.3:443", "192.0.2.1:9"),
			[]string{"10.0.0.1:80", "n10.0.0.3:443", "10.0.0.5:80", "n192.0.2.1:9"}, 5},
		{"top 0: configured only", selCfg(0, "10.0.0.4:80"), []string{"n10.0.0.4:80"}, 7},
	}
	for _, tc := range tests {
		got, dropped := selectRanked(all, &tc.cfg)
		var names []string
		for _, g := range got {
			if g.Name != "" {
				names = append(names, g.Name)
			} else {
				names = append(names, g.Addr.String())
			}
		}
		slices.Sort(names)
		slices.Sort(tc.want)
		if !reflect.DeepEqual(names, tc.want) || dropped != tc.wantDropped {
			t.Errorf("%s: got %v dropped %d, want %v dropped %d", tc.name, names, dropped, tc.want, tc.wantDropped)
		}
	}
}

// TestSelectDestinationsRule checks the rule on random destinations by its
// definition rather than by a second implementation of it: an unconfigured
// destination is exported if and only if fewer than top_n others rank above
// it by TIME_WAIT or by utilisation; so at most 2 × top_n are; every
// configured one is, once; and the input order changes nothing.
func TestSelectDestinationsRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for round := range 500 {
		n := rng.IntN(40)
		all := make([]model.Destination, n)
		for i := range all {
			// Few distinct values, so that ties are common.
			all[i] = model.Destination{
				Addr:        netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)}), 80),
				TimeWait:    uint64(rng.IntN(5)) * 10,
				Utilization: float64(rng.IntN(5)) / 10,
			}
		}
		topN := rng.IntN(6)
		var named []string
		for i := range all {
			if rng.IntN(8) == 0 {
				named = append(named, all[i].Addr.String())
			}
		}
		named = append(named, "192.0.2.1:9") // never seen
		cfg := selCfg(topN, named...)
		got, dropped := selectRanked(all, &cfg)
		what := fmt.Sprintf("round %d, top_n %d, %d destinations, %d configured", round, topN, n, len(named))
		checkSelection(t, what, all, cfg, got, dropped)

		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		again, _ := selectRanked(all, &cfg)
		if !reflect.DeepEqual(addrSet(again), addrSet(got)) {
			t.Fatalf("%s: another input order selects %v, not %v", what, addrSet(again), addrSet(got))
		}
	}
}

func checkSelection(t *testing.T, what string, all []model.Destination, cfg Export, got []model.Destination, dropped int) {
	t.Helper()
	named := map[netip.AddrPort]bool{}
	for addr := range cfg.Destinations {
		named[addr] = true
	}
	exported := map[netip.AddrPort]int{}
	for _, g := range got {
		exported[g.Addr]++
		if named[g.Addr] != (g.Name != "") {
			t.Fatalf("%s: %s exported with name %q", what, g.Addr, g.Name)
		}
	}
	unnamed, kept := 0, 0
	for _, d := range all {
		if named[d.Addr] {
			continue
		}
		unnamed++
		aboveTW, aboveUtil := 0, 0
		for _, o := range all {
			if !named[o.Addr] && o.Addr != d.Addr {
				aboveTW += b2i(model.ByTimeWait(o, d) < 0)
				aboveUtil += b2i(model.ByUtilization(o, d) < 0)
			}
		}
		want := aboveTW < cfg.TopN || aboveUtil < cfg.TopN
		if (exported[d.Addr] == 1) != want || exported[d.Addr] > 1 {
			t.Fatalf("%s: %+v exported %d times; %d rank above it by TIME_WAIT, %d by utilisation", what, d, exported[d.Addr], aboveTW, aboveUtil)
		}
		kept += b2i(want)
	}
	for addr := range cfg.Destinations {
		if exported[addr] != 1 {
			t.Fatalf("%s: configured %s exported %d times", what, addr, exported[addr])
		}
	}
	if kept > 2*cfg.TopN || kept+dropped != unnamed || len(got) != kept+len(cfg.Destinations) {
		t.Fatalf("%s: %d exported (%d unconfigured), %d dropped of %d unconfigured", what, len(got), kept, dropped, unnamed)
	}
}

func addrSet(ds []model.Destination) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Addr.String())
	}
	slices.Sort(out)
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSelectDestinations(t *testing.T) {
	d := func(addr string, tw uint64) model.Destination {
		return model.Destination{Addr: netip.MustParseAddrPort(addr), TimeWait: tw, Held: tw, Utilization: float64(tw) / 100}
	}
	all := []model.Destination{d("10.0.0.1:80", 50), d("10.0.0.2:80", 40), d("10.0.0.5:5432", 30), d("[2001:db8::1]:443", 20), d("10.0.0.3:80", 10)}
	cfg := func(topN int, named ...string) *Export {
		c := config.Default().Export()
		c.TopN = topN
		for i := 0; i+1 < len(named); i += 2 {
			c.Destinations[netip.MustParseAddrPort(named[i+1])] = named[i]
		}
		return &c
	}
	type out struct {
		addr, name string
		tw         uint64
	}
	tests := []struct {
		name        string
		cfg         *Export
		want        []out
		wantDropped int
	}{
		{"default top 10 keeps all", cfg(10), []out{{"10.0.0.1:80", "", 50}, {"10.0.0.2:80", "", 40}, {"10.0.0.5:5432", "", 30}, {"[2001:db8::1]:443", "", 20}, {"10.0.0.3:80", "", 10}}, 0},
		{"top 2", cfg(2), []out{{"10.0.0.1:80", "", 50}, {"10.0.0.2:80", "", 40}}, 3},
		{"top 2 plus a named one beyond it, and one never seen",
			cfg(2, "postgres", "10.0.0.5:5432", "ghost", "192.0.2.1:9"),
			[]out{{"10.0.0.1:80", "", 50}, {"10.0.0.2:80", "", 40}, {"10.0.0.5:5432", "postgres", 30}, {"192.0.2.1:9", "ghost", 0}}, 2},
		{"named busiest does not use a top-N slot",
			cfg(1, "web", "10.0.0.1:80"),
			[]out{{"10.0.0.1:80", "web", 50}, {"10.0.0.2:80", "", 40}}, 3},
		{"top 0: named only", cfg(0, "v6", "[2001:db8::1]:443"), []out{{"[2001:db8::1]:443", "v6", 20}}, 4},
	}
	for _, tc := range tests {
		got, dropped := selectRanked(all, tc.cfg)
		var gotOut []out
		for _, g := range got {
			gotOut = append(gotOut, out{g.Addr.String(), g.Name, g.TimeWait})
		}
		if !reflect.DeepEqual(gotOut, tc.want) || dropped != tc.wantDropped {
			t.Errorf("%s: got %v dropped %d, want %v dropped %d", tc.name, gotOut, dropped, tc.want, tc.wantDropped)
		}
	}
	// The zero-valued named destination carries no stale ratio.
	got, _ := selectRanked(nil, cfg(5, "ghost", "192.0.2.1:9"))
	if len(got) != 1 || got[0].Utilization != 0 || got[0].Held != 0 || got[0].Name != "ghost" {
		t.Errorf("unseen named destination = %+v", got)
	}
}

func TestSelectPorts(t *testing.T) {
	all := []model.ListeningPort{{Port: 8080, TimeWait: 7}, {Port: 9090, TimeWait: 3}, {Port: 40123, TimeWait: 2}, {Port: 22, TimeWait: 0}, {Port: 7070, TimeWait: 0}}
	tests := []struct {
		name        string
		topN        int
		ports       []uint16
		want        []model.ListeningPort
		wantDropped int
	}{
		{"top 10", 10, nil, []model.ListeningPort{{Port: 8080, TimeWait: 7}, {Port: 9090, TimeWait: 3}, {Port: 40123, TimeWait: 2}}, 0},
		{"top 1", 1, nil, []model.ListeningPort{{Port: 8080, TimeWait: 7}}, 2},
		{"named idle listener and unknown port", 1, []uint16{7070, 443}, []model.ListeningPort{{Port: 8080, TimeWait: 7}, {Port: 7070, TimeWait: 0}, {Port: 443, TimeWait: 0}}, 2},
		{"named busy port beyond top N", 1, []uint16{40123}, []model.ListeningPort{{Port: 8080, TimeWait: 7}, {Port: 40123, TimeWait: 2}}, 1},
		{"top 0", 0, []uint16{9090}, []model.ListeningPort{{Port: 9090, TimeWait: 3}}, 2},
	}
	for _, tc := range tests {
		c := config.Default().Export()
		c.TopN, c.Ports = tc.topN, tc.ports
		got, dropped := selectPorts(all, &c)
		if !reflect.DeepEqual(got, tc.want) || dropped != tc.wantDropped {
			t.Errorf("%s: got %v dropped %d, want %v dropped %d", tc.name, got, dropped, tc.want, tc.wantDropped)
		}
	}
}
