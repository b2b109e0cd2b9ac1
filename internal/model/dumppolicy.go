// SPDX-License-Identifier: Apache-2.0

package model

// Which namespaces need the sock_diag dump (netns.dump: busy).
//
// Namespaces share the kernel's TCP hash tables by default, so the dump of
// each one walks every socket of the host; a node of many quiet namespaces
// pays for the busy ones over and over. The namespace's sockstat, which the
// kernel keeps per namespace, bounds what the dump could find:
//
//   - inuse (sockstat and sockstat6) counts the sockets of the namespace
//     that are hashed: listeners and every connection from SYN_SENT to
//     LAST_ACK (sock_prot_inuse_add on hash and unhash); tw counts its
//     TIME_WAIT and FIN_WAIT2 mini-sockets (tcp_death_row, both families).
//     Every socket the dump can count as holding a port towards a
//     destination is in one of them, so N = inuse + inuse6 + tw bounds the
//     busiest flow's held sockets, whatever its destination and source.
//   - The dump's capacity is usable - L - odd, where L are the ephemeral
//     ports listeners own. Each such port has a listener counted in N but
//     not held, so the ratio is at most (N-L)/(U-L) with U = usable - odd,
//     which is at most N/U whenever N <= U. Not seeing L is therefore
//     conservative, as is ignoring tcp_tw_reuse (it only lowers held).
//
// So a namespace with N/U below the utilisation warning has every ratio
// below it, and skipping its dump hides no pressured namespace. The bound
// does not hold for the ports of bound sockets that neither listen nor
// are connected (neither inuse nor tw counts them): with --collector.sockets.bound-inactive,
// whose ratios subtract them, every namespace is dumped.

// DumpDecision is the outcome of the cheap check of one namespace.
type DumpDecision struct {
	Skip     bool
	MaxRatio float64 // N/U capped at 1: no flow's ratio can exceed it
}

// DecideDump decides whether a dump of a namespace with n sockets (inuse,
// inuse6 and tw of its sockstat) and usable ephemeral ports (odd: an
// odd-sized range) could find any flow at or above warning; it skips only
// when none can.
func DecideDump(n, usable int, odd bool, warning float64) DumpDecision {
	bound := utilizationOf(uint64(max(n, 0)), portCapacity(usable, 0, odd))
	return DumpDecision{Skip: bound < warning, MaxRatio: bound}
}
