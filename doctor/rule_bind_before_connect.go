// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// capacityObserved says how many ports connect() can give one flow and
// why that is fewer than the range: __inet_hash_connect
// (net/ipv4/inet_hashtables.c) skips ports bind() owns and scans an even
// number of ports (see internal/model/capacity.go).
func capacityObserved(e *env, r model.PortRange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ports connect() can use per (source IP, destination): %d = ip_local_port_range %d-%d minus ip_local_reserved_ports (%d usable)",
		e.st.Capacity(), r.Start, r.End, e.st.Usable())
	switch owned, listening := e.st.EphemeralPortsOwned(), e.st.EphemeralPortsListening(); {
	case owned > listening: // bound_inactive sockets dumped (--collector.sockets.bound-inactive)
		fmt.Fprintf(&b, ", minus %d ports of the range that bind() owns (%d with a listener, the others held by bound, unconnected sockets; connect() skips every port bind() owns)", owned, listening)
	case owned > 0:
		fmt.Fprintf(&b, ", minus %d ports of the range with a listener (connect() skips every port bind() owns)", owned)
	}
	if r.OddSize() {
		b.WriteString(", minus 1 because the range has an odd number of ports and connect() scans an even number of them")
	}
	return b.String()
}

// ruleBindBeforeConnect: connect() may give one local port to several
// destinations (uniqueness is per 4-tuple), but __inet_hash_connect
// (net/ipv4/inet_hashtables.c) skips every port whose bind bucket bind()
// made, so a socket bound before connect() (to port 0, or to (ip, 0)
// without IP_BIND_ADDRESS_NO_PORT) takes its port from the one pool for
// every destination, and keeps it through TIME_WAIT (tw_tb). The dump does
// not say which ports bind() owns, so per-destination ratios stay low
// while the pool runs out. The pattern: distinct ephemeral ports held near
// the pool, almost no port shared by two sockets, and many more ports held
// than the busiest flow alone occupies. (connect() alone would share:
// it tries the range's low-parity ports first for every destination.)
func ruleBindBeforeConnect(e *env) []Finding {
	if !e.pressure || len(e.dests) == 0 {
		return nil
	}
	usable := e.st.Usable()
	held, ports, sockets := e.st.EphemeralPortsInUse(), e.st.OutboundPorts(), e.st.OutboundSockets()
	ratio := min(1, float64(held)/float64(usable))
	busiest := e.dests[0]
	switch {
	case ratio < e.warn(), len(e.dests) < bindMinDestinations:
		return nil
	case float64(sockets) > float64(ports)*config.BindSharingMax:
		return nil // connect() shares ports between destinations: the pool works as designed
	case float64(ports)-float64(e.st.MaxFlowSockets()) <= config.BindExcessMin*float64(usable):
		return nil // one flow occupies them: ruleEphemeralPorts' case, or tcp_tw_reuse at work
	}
	sev := Warning
	if ratio >= e.crit() {
		sev = Critical
	}
	return []Finding{{
		Severity: sev,
		Title:    fmt.Sprintf("%s of the %d ephemeral ports are held with almost none shared between destinations: bind() before connect()?", pct(ratio), usable),
		Subjects: []string{kread.KeyPortRange},
		Observed: []string{
			fmt.Sprintf("distinct ephemeral ports held by any TCP socket: %d of %d usable (timewait_ephemeral_ports_in_use; %d of them listening)", held, usable, e.st.EphemeralPortsListening()),
			fmt.Sprintf("outbound sockets: %d on %d distinct local ports over %d destinations", sockets, ports, len(e.dests)),
			fmt.Sprintf("busiest destination: %s, %d sockets from %s, %s of the ports connect() can use for it; that figure cannot subtract ports bind() took for other destinations", destLabel(busiest), busiest.Held, busiest.Source, pct(busiest.Utilization)),
		},
		Why: "connect() may give one local port to several destinations, since only the (source IP, source port, destination IP, destination port) must be unique. But it skips every port whose bind bucket was made by bind() (__inet_hash_connect, net/ipv4/inet_hashtables.c): listeners, and clients that call bind() before connect(), to port 0 or to (source IP, 0), which get their port from the global pool before the destination is known. Such a port is lost to every destination until the socket is gone, including its 60 s of TIME_WAIT, which keeps the bind bucket. When the pool is spent, connect() fails with EADDRNOTAVAIL towards every destination and bind(ip, 0) with EADDRINUSE (inet_csk_get_port), while each destination's own count stays low: the pool, not the destination, is the limit, and the kernel's dump does not say which ports bind() owns, so the per-destination ratios cannot show it.",
		Fix: []Step{
			{
				Text:     "Let connect() choose the port: drop the bind() before connect(). If the program must choose its source IP, set the socket option IP_BIND_ADDRESS_NO_PORT (Linux 4.2) before bind(ip, 0): the port is then chosen at connect(), per destination, and can be shared with other destinations. The command below lists the processes with the most established connections.",
				Commands: []string{`ss -Htnp state established | grep -o 'users:(("[^"]*"' | sort | uniq -c | sort -rn | head`},
			},
			{Text: "Reuse connections (keep-alive, connection pools): fewer connections closed per second means fewer bound ports held in TIME_WAIT for 60 s each."},
		},
	}}
}
