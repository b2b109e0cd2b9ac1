// SPDX-License-Identifier: Apache-2.0

package model

import "math/bits"

// Why the per-flow capacity is smaller than timewait_ephemeral_ports_usable:
// __inet_hash_connect (net/ipv4/inet_hashtables.c) picks a local port for
// connect() by scanning ip_local_port_range and
//   - skips every port whose bind bucket bind() made
//     (tb->fastreuse >= 0 || tb->fastreuseport >= 0): listeners of either
//     family on any address (a wildcard IPv6 listener owns the port for
//     IPv4 too: the bucket is per port), sockets bound before connect()
//     and their TIME_WAIT sockets, which keep the bucket (tw_tb);
//   - scans remaining = high - low + 1 ports, rounded down to even
//     (remaining &= ~1U): in an odd-sized range one port is not scanned per
//     connect(), and which one moves with the per-destination offset, so
//     the range's last port is not guaranteed.
//
// Ports connect() bound itself (fastreuse -1) are shared between
// destinations; those of other flows cost this flow nothing.

// portCapacity is how many ports connect() can give one flow: the usable
// ports minus those bind() owns, minus one for an odd-sized range.
func portCapacity(usable, bindOwned int, oddRange bool) int {
	c := usable - bindOwned
	if oddRange {
		c--
	}
	return c
}

// OddSize reports whether r holds an odd number of ports (more than one):
// __inet_hash_connect then leaves one port of r out of each scan
// (remaining &= ~1U applies only above one port).
func (r PortRange) OddSize() bool {
	n := int(r.End) - int(r.Start) + 1
	return n > 1 && n%2 == 1
}

// utilizationOf is held over capacity, capped at 1: at 1 the next
// connect() of the flow fails. No capacity at all means it fails now.
func utilizationOf(held uint64, capacity int) float64 {
	if capacity <= 0 {
		return 1
	}
	return min(1, float64(held)/float64(capacity))
}

// add puts port in the set.
func (p *PortSet) add(port uint16) { p[port/64] |= 1 << (port % 64) }

// countIn counts the ports of in that are in any of sets.
func countIn(in *PortSet, sets ...*PortSet) int {
	n := 0
	for w := range in {
		var u uint64
		for _, s := range sets {
			u |= s[w]
		}
		n += bits.OnesCount64(u & in[w])
	}
	return n
}

// Capacity is the number of ports connect() can give one flow (source IP,
// destination IP and port): Usable minus the ephemeral ports that
// listeners (and, when dumped, bound_inactive sockets) own, minus one for
// an odd-sized range. Ports bind() took before connect() are not
// subtracted: the dump does not tell them from ports connect() chose.
func (st *SocketStats) Capacity() int {
	if st.ephemeral == nil {
		return 0
	}
	return portCapacity(st.usable, st.EphemeralPortsOwned(), st.oddRange)
}

// EphemeralPortsOwned counts the ephemeral ports the dump shows bind()
// owns: those with a listener of either family, on any address, and, when
// dumped, those of bound_inactive sockets. Capacity subtracts them.
func (st *SocketStats) EphemeralPortsOwned() int {
	if st.ephemeral == nil {
		return 0
	}
	return countIn(st.ephemeral, &st.listening, &st.bound)
}

// EphemeralPortsListening counts the ephemeral ports with a listener of
// either family, on any address.
func (st *SocketStats) EphemeralPortsListening() int {
	if st.ephemeral == nil {
		return 0
	}
	return countIn(st.ephemeral, &st.listening)
}

// EphemeralPortsInUse counts the distinct ephemeral ports any socket of
// the dump holds: listeners, connections in any state, TIME_WAIT, and
// bound_inactive sockets when dumped. Near Usable, with few sockets
// sharing a port, it is what bind() before connect() exhausts.
func (st *SocketStats) EphemeralPortsInUse() int {
	if st.ephemeral == nil {
		return 0
	}
	return countIn(st.ephemeral, &st.listening, &st.bound, &st.localPorts)
}

// OutboundPorts counts the distinct ephemeral local ports of outbound
// sockets, over every source IP and destination. connect() may give one
// port to several destinations (uniqueness is per 4-tuple), so this stays
// below OutboundSockets when it shares them.
func (st *SocketStats) OutboundPorts() int { return st.localPorts.Len() }

// MaxFlowSockets is the most outbound sockets of one (source IP,
// destination) flow, in any state, TIME_WAIT that tcp_tw_reuse may reuse
// included. A flow's sockets each have their own local port (its 4-tuples
// differ only there), so this is how many of OutboundPorts one flow alone
// explains. Unlike the utilisation ratio it ignores reuse: a port occupied
// by a reusable TIME_WAIT socket is still occupied for every other flow
// when bind() made its bucket.
func (st *SocketStats) MaxFlowSockets() uint64 {
	var most uint64
	for _, f := range st.flows {
		most = max(most, f.sockets)
	}
	return most
}
