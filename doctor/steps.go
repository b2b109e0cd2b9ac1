// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// The fix steps for an exhausted destination that depend on the host's
// sysctls: a wider port range and tcp_tw_reuse. Each says how much it buys,
// so the reader can weigh them.

// nodePorts is Kubernetes' default NodePort range. It lies just below the
// default ip_local_port_range (32768-60999), so widening the range
// downwards hands its ports out as source ports unless they are reserved.
var nodePorts = model.PortRange{Start: 30000, End: 32767}

// widenStep suggests a wider ip_local_port_range, reserving first the ports
// local services listen on inside the new range and the NodePort range.
func widenStep(e *env) (Step, bool) {
	sys := e.ports()
	if sys == nil {
		return Step{}, false
	}
	cur := sys.PortRange
	start := min(cur.Start, wideRangeStart)
	end := uint16(wideRangeEnd)
	if start%2 == end%2 {
		end-- // the kernel wants ends of different parity
	}
	if start >= cur.Start && end <= cur.End {
		return Step{Text: fmt.Sprintf("net.ipv4.ip_local_port_range is already wide (%d-%d); freeing ports from net.ipv4.ip_local_reserved_ports is the only way to add more here.", cur.Start, cur.End)}, true
	}
	wide := model.PortRange{Start: start, End: end}
	// Ports left for connect() now and after: the range less the reserved
	// ports and the listeners (bind() owns their ports).
	var reserved, now model.PortSet
	for _, r := range sys.Reserved {
		reserved.AddRange(r)
		now.AddRange(r)
	}
	reserveListeners(e, cur, &now)
	listening := reserveListeners(e, wide, &reserved)
	note := "no TCP service listens inside the new range now; add any port a service will listen on there"
	if len(listening) > 0 {
		note = "TCP ports listening inside the new range now: " + strings.Join(listening, ", ")
	}
	nodePortNote := ""
	if exposes(cur, wide, nodePorts) {
		reserved.AddRange(nodePorts)
		nodePortNote = fmt.Sprintf(" The new range also covers Kubernetes' NodePort range %d-%d, which on a Kubernetes node must stay apart from source ports: the command reserves it (%d ports; leave it out where no Kubernetes runs).",
			nodePorts.Start, nodePorts.End, int(nodePorts.End-nodePorts.Start)+1)
	}
	var cmds []string
	if list := formatPortList(&reserved); list != "" {
		cmds = append(cmds, "sysctl -w net.ipv4.ip_local_reserved_ports="+list)
	}
	cmds = append(cmds, fmt.Sprintf("sysctl -w net.ipv4.ip_local_port_range=\"%d %d\"", start, end))
	before, after := portsLeft(cur, &now), portsLeft(wide, &reserved)
	return Step{
		Text: fmt.Sprintf("Widen net.ipv4.ip_local_port_range from %d-%d to %d-%d: %d usable ports instead of %d, %s as many per destination. First put the ports services use inside the new range into net.ipv4.ip_local_reserved_ports, so they are never handed out as source ports (%s). UDP picks its automatic ports from the same range and reserved list (udp_lib_get_port), so add the ports UDP services bind inside it too (the doctor sees TCP sockets only).%s Persist both in /etc/sysctl.d/. An application may narrow its own range with IP_LOCAL_PORT_RANGE (Linux 6.3+, 6.1.32+); check it does not.",
			cur.Start, cur.End, start, end, after, before, times(float64(after)/float64(max(before, 1))), note, nodePortNote),
		Commands: cmds,
	}, true
}

// reserveListeners adds the TCP listening ports inside r to reserved and
// returns them.
func reserveListeners(e *env, r model.PortRange, reserved *model.PortSet) []string {
	if e.st == nil {
		return nil
	}
	var out []string
	for _, lp := range e.st.ListeningPorts() {
		if lp.Port >= r.Start && lp.Port <= r.End {
			out = append(out, strconv.Itoa(int(lp.Port)))
			reserved.AddRange(model.PortRange{Start: lp.Port, End: lp.Port})
		}
	}
	return out
}

// exposes reports whether widening cur to wide starts handing out ports of
// p: wide covers all of p and cur none of it (a range that already covers
// it shows the host does not keep those ports apart).
func exposes(cur, wide, p model.PortRange) bool {
	return wide.Start <= p.Start && wide.End >= p.End && (cur.End < p.Start || cur.Start > p.End)
}

// portsLeft counts the ports of r outside reserved.
func portsLeft(r model.PortRange, reserved *model.PortSet) int {
	n := 0
	for port := int(r.Start); port <= int(r.End); port++ {
		if !reserved.Has(uint16(port)) {
			n++
		}
	}
	return n
}

// times writes a factor the way the steps state their gain: "1.9×", "105×".
func times(f float64) string {
	if f >= 10 {
		return strconv.FormatFloat(f, 'f', 0, 64) + "×"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + "×"
}

// reuseGain says what tcp_tw_reuse=1 buys: a port held by a TIME_WAIT
// socket is free again after tcp_tw_reuse_delay (1 s before Linux 6.14,
// when the sysctl is absent) instead of TIME_WAIT's fixed 60 s.
func reuseGain(e *env) string {
	sysctl := e.integer(kread.KeyTwReuseDelay)
	delayMs := sysctl.Value
	if !sysctl.OK || delayMs <= 0 {
		delayMs = 1000
	}
	delay := strconv.FormatFloat(float64(delayMs)/1000, 'f', -1, 64)
	return fmt.Sprintf("Where it applies it lets about %s as many connections per second reach one destination: a port is reusable after tcp_tw_reuse_delay (%s s) instead of 60 s.",
		times(max(60000/float64(delayMs), 1)), delay)
}

// reuseStep is the last step for an exhausted destination: tcp_tw_reuse,
// as it applies on this host.
func reuseStep(e *env, loopback bool) Step {
	mode, ts, ok := e.reuse()
	what := "It lets an outgoing connect() take over the 4-tuple of a TIME_WAIT socket older than tcp_tw_reuse_delay (1 s by default); it affects outgoing connections only, never a listener, and works only when TCP timestamps were negotiated (tcp_timestamps on both ends). " + reuseGain(e) + " Each reuse counts in TcpExt TWRecycled."
	switch {
	case !ok:
		return Step{Text: "Set net.ipv4.tcp_tw_reuse=1. " + what, Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse=1"}}
	case ts == 0:
		return Step{
			Text:     "tcp_tw_reuse cannot help while net.ipv4.tcp_timestamps=0: turn timestamps on, then set net.ipv4.tcp_tw_reuse=1. " + what + " " + persist,
			Commands: []string{"sysctl -w net.ipv4.tcp_timestamps=1", "sysctl -w net.ipv4.tcp_tw_reuse=1"},
		}
	case mode == 1, mode == 2 && loopback:
		return Step{
			Text:     fmt.Sprintf("net.ipv4.tcp_tw_reuse=%d already applies to this destination: TIME_WAIT sockets old enough to reuse are not counted as held above, so the ports held are younger TIME_WAIT sockets and open connections. The count assumes the peer negotiated timestamps; where it did not, reuse cannot happen and more ports are held than shown. Check that reuse happens: TcpExt TWRecycled should rise.", mode),
			Commands: []string{"nstat -az TcpExtTWRecycled"},
		}
	}
	return Step{
		Text:     fmt.Sprintf("Set net.ipv4.tcp_tw_reuse=1 (now %d). ", mode) + what + " Leave tcp_tw_reuse_delay (Linux 6.14+) at its default: below a peer's timestamp clock tick it defeats PAWS protection. " + persist,
		Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse=1"},
	}
}
