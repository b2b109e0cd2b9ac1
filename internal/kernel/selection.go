// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/timewait-exporter/timewait_exporter/config"
)

// byTimeWait orders destinations by TIME_WAIT count, most first, then by
// utilisation and address, so that every ranking is total and a scrape
// exports the same set for the same sockets.
func byTimeWait(a, b Destination) int {
	return cmp.Or(cmp.Compare(b.TimeWait, a.TimeWait),
		cmp.Compare(b.Utilization, a.Utilization),
		a.Addr.Compare(b.Addr))
}

// ByUtilization orders destinations by utilisation, highest first (then
// by TIME_WAIT and address): the doctor's order.
func ByUtilization(a, b Destination) int {
	return cmp.Or(cmp.Compare(b.Utilization, a.Utilization),
		cmp.Compare(b.TimeWait, a.TimeWait),
		a.Addr.Compare(b.Addr))
}

// SelectDestinations returns the destinations to export, and how many
// others were left out: the configured ones (always, zero when unseen) and,
// of the others, the cfg.TopN with the most TIME_WAIT and the cfg.TopN with
// the highest utilisation. Both rankings are needed: utilisation counts
// ESTABLISHED sockets and leaves out reusable TIME_WAIT ones, so a pooled
// client or a destination under tcp_tw_reuse can have the highest ratio and
// little TIME_WAIT. topk() of either per-destination metric over the
// exported series is thus exact up to cfg.TopN, and at most 2 × cfg.TopN +
// len(cfg.Destinations) destinations are exported.
func SelectDestinations(all []Destination, cfg *config.Config) (selected []Destination, dropped int) {
	names := destinationNames(cfg)
	var others []int // indices in all of the destinations not configured
	for i, d := range all {
		if _, named := names[d.Addr]; !named {
			others = append(others, i)
		}
	}
	keep := make([]bool, len(all))
	markTop(all, others, cfg.TopN, byTimeWait, keep)
	markTop(all, others, cfg.TopN, ByUtilization, keep)
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
	for _, d := range cfg.Destinations {
		if !seen[d.AddrPort] {
			selected = append(selected, Destination{Addr: d.AddrPort, Name: d.Name})
		}
	}
	return selected, dropped
}

// destinationNames are the configured names by address.
func destinationNames(cfg *config.Config) map[netip.AddrPort]string {
	names := make(map[netip.AddrPort]string, len(cfg.Destinations))
	for _, d := range cfg.Destinations {
		names[d.AddrPort] = d.Name
	}
	return names
}

// NameDestinations gives each destination of ds its configured name, ""
// for the others.
func NameDestinations(ds []Destination, cfg *config.Config) {
	names := destinationNames(cfg)
	for i := range ds {
		ds[i].Name = names[ds[i].Addr]
	}
}

// markTop sets keep[i] for the n first of the indices idx into all in the
// given order. It keeps the best n seen so far, in order, so most
// destinations cost one comparison: sorting all of them took longer than
// the rest of the selection on a host with 100,000 destinations.
func markTop(all []Destination, idx []int, n int, order func(a, b Destination) int, keep []bool) {
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
