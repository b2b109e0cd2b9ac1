// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

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

// DecideDump decides from sockstat and the port sysctls whether a dump
// could find any flow at or above warning; it skips only when none can.
func DecideDump(st *Sockstat, sys *Sysctls, warning float64) (DumpDecision, error) {
	if st == nil || sys == nil {
		return DumpDecision{}, errors.New("no sockstat or sysctls")
	}
	if st.InUse == nil || st.TimeWait == nil {
		return DumpDecision{}, errors.New("sockstat lacks TCP inuse or tw")
	}
	n := *st.InUse + *st.TimeWait
	if st.InUse6 != nil {
		n += *st.InUse6
	}
	return decide(n, sys.EphemeralPorts().Len(), sys.PortRange.OddSize(), warning), nil
}

// decide is DecideDump on the counts: n sockets, usable ports.
func decide(n, usable int, odd bool, warning float64) DumpDecision {
	bound := utilizationOf(uint64(max(n, 0)), portCapacity(usable, 0, odd))
	return DumpDecision{Skip: bound < warning, MaxRatio: bound}
}

// DecideDump reads the namespace's sockstat and sysctls (memoised for the
// collectors that export them) and decides whether its dump can be
// skipped. On any error the namespace is dumped.
func (s *Scope) DecideDump(warning float64) (DumpDecision, error) {
	sys, err := ForPressure(s.Sysctls())
	if err != nil {
		return DumpDecision{}, fmt.Errorf("dump decision: %w", err)
	}
	st, err := s.Sockstat()
	if err != nil {
		return DumpDecision{}, fmt.Errorf("dump decision: %w", err)
	}
	return DecideDump(st, sys, warning)
}

// DumpTally counts the namespaces whose dump one scrape skipped.
type DumpTally struct{ skipped atomic.Int64 }

// Skipped is how many were skipped so far.
func (t *DumpTally) Skipped() int {
	if t == nil {
		return 0
	}
	return int(t.skipped.Load())
}

// CountSkip records that the dump of scope s was skipped, in the tally of
// its scrape (if any).
func (s *Scope) CountSkip() {
	if s.Dumps != nil {
		s.Dumps.skipped.Add(1)
	}
}

// sockstatOnce is a scope's sockstat, read once: the dump decision and the
// sockstat collector of a foreign namespace share the read.
type sockstatOnce struct {
	once sync.Once
	st   *Sockstat
	err  error
}

// Sockstat is ReadSockstat, read once per scope.
func (s *Scope) Sockstat() (*Sockstat, error) {
	s.sockstat.once.Do(func() { s.sockstat.st, s.sockstat.err = ReadSockstat(s) })
	return s.sockstat.st, s.sockstat.err
}
