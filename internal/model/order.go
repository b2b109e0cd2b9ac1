// SPDX-License-Identifier: Apache-2.0

package model

import "cmp"

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
