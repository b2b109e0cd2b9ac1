// SPDX-License-Identifier: Apache-2.0

package model

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// ReusePolicy is what the kernel lets connect() do with TIME_WAIT sockets,
// from tcp_tw_reuse, tcp_timestamps and tcp_tw_reuse_delay.
type ReusePolicy struct {
	Mode       int64 // tcp_tw_reuse: 0 off, 1 on, 2 loopback only
	Timestamps bool
	Delay      time.Duration
}

// reusable reports whether connect() may take over this TIME_WAIT socket's
// 4-tuple (net/ipv4/tcp_ipv4.c tcp_twsk_unique), assuming the peer
// negotiated timestamps, which sock_diag does not show.
func (p ReusePolicy) reusable(s *sockdiag.Socket, src, dst netip.Addr) bool {
	if s.State != sockdiag.StateTimeWait || !p.Timestamps {
		return false
	}
	switch p.Mode {
	case 1:
	case 2:
		if !src.IsLoopback() && !dst.IsLoopback() {
			return false
		}
	default:
		return false
	}
	return Age(s.Expires) >= p.Delay
}

// flowKey is one (source IP, destination IP:port): the unit connect()
// exhausts. Addresses are kept in their 16-byte form (IPv4 v4-mapped, so an
// IPv4 socket and a v4-mapped IPv6 one share a flow): plain words that
// flowTable hashes with a few multiplications, where a Go map keyed by
// netip values spent more time hashing than the rest of Add together.
type flowKey struct {
	src, dst [16]byte
	port     uint16
}

func (k *flowKey) hash() uint64 {
	le := binary.LittleEndian
	h := le.Uint64(k.src[:8])*0x9e3779b97f4a7c15 ^
		le.Uint64(k.src[8:])*0xc2b2ae3d27d4eb4f ^
		le.Uint64(k.dst[:8])*0x165667b19e3779f9 ^
		le.Uint64(k.dst[8:])*0xd6e8feb86659fd93 ^
		uint64(k.port)*0xff51afd7ed558ccd
	return h ^ h>>31
}

// flowTable maps flow keys to their index in SocketStats.keys and flows:
// open addressing with linear probing, slots hold index+1 (0 is empty) and
// stay at most half full.
type flowTable struct {
	slots []int32
	shift uint
}

// find returns the index of key among keys, or -1 and the slot to fill.
func (t *flowTable) find(key *flowKey, keys []flowKey) (int32, uint64) {
	mask := uint64(len(t.slots) - 1)
	for i := (key.hash() * 0x9e3779b97f4a7c15) >> t.shift; ; i = (i + 1) & mask {
		j := t.slots[i]
		if j == 0 {
			return -1, i
		}
		if keys[j-1] == *key {
			return j - 1, i
		}
	}
}

// insert records that keys[n-1] is in slot; it grows the table once half
// full.
func (t *flowTable) insert(slot uint64, keys []flowKey) {
	n := len(keys)
	t.slots[slot] = int32(n)
	if 2*n < len(t.slots) {
		return
	}
	t.slots = make([]int32, 2*len(t.slots))
	t.shift--
	for j := range keys {
		_, free := t.find(&keys[j], keys[:j])
		t.slots[free] = int32(j + 1)
	}
}

func newFlowTable() flowTable {
	const bits = 8
	return flowTable{slots: make([]int32, 1<<bits), shift: 64 - bits}
}

func (k flowKey) srcAddr() netip.Addr { return netip.AddrFrom16(k.src).Unmap() }

func (k flowKey) dstAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.dst).Unmap(), k.port)
}

type flowStat struct {
	timeWait uint64
	held     uint64 // sockets holding an ephemeral port that connect() cannot reuse
	sockets  uint64 // every socket, reusable TIME_WAIT included: the ports the flow occupies
}

// SocketStats is everything one sock_diag dump tells: counts per family and
// state, and the TIME_WAIT pressure per destination and listening port.
type SocketStats struct {
	// States counts sockets by [0 ipv4, 1 ipv6][state].
	States [2][sockdiag.MaxState + 1]uint64

	ephemeral *PortSet
	usable    int
	reuse     ReusePolicy
	// listening is the set of listening ports; inbound counts the inbound
	// TIME_WAIT sockets by local port, allocated at the first one. A bitmap
	// and an array: constant time per socket, no hashing.
	listening PortSet
	inbound   []uint32
	flowIndex flowTable
	flows     []flowStat
	keys      []flowKey
	// localPorts are the ephemeral ports outbound sockets use, any
	// destination: the doctor compares their number with the pool to spot
	// bind-before-connect.
	localPorts PortSet
	// bound are the ports of bound_inactive sockets (dumped only when
	// asked): bind() owns them, so connect() skips them.
	bound    PortSet
	oddRange bool // ip_local_port_range has an odd number of ports
	// TimeWait splits TIME_WAIT sockets by direction.
	TimeWait struct{ Outbound, Inbound, Other uint64 }
}

// NewSocketStats starts an aggregation. ephemeral is the set of ports
// connect() picks from (nil: pressure is not computed).
func NewSocketStats(ephemeral *PortSet, reuse ReusePolicy) *SocketStats {
	st := &SocketStats{
		ephemeral: ephemeral,
		reuse:     reuse,
		flowIndex: newFlowTable(),
	}
	if ephemeral != nil {
		st.usable = ephemeral.Len()
	}
	return st
}

// NewSocketStatsForRange starts an aggregation for the ephemeral ports of
// ip_local_port_range rng without ip_local_reserved_ports reserved, with
// the range's parity (see Capacity).
func NewSocketStatsForRange(rng PortRange, reserved []PortRange, reuse ReusePolicy) *SocketStats {
	st := NewSocketStats(EphemeralPorts(rng, reserved), reuse)
	st.oddRange = rng.OddSize()
	return st
}

// Add counts one socket. It allocates only for a flow not seen before.
//
// The kernel dumps listening sockets before all others
// (inet_diag_dump_icsk walks the listening hash first), so every inbound
// socket arrives after its listener. (Dumped per family, the same holds: a
// connection accepted by a listener has the listener's family.)
func (st *SocketStats) Add(s *sockdiag.Socket) {
	fam := 0
	if s.Family == unix.AF_INET6 {
		fam = 1
	}
	if int(s.State) < len(st.States[fam]) {
		st.States[fam][s.State]++
	}
	lport := s.Src.Port()
	if s.State == sockdiag.StateListen {
		st.listening.add(lport)
		return
	}
	if s.State == sockdiag.StateBoundInactive {
		st.bound.add(lport)
		return
	}
	tw := s.State == sockdiag.StateTimeWait
	if st.listening.Has(lport) {
		if tw {
			if st.inbound == nil {
				st.inbound = make([]uint32, 1<<16)
			}
			st.inbound[lport]++
			st.TimeWait.Inbound++
		}
		return
	}
	if st.ephemeral == nil || !st.ephemeral.Has(lport) {
		if tw {
			st.TimeWait.Other++
		}
		return
	}
	st.localPorts.add(lport)
	key := flowKey{src: s.Src.Addr().As16(), dst: s.Dst.Addr().As16(), port: s.Dst.Port()}
	i, slot := st.flowIndex.find(&key, st.keys)
	if i < 0 {
		i = int32(len(st.flows))
		st.flows = append(st.flows, flowStat{})
		st.keys = append(st.keys, key)
		st.flowIndex.insert(slot, st.keys)
	}
	f := &st.flows[i]
	f.sockets++
	if tw {
		f.timeWait++
		st.TimeWait.Outbound++
	}
	if !tw || !st.reuse.reusable(s, s.Src.Addr().Unmap(), s.Dst.Addr().Unmap()) {
		f.held++
	}
}

// TimeWaitSockets counts the TIME_WAIT sockets of the dump, both families.
func (st *SocketStats) TimeWaitSockets() uint64 {
	return st.States[0][sockdiag.StateTimeWait] + st.States[1][sockdiag.StateTimeWait]
}

// HasPressure reports whether the port policy was known, so that the
// per-destination and per-port figures mean something.
func (st *SocketStats) HasPressure() bool { return st.ephemeral != nil }

// Usable is the size of the ephemeral set: ip_local_port_range minus
// ip_local_reserved_ports. Capacity is what one flow can have of it.
func (st *SocketStats) Usable() int { return st.usable }

// OutboundSockets counts the sockets whose local port is ephemeral, any
// state: above OutboundPorts when destinations share ports.
func (st *SocketStats) OutboundSockets() uint64 {
	var n uint64
	for _, f := range st.flows {
		n += f.sockets
	}
	return n
}

// Destination is the pressure towards one remote ip:port.
type Destination struct {
	Addr     netip.AddrPort
	Name     string // configured name, "" otherwise
	TimeWait uint64
	// Held is the busiest source IP's count of sockets holding an ephemeral
	// port towards Addr that connect() cannot reuse.
	Held   uint64
	Source netip.Addr // that busiest source IP
	// Utilization is Held / Capacity, at most 1: 1 means the next
	// connect() from Source to Addr fails with EADDRNOTAVAIL (unless
	// bind() before connect() took ports Capacity could not see).
	Utilization float64
}

// ListeningPort is the server-side TIME_WAIT of one listening port.
type ListeningPort struct {
	Port     uint16
	TimeWait uint64
}

// Destinations returns every outbound destination, busiest first.
func (st *SocketStats) Destinations() []Destination {
	byDst := map[netip.AddrPort]int{}
	var out []Destination
	for i, k := range st.keys {
		f := st.flows[i]
		dst := k.dstAddrPort()
		j, ok := byDst[dst]
		if !ok {
			j = len(out)
			byDst[dst] = j
			out = append(out, Destination{Addr: dst})
		}
		d := &out[j]
		d.TimeWait += f.timeWait
		if f.held > d.Held || !d.Source.IsValid() {
			d.Held, d.Source = f.held, k.srcAddr()
		}
	}
	capacity := st.Capacity()
	for i := range out {
		out[i].Utilization = utilizationOf(out[i].Held, capacity)
	}
	slices.SortFunc(out, ByTimeWait)
	return out
}

// MaxUtilization is the worst flow's utilisation on the host, 0 when the
// port policy is unknown.
func (st *SocketStats) MaxUtilization() float64 {
	if !st.HasPressure() {
		return 0
	}
	var most uint64
	for _, f := range st.flows {
		most = max(most, f.held)
	}
	return utilizationOf(most, st.Capacity())
}

// ListeningPorts returns every listening port, busiest first.
func (st *SocketStats) ListeningPorts() []ListeningPort {
	out := make([]ListeningPort, 0, st.listening.Len())
	for w, set := range st.listening {
		for ; set != 0; set &= set - 1 {
			p := uint16(w*64 + bits.TrailingZeros64(set))
			var tw uint64
			if st.inbound != nil {
				tw = uint64(st.inbound[p])
			}
			out = append(out, ListeningPort{Port: p, TimeWait: tw})
		}
	}
	slices.SortFunc(out, func(a, b ListeningPort) int {
		return cmp.Or(cmp.Compare(b.TimeWait, a.TimeWait), cmp.Compare(a.Port, b.Port))
	})
	return out
}
