// SPDX-License-Identifier: Apache-2.0

package churn

import (
	"net/netip"
	"slices"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

// Flow is one (source IP, destination ip:port): the unit connect()
// exhausts. Addresses are unmapped, so an IPv4 socket and a v4-mapped
// IPv6 one share a flow, as they share ports.
type Flow struct {
	Src netip.Addr
	Dst netip.AddrPort
}

// Sockets are what a dump showed of one flow or listening port: when its
// TIME_WAIT sockets entered TIME_WAIT, and the inodes of its live ones.
type Sockets struct {
	// Expires is each TIME_WAIT socket's idiag_expires (ms left).
	Expires []uint32
	// Inodes are the live sockets' inodes (0, an orphan, is left out):
	// /proc/<pid>/fd of their holders links to "socket:[inode]".
	Inodes []uint32
	// Cgroups are the distinct cgroup v2 ids of those sockets (where the
	// kernel sends them) and UIDs their distinct owners: where the owner
	// lookup looks first.
	Cgroups []uint64
	UIDs    []uint32
}

// Ages are the ages of the TIME_WAIT sockets.
func (s *Sockets) Ages() []time.Duration {
	if s == nil {
		return nil
	}
	out := make([]time.Duration, len(s.Expires))
	for i, e := range s.Expires {
		out[i] = model.Age(e)
	}
	return out
}

// Recorder keeps, for one dump, what Sockets says of every outbound flow
// and every listening port: the doctor's detail beyond the counts of
// kernel.SocketStats. It costs a map lookup and four bytes per socket,
// so it is used when the doctor runs, never on a scrape.
type Recorder struct {
	flows map[Flow]*Sockets
	// ports holds the listening ports; inbound sockets (their local port
	// is one) and the listeners themselves are recorded under it.
	ports map[uint16]*Sockets
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{flows: map[Flow]*Sockets{}, ports: map[uint16]*Sockets{}}
}

// Add records one socket of the dump. The kernel dumps listening sockets
// first (inet_diag_dump_icsk walks the listening hash before the
// established one), so an inbound socket comes after its listener.
func (r *Recorder) Add(s *sockdiag.Socket) {
	lport := s.Src.Port()
	var rec *Sockets
	switch {
	case s.State == sockdiag.StateListen:
		rec = r.ports[lport]
		if rec == nil {
			rec = &Sockets{}
			r.ports[lport] = rec
		}
	case r.ports[lport] != nil:
		rec = r.ports[lport]
	case s.State == sockdiag.StateBoundInactive:
		return
	default:
		f := Flow{Src: s.Src.Addr().Unmap(), Dst: netip.AddrPortFrom(s.Dst.Addr().Unmap(), s.Dst.Port())}
		rec = r.flows[f]
		if rec == nil {
			rec = &Sockets{}
			r.flows[f] = rec
		}
	}
	switch {
	case s.State == sockdiag.StateTimeWait:
		rec.Expires = append(rec.Expires, s.Expires)
	case s.Inode != 0:
		rec.Inodes = append(rec.Inodes, s.Inode)
		// A flow's sockets come from a few cgroups (one service, one
		// pod), so a scan of the list is cheaper than a set per flow.
		if s.CgroupID != 0 && !slices.Contains(rec.Cgroups, s.CgroupID) {
			rec.Cgroups = append(rec.Cgroups, s.CgroupID)
		}
		if !slices.Contains(rec.UIDs, s.UID) {
			rec.UIDs = append(rec.UIDs, s.UID)
		}
	}
}

// Flow is what was recorded of flow f, nil if nothing.
func (r *Recorder) Flow(f Flow) *Sockets {
	if r == nil {
		return nil
	}
	return r.flows[f]
}

// Port is what was recorded of listening port p, nil if it was not one.
func (r *Recorder) Port(p uint16) *Sockets {
	if r == nil {
		return nil
	}
	return r.ports[p]
}
