// SPDX-License-Identifier: Apache-2.0

package model

import "github.com/timewait-exporter/timewait_exporter/internal/sockdiag"

// Summary is what one dump tells, as plain values: computed once at the
// end of the dump (SocketStats.Summary), so that the collectors read
// fields rather than call the model on every scrape.
type Summary struct {
	// States counts sockets by [0 ipv4, 1 ipv6][state].
	States [2][sockdiag.MaxState + 1]uint64
	// TimeWait splits TIME_WAIT sockets by direction.
	TimeWait struct{ Outbound, Inbound, Other uint64 }
	// Pressure tells that the port policy was known, so that the fields
	// below mean something (SocketStats.HasPressure); they are zero
	// otherwise.
	Pressure                bool
	Destinations            []Destination   // every outbound destination, busiest first (ByTimeWait)
	UtilizationOrder        []int           // indices of Destinations, highest utilisation first (ByUtilization)
	ListeningPorts          []ListeningPort // every listening port, busiest first
	MaxUtilization          float64
	EphemeralPortsInUse     int
	EphemeralPortsListening int
	OutboundSockets         uint64
	OutboundPorts           int
	MaxFlowSockets          uint64
}

// Summary computes the views of the dump, once it is complete.
func (st *SocketStats) Summary() *Summary {
	sum := &Summary{States: st.States, TimeWait: st.TimeWait, Pressure: st.HasPressure()}
	if !sum.Pressure {
		return sum
	}
	sum.Destinations = st.Destinations()
	sum.UtilizationOrder = UtilizationOrder(sum.Destinations)
	sum.ListeningPorts = st.ListeningPorts()
	sum.MaxUtilization = st.MaxUtilization()
	sum.EphemeralPortsInUse = st.EphemeralPortsInUse()
	sum.EphemeralPortsListening = st.EphemeralPortsListening()
	sum.OutboundSockets = st.OutboundSockets()
	sum.OutboundPorts = st.OutboundPorts()
	sum.MaxFlowSockets = st.MaxFlowSockets()
	return sum
}
