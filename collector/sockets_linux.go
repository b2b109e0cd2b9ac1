// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

func init() {
	registerCollector("sockets", true, newSocketsCollector)
}

// stateNames are the label values of the states, indexed by kernel number.
var stateNames = [...]string{
	sockdiag.StateEstablished:   "established",
	sockdiag.StateSynSent:       "syn_sent",
	sockdiag.StateSynRecv:       "syn_recv",
	sockdiag.StateFinWait1:      "fin_wait1",
	sockdiag.StateFinWait2:      "fin_wait2",
	sockdiag.StateTimeWait:      "time_wait",
	sockdiag.StateClose:         "close",
	sockdiag.StateCloseWait:     "close_wait",
	sockdiag.StateLastAck:       "last_ack",
	sockdiag.StateListen:        "listen",
	sockdiag.StateClosing:       "closing",
	sockdiag.StateNewSynRecv:    "new_syn_recv",
	sockdiag.StateBoundInactive: "bound_inactive",
}

var familyNames = [2]string{"ipv4", "ipv6"}

type socketsCollector struct {
	opts          Options
	states        uint32
	lastState     uint8
	sockets       typedDesc
	destTimeWait  typedDesc
	destUtil      typedDesc
	maxUtil       typedDesc
	portsInUse    typedDesc
	portsListen   typedDesc
	outSockets    typedDesc
	outPorts      typedDesc
	outMaxFlow    typedDesc
	portTimeWait  typedDesc
	directionTW   typedDesc
	seriesDropped typedDesc
	dumpSkipped   typedDesc
}

func newSocketsCollector(o Options) (Collector, error) {
	c := &socketsCollector{
		opts:      o,
		states:    sockdiag.AllStates,
		lastState: sockdiag.StateNewSynRecv,
		sockets: newDesc(o, "tcp", "sockets",
			"TCP sockets by address family and state, from the kernel's sock_diag dump (what ss -tan lists). new_syn_recv is always 0: the kernel reports request sockets as syn_recv.",
			prometheus.GaugeValue, "family", "state"),
		destTimeWait: newDesc(o, "destination", "time_wait_sockets",
			"Outbound TIME_WAIT sockets (local port in the ephemeral range) towards one remote ip:port. Exported for the configured destinations and the top_n by TIME_WAIT and by utilisation ratio.",
			prometheus.GaugeValue, "destination", "name"),
		destUtil: newDesc(o, "destination", "ephemeral_port_utilization_ratio",
			"Sockets from the busiest source IP to this remote ip:port holding an ephemeral port (TIME_WAIT that tcp_tw_reuse lets connect() reuse left out), divided by the ports connect() can give that flow. 1 means the next connect() to it fails with EADDRNOTAVAIL (see the README for what is counted).",
			prometheus.GaugeValue, "destination", "name"),
		maxUtil: newDesc(o, "", "ephemeral_port_utilization_max_ratio",
			"Highest timewait_destination_ephemeral_port_utilization_ratio over every (source IP, destination), exported or not. 1 means some connect() fails with EADDRNOTAVAIL.",
			prometheus.GaugeValue),
		portsInUse: newDesc(o, "", "ephemeral_ports_in_use",
			"Distinct ports of the ephemeral set (ip_local_port_range minus reserved) held by any TCP socket: listeners, connections in any state, TIME_WAIT. Near timewait_ephemeral_ports_usable with one port per outbound socket (timewait_outbound_local_ports), bind() before connect() is exhausting the pool.",
			prometheus.GaugeValue),
		portsListen: newDesc(o, "", "ephemeral_ports_listening",
			"Ports of the ephemeral set with a TCP listener of either family on any address. connect() never picks them, so the utilisation ratios leave them out.",
			prometheus.GaugeValue),
		outSockets: newDesc(o, "outbound", "sockets",
			"TCP sockets whose local port is in the ephemeral set and not listening: the connections this host opened, in any state, TIME_WAIT included.",
			prometheus.GaugeValue),
		outPorts: newDesc(o, "outbound", "local_ports",
			"Distinct local ports of timewait_outbound_sockets. connect() lets destinations share a port, so on a busy pool this falls below the socket count; it never gives another connection a port that bind() took (__inet_hash_connect).",
			prometheus.GaugeValue),
		outMaxFlow: newDesc(o, "outbound", "max_flow_sockets",
			"Most timewait_outbound_sockets of one (source IP, destination) flow, TIME_WAIT that tcp_tw_reuse may reuse included: the local ports that flow alone occupies.",
			prometheus.GaugeValue),
		portTimeWait: newDesc(o, "local_port", "time_wait_sockets",
			"Server-side TIME_WAIT sockets on one listening port (this host closed first), which cost memory only. Exported for the busiest ports and the configured ones.",
			prometheus.GaugeValue, "port"),
		directionTW: newDesc(o, "", "time_wait_sockets",
			"TIME_WAIT sockets by direction: outbound (local port ephemeral: uses up ports towards a destination), inbound (local port is listening: memory only), other (neither).",
			prometheus.GaugeValue, "direction"),
		seriesDropped: newDesc(o, "pressure", "series_dropped",
			"Destinations (kind=destination) or listening ports with TIME_WAIT (kind=port) left out this scrape by the top_n limits.",
			prometheus.GaugeValue, "kind"),
	}
	c.dumpSkipped = dumpSkippedDesc(o)
	if o.BoundInactive {
		c.states |= sockdiag.StateMask(sockdiag.StateBoundInactive)
		c.lastState = sockdiag.StateBoundInactive
	}
	return c, nil
}

func (c *socketsCollector) Update(s *kernel.Scope, ch chan<- prometheus.Metric) error {
	if c.skipDump(s, ch) {
		return nil
	}
	stats, err := kernel.ReadSockets(s, c.states)
	if stats == nil {
		return err
	}
	c.emitStates(s, stats, ch)
	if stats.HasPressure() {
		c.emitPressure(s, stats, ch)
	}
	return err
}

func (c *socketsCollector) emitStates(s *kernel.Scope, st *kernel.SocketStats, ch chan<- prometheus.Metric) {
	for fam := range st.States {
		if fam == 1 && !s.IPv6() {
			continue
		}
		for state := uint8(1); state <= c.lastState; state++ {
			ch <- c.sockets.metric(s, float64(st.States[fam][state]), familyNames[fam], stateNames[state])
		}
	}
}

func (c *socketsCollector) emitPressure(s *kernel.Scope, st *kernel.SocketStats, ch chan<- prometheus.Metric) {
	cfg := c.opts.Config()
	dests, droppedDests := kernel.SelectDestinations(st.Destinations(), cfg)
	for _, d := range dests {
		label := d.Addr.String()
		ch <- c.destTimeWait.metric(s, float64(d.TimeWait), label, d.Name)
		ch <- c.destUtil.metric(s, d.Utilization, label, d.Name)
	}
	ch <- c.maxUtil.metric(s, st.MaxUtilization())
	ch <- c.portsInUse.metric(s, float64(st.EphemeralPortsInUse()))
	ch <- c.portsListen.metric(s, float64(st.EphemeralPortsListening()))
	ch <- c.outSockets.metric(s, float64(st.OutboundSockets()))
	ch <- c.outPorts.metric(s, float64(st.OutboundPorts()))
	ch <- c.outMaxFlow.metric(s, float64(st.MaxFlowSockets()))
	ports, droppedPorts := kernel.SelectPorts(st.ListeningPorts(), cfg)
	for _, p := range ports {
		ch <- c.portTimeWait.metric(s, float64(p.TimeWait), strconv.Itoa(int(p.Port)))
	}
	ch <- c.directionTW.metric(s, float64(st.TimeWait.Outbound), "outbound")
	ch <- c.directionTW.metric(s, float64(st.TimeWait.Inbound), "inbound")
	ch <- c.directionTW.metric(s, float64(st.TimeWait.Other), "other")
	ch <- c.seriesDropped.metric(s, float64(droppedDests), "destination")
	ch <- c.seriesDropped.metric(s, float64(droppedPorts), "port")
}
