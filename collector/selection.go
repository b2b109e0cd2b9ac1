// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"cmp"
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
// len(cfg.Destinations) destinations are exported.
func selectDestinations(all []model.Destination, cfg *Export) (selected []model.Destination, dropped int) {
	names := cfg.Destinations
	var others []int // indices in all of the destinations not configured
	for i, d := range all {
		if _, named := names[d.Addr]; !named {
			others = append(others, i)
		}
	}
	keep := make([]bool, len(all))
	markTop(all, others, cfg.TopN, byTimeWait, keep)
	markTop(all, others, cfg.TopN, byUtilization, keep)
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

// byTimeWait and byUtilization are the two rankings of the selection, most
// first. Each is total (ties go to the other figure, then the address), so
// that a scrape exports the same set for the same sockets in whatever
// order they come.
func byTimeWait(a, b model.Destination) int {
	return cmp.Or(cmp.Compare(b.TimeWait, a.TimeWait), cmp.Compare(b.Utilization, a.Utilization), a.Addr.Compare(b.Addr))
}

func byUtilization(a, b model.Destination) int {
	return cmp.Or(cmp.Compare(b.Utilization, a.Utilization), cmp.Compare(b.TimeWait, a.TimeWait), a.Addr.Compare(b.Addr))
}

// markTop sets keep[i] for the n first of the indices idx into all in the
// given order. It keeps the best n seen so far, in order, so most
// destinations cost one comparison: sorting all of them took longer than
// the rest of the selection on a host with 100,000 destinations.
func markTop(all []model.Destination, idx []int, n int, order func(a, b model.Destination) int, keep []bool) {
	if n <= 0 {
		return
	}
	top := make([]int, 0, n+1)
	for _, i := range idx {
		if len(top) == n && order(all[i], all[top[n-1]]) >= 0 {
			continue
		}
		at, _ := slices.BinarySearchFunc(top, i, func(t, i int) int { return order(all[t], all[i]) })
		top = slices.Insert(top, at, i)
		top = top[:min(len(top), n)]
	}
	for _, i := range top {
		keep[i] = true
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
