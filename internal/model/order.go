// SPDX-License-Identifier: Apache-2.0

package model

import (
	"cmp"
	"slices"
)

// ByTimeWait orders destinations by TIME_WAIT count, most first, then by
// utilisation and address, so that every ranking is total and a scrape
// exports the same set for the same sockets.
func ByTimeWait(a, b Destination) int {
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

// UtilizationOrder returns the indices of dests in ByUtilization order:
// with dests in ByTimeWait order (Destinations'), a Summary carries both
// rankings as data, and the collectors read the top of each.
func UtilizationOrder(dests []Destination) []int {
	order := make([]int, len(dests))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return ByUtilization(dests[i], dests[j]) })
	return order
}
