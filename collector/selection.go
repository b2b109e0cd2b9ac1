// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"slices"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// selectDestinations returns the destinations to export, and how many
// others were left out: the configured ones (always, zero when unseen) and,
// of the others, the cfg.TopN with the most TIME_WAIT and the cfg.TopN with
// the highest utilisation. Both rankings are needed: utilisation counts
// ESTABLISHED sockets and leaves out reusable TIME_WAIT ones, so a pooled
// client or a destination under tcp_tw_reuse can have the highest ratio and
// little TIME_WAIT. topk() of either per-destination metric over the
// exported series is thus exact up to cfg.TopN, and at most 2 × cfg.TopN +
// len(cfg.Destinations) destinations are exported. The rankings are the
// model's, as its Summary gives them: all in TIME_WAIT order (ByTimeWait),
// byUtil the indices of all by utilisation (ByUtilization); both orders are
// total, so a scrape exports the same set for the same sockets.
func selectDestinations(all []model.Destination, byUtil []int, cfg *Export) (selected []model.Destination, dropped int) {
	names := cfg.Destinations
	keep := make([]bool, len(all))
	keepFirst(all, func(k int) int { return k }, cfg.TopN, names, keep)
	keepFirst(all, func(k int) int { return byUtil[k] }, cfg.TopN, names, keep)
	seen := map[netip.AddrPort]bool{}
	for i, d := range all {
		name, named := names[d.Addr]
		switch {
		case named:
			d.Name = name
			seen[d.Addr] = true
			selected = append(selected, d)
		case keep[i]:
			selected = append(selected, d)
		default:
			dropped++
		}
	}
	var unseen []model.Destination
	for addr, name := range names {
		if !seen[addr] {
			unseen = append(unseen, model.Destination{Addr: addr, Name: name})
		}
	}
	slices.SortFunc(unseen, func(a, b model.Destination) int { return a.Addr.Compare(b.Addr) }) // the same order every scrape
	return append(selected, unseen...), dropped
}

// keepFirst sets keep for the first n destinations of all that are not
// configured, all[at(0)], all[at(1)], … in a ranking's order.
func keepFirst(all []model.Destination, at func(k int) int, n int, names map[netip.AddrPort]string, keep []bool) {
	for k := 0; k < len(all) && n > 0; k++ {
		i := at(k)
		if _, named := names[all[i].Addr]; !named {
			keep[i] = true
			n--
		}
	}
}

// selectPorts returns the configured ports (always, zero when unseen) and
// the cfg.TopN busiest other listening ports with TIME_WAIT, and how many
// such ports were left out. Listening ports without TIME_WAIT are not
// candidates.
func selectPorts(all []model.ListeningPort, cfg *Export) (selected []model.ListeningPort, dropped int) {
	named := map[uint16]bool{}
	for _, p := range cfg.Ports {
		named[p] = true
	}
	others := 0
	for _, p := range all {
		switch {
		case named[p.Port]:
			delete(named, p.Port)
			selected = append(selected, p)
		case p.TimeWait == 0:
		case others < cfg.TopN:
			others++
			selected = append(selected, p)
		default:
			dropped++
		}
	}
	for _, p := range cfg.Ports {
		if named[p] {
			selected = append(selected, model.ListeningPort{Port: p})
		}
	}
	return selected, dropped
}
