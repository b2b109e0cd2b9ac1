// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
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
		opts:          o,
		states:        sockdiag.AllStates,
		lastState:     sockdiag.StateNewSynRecv,
		sockets:       Lookup("timewait_tcp_sockets").desc(o),
		destTimeWait:  Lookup("timewait_destination_time_wait_sockets").desc(o),
		destUtil:      Lookup("timewait_destination_ephemeral_port_utilization_ratio").desc(o),
		maxUtil:       Lookup("timewait_ephemeral_port_utilization_max_ratio").desc(o),
		portsInUse:    Lookup("timewait_ephemeral_ports_in_use").desc(o),
		portsListen:   Lookup("timewait_ephemeral_ports_listening").desc(o),
		outSockets:    Lookup("timewait_outbound_sockets").desc(o),
		outPorts:      Lookup("timewait_outbound_local_ports").desc(o),
		outMaxFlow:    Lookup("timewait_outbound_max_flow_sockets").desc(o),
		portTimeWait:  Lookup("timewait_local_port_time_wait_sockets").desc(o),
		directionTW:   Lookup("timewait_time_wait_sockets").desc(o),
		seriesDropped: Lookup("timewait_pressure_series_dropped").desc(o),
		dumpSkipped:   Lookup("timewait_netns_dump_skipped").desc(o),
	}
	if o.BoundInactive {
		c.states |= sockdiag.StateMask(sockdiag.StateBoundInactive)
		c.lastState = sockdiag.StateBoundInactive
	}
	return c, nil
}

// request makes the sockets source dump the states c exports.
func (c *socketsCollector) request(req *scan.Request) { req.States = c.states }

func (c *socketsCollector) Update(rd *scan.Reading, ch chan<- prometheus.Metric) error {
	if c.skipDump(rd, ch) || rd.Sockets == nil {
		return nil
	}
	c.emitStates(rd.Labels, rd.Sockets, rd.IPv6, ch)
	if rd.Sockets.Pressure {
		c.emitPressure(rd.Labels, rd.Sockets, ch)
	}
	return nil
}

func (c *socketsCollector) emitStates(s []string, st *model.Summary, ipv6 bool, ch chan<- prometheus.Metric) {
	for fam := range st.States {
		if fam == 1 && !ipv6 {
			continue
		}
		for state := uint8(1); state <= c.lastState; state++ {
			ch <- c.sockets.metric(s, float64(st.States[fam][state]), familyNames[fam], stateNames[state])
		}
	}
}

func (c *socketsCollector) emitPressure(s []string, st *model.Summary, ch chan<- prometheus.Metric) {
	cfg := c.opts.export()
	dests, droppedDests := selectDestinations(st.Destinations, st.UtilizationOrder, cfg)
	for _, d := range dests {
		label := d.Addr.String()
		ch <- c.destTimeWait.metric(s, float64(d.TimeWait), label, d.Name)
		ch <- c.destUtil.metric(s, d.Utilization, label, d.Name)
	}
	ch <- c.maxUtil.metric(s, st.MaxUtilization)
	ch <- c.portsInUse.metric(s, float64(st.EphemeralPortsInUse))
	ch <- c.portsListen.metric(s, float64(st.EphemeralPortsListening))
	ch <- c.outSockets.metric(s, float64(st.OutboundSockets))
	ch <- c.outPorts.metric(s, float64(st.OutboundPorts))
	ch <- c.outMaxFlow.metric(s, float64(st.MaxFlowSockets))
	ports, droppedPorts := selectPorts(st.ListeningPorts, cfg)
	for _, p := range ports {
		ch <- c.portTimeWait.metric(s, float64(p.TimeWait), strconv.Itoa(int(p.Port)))
	}
	ch <- c.directionTW.metric(s, float64(st.TimeWait.Outbound), "outbound")
	ch <- c.directionTW.metric(s, float64(st.TimeWait.Inbound), "inbound")
	ch <- c.directionTW.metric(s, float64(st.TimeWait.Other), "other")
	ch <- c.seriesDropped.metric(s, float64(droppedDests), "destination")
	ch <- c.seriesDropped.metric(s, float64(droppedPorts), "port")
}
