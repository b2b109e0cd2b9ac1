// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"slices"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// The doctor's owners finding reports, per scope, the destinations nearest
// exhaustion and the listening ports with the most server-side TIME_WAIT;
// the owner lookup looks for the holders of their live sockets only.
const (
	FlowsShown = 5
	PortsShown = 3
)

// ReportedFlows are the flows the owners finding reports for st: the
// first FlowsShown destinations by model.ByUtilization that hold ports or
// have TIME_WAIT, and the first PortsShown listening ports with
// TIME_WAIT. None without the figures of pressure.
func ReportedFlows(st *model.SocketStats) ([]model.Destination, []model.ListeningPort) {
	if st == nil || !st.HasPressure() || st.Usable() == 0 {
		return nil, nil
	}
	dests := st.Destinations()
	slices.SortFunc(dests, model.ByUtilization)
	dests = slices.DeleteFunc(dests, func(d model.Destination) bool { return d.Held == 0 && d.TimeWait == 0 })
	ports := st.ListeningPorts()
	if i := slices.IndexFunc(ports, func(p model.ListeningPort) bool { return p.TimeWait == 0 }); i >= 0 {
		ports = ports[:i]
	}
	return dests[:min(len(dests), FlowsShown)], ports[:min(len(ports), PortsShown)]
}
