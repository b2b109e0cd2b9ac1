// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"net/netip"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// ruleEphemeralPorts: a new outgoing connection needs a unique (source IP,
// source port, destination IP, destination port), and the side that closes
// first holds its 4-tuple in TIME_WAIT for a fixed 60 s. So ports run out
// per destination; at 100 % connect() fails with EADDRNOTAVAIL.
func ruleEphemeralPorts(e *env) []Finding {
	if !e.pressure {
		return nil
	}
	var over []model.Destination
	for _, d := range e.dests {
		if d.Utilization >= e.warn() {
			over = append(over, d)
		}
	}
	if len(over) == 0 {
		return nil
	}
	top := over[0]
	sev := Warning
	if top.Utilization >= e.crit() {
		sev = Critical
	}
	capacity := e.st.Capacity()
	title := fmt.Sprintf("Ephemeral ports towards %s are %s used (%d of %d)", destLabel(top), pct(top.Utilization), top.Held, capacity)
	if len(over) > 1 {
		title += fmt.Sprintf("; %d more destination(s) above %s", len(over)-1, pct(e.warn()))
	}
	var subjects, obs []string
	for i, d := range over {
		subjects = append(subjects, d.Addr.String())
		if i < listShown {
			obs = append(obs, fmt.Sprintf("%s: source %s holds %d of the %d ports connect() can use (%s); TIME_WAIT sockets towards it: %d",
				destLabel(d), d.Source, d.Held, capacity, pct(d.Utilization), d.TimeWait))
		}
	}
	if len(over) > listShown {
		obs = append(obs, fmt.Sprintf("… and %d more destinations above %s", len(over)-listShown, pct(e.warn())))
	}
	if sys := e.ports(); sys != nil {
		obs = append(obs, capacityObserved(e, sys.PortRange))
	}
	obs = append(obs, reuseObserved(e))
	obs = append(obs, fmt.Sprintf("thresholds: warning at %s, critical at %s of the ports connect() can use for the pair (config doctor.utilization_warning, doctor.utilization_critical)", pct(e.warn()), pct(e.crit())))

	fix := []Step{
		{
			Text:     fmt.Sprintf("Reuse connections: give the client that talks to %s keep-alive or a connection pool (HTTP keep-alive, a database pool, one gRPC channel) instead of a new connection per request. A connection opened and closed per request holds its port for 60 s after the close. This removes the cause; the steps below only buy headroom. The owners finding names the client (pid, command, container, pod) where a live connection points to it; by hand, the command below lists the established connections to the same destination with their programs (TIME_WAIT sockets belong to no process). Where the protocol allows, letting the server close idle connections first also moves TIME_WAIT to the peer.", destLabel(top)),
			Commands: []string{fmt.Sprintf("ss -tnp state established dst %s", ssAddr(top.Addr))},
		},
		{
			Text: fmt.Sprintf("Spread the load: ports run out per (source IP, destination IP, destination port), so more destination IPs or ports behind the service each bring another %d ports, and so do more source IPs on this host. A client that picks its source IP must set IP_BIND_ADDRESS_NO_PORT before bind(), or bind() takes the port from the global pool regardless of destination.", capacity),
		},
	}
	if s, ok := widenStep(e); ok {
		fix = append(fix, s)
	}
	fix = append(fix, reuseStep(e, isLoopback(top)))
	return []Finding{{
		Severity: sev,
		Title:    title,
		Subjects: subjects,
		Observed: obs,
		Why:      fmt.Sprintf("A new outgoing connection needs a unique (source IP, source port, destination IP, destination port). The side that closes a connection first keeps that 4-tuple in TIME_WAIT for a fixed 60 s (TCP_TIMEWAIT_LEN; no sysctl changes it), so a client that opens and closes R connections per second to one destination holds about R × 60 of its %d ports. When all are held, connect() from that source IP to that destination fails with EADDRNOTAVAIL (\"Cannot assign requested address\"), while other destinations still work.", capacity),
		Fix:      fix,
	}}
}

// ssAddr writes ip:port the way ss filters take it.
func ssAddr(a netip.AddrPort) string {
	if a.Addr().Is6() {
		return fmt.Sprintf("[%s]:%d", a.Addr(), a.Port())
	}
	return a.String()
}
