// SPDX-License-Identifier: Apache-2.0

// Package sockdiag reads TCP sockets from the kernel's NETLINK_SOCK_DIAG
// interface (inet_diag), the same dump `ss -tan` uses.
//
// It is built for hosts with hundreds of thousands of sockets: one reused
// receive buffer, replies parsed in place into a reused slice that the
// caller takes one reply at a time (Next) and must not retain. A dump
// allocates nothing per socket. It knows nothing of Prometheus.
package sockdiag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TCP states as numbered by the kernel (include/net/tcp_states.h).
const (
	StateEstablished   = 1
	StateSynSent       = 2
	StateSynRecv       = 3
	StateFinWait1      = 4
	StateFinWait2      = 5
	StateTimeWait      = 6
	StateClose         = 7
	StateCloseWait     = 8
	StateLastAck       = 9
	StateListen        = 10
	StateClosing       = 11
	StateNewSynRecv    = 12
	StateBoundInactive = 13
	MaxState           = StateBoundInactive
)

// AllStates asks for every state but bound_inactive. Asking for
// bound_inactive makes the kernel walk its bind hash table as well.
const AllStates uint32 = (1<<(StateNewSynRecv+1) - 1) &^ 1

// StateMask returns the idiag_states bit of one state.
func StateMask(state uint8) uint32 { return 1 << state }

// Wire layout (include/uapi/linux/netlink.h, inet_diag.h, sock_diag.h).
const (
	nlmsgHdrLen      = 16
	inetDiagReqV2Len = 56 // struct inet_diag_req_v2
	inetDiagReqLen   = 60 // struct inet_diag_req, the original request
	inetDiagMsgLen   = 72
	inetDiagCgroupID = 21 // INET_DIAG_CGROUP_ID, an attribute of a full socket's reply
	sockDiagByFamily = 20
	tcpDiagGetSock   = 18 // TCPDIAG_GETSOCK
	nlmFDumpIntr     = 0x10

	// recvBufSize is above the 32 KiB the kernel caps one dump message batch
	// at, so a read never truncates.
	recvBufSize = 64 << 10
)

// ErrDumpInterrupted is returned when the kernel flagged the dump as
// inconsistent (NLM_F_DUMP_INTR): the socket tables changed under it. The
// numbers seen are still approximately right; callers may retry once.
var ErrDumpInterrupted = errors.New("sock_diag dump interrupted by concurrent change (NLM_F_DUMP_INTR)")

// Socket is one inet_diag_msg. It is valid until the next call of Next.
type Socket struct {
	Family  uint8 // unix.AF_INET or unix.AF_INET6
	State   uint8
	Timer   uint8  // 3 for a TIME_WAIT timer
	Expires uint32 // milliseconds until the timer fires
	Src     netip.AddrPort
	Dst     netip.AddrPort
	UID     uint32
	Inode   uint32
	// CgroupID is the cgroup v2 id of the task that created the socket
	// (INET_DIAG_CGROUP_ID, Linux 5.9+); 0 when the kernel sent none, as
	// for TIME_WAIT and request sockets.
	CgroupID uint64
}

// Conn is a NETLINK_SOCK_DIAG socket. It belongs to the network namespace of
// the thread that opened it. A Conn is not safe for concurrent use.
type Conn struct {
	fd   int
	seq  uint32
	bufs *connBufs // from recvBufs, given back by Close
	req  [nlmsgHdrLen + inetDiagReqLen]byte
	dump dumpState // of the dump in progress
}

// connBufs are a connection's receive buffer and the sockets of the last
// reply, reused by every dump and, through recvBufs, by the next
// connection.
type connBufs struct {
	buf   []byte
	socks []Socket
}

// Open opens a sock_diag socket in the calling thread's network namespace.
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open NETLINK_SOCK_DIAG socket: %w", err)
	}
	// Connecting to the kernel (port 0) makes the socket drop anything sent
	// by another process, so a reply can only come from the kernel.
	if err := unix.Connect(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect NETLINK_SOCK_DIAG socket: %w", err)
	}
	return &Conn{fd: fd, bufs: recvBufs.Get().(*connBufs)}, nil
}

// recvBufs are the buffers of closed connections: a scrape with
// --netns.discover opens one in every namespace it dumps, and a fresh
// buffer for each was most of the memory such a scrape allocated (64 KiB
// per namespace, the kernel's reply to an idle one being a few bytes).
var recvBufs = sync.Pool{New: func() any {
	return &connBufs{buf: make([]byte, recvBufSize), socks: make([]Socket, 0, maxReplySockets)}
}}

// maxReplySockets is the most sockets one read of recvBufSize can hold
// (each a netlink header and an inet_diag_msg at least): a reply's slice
// never grows past it.
const maxReplySockets = recvBufSize / (nlmsgHdrLen + inetDiagMsgLen)

// Close releases the socket and its buffers. c must not be used after.
func (c *Conn) Close() error {
	if c.bufs != nil {
		recvBufs.Put(c.bufs)
		c.bufs = nil
	}
	return unix.Close(c.fd)
}

// setDeadline turns the context deadline into SO_RCVTIMEO, so that a kernel
// that stops answering cannot hang a scrape.
func (c *Conn) setDeadline(ctx context.Context) error {
	var tv unix.Timeval
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return context.DeadlineExceeded
		}
		tv = unix.NsecToTimeval(left.Nanoseconds())
	}
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("set sock_diag receive timeout: %w", err)
	}
	return nil
}

// byFamilyRequest builds a SOCK_DIAG_BY_FAMILY request (struct
// inet_diag_req_v2) for one family.
func (c *Conn) byFamilyRequest(family uint8, states uint32) []byte {
	r := c.header(sockDiagByFamily, inetDiagReqV2Len)
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:], states)
	// idiag_ext 0: no extensions, the reply is the bare 72-byte message.
	// inet_diag_sockid (r[8:56]) all zero but the cookie: no filter.
	binary.NativeEndian.PutUint64(r[48:], ^uint64(0)) // INET_DIAG_NOCOOKIE
	return c.req[:nlmsgHdrLen+inetDiagReqV2Len]
}

// compatRequest builds a TCPDIAG_GETSOCK request (struct inet_diag_req):
// both families, TCP implied by the message type.
func (c *Conn) compatRequest(states uint32) []byte {
	r := c.header(tcpDiagGetSock, inetDiagReqLen)
	// idiag_family is ignored for a dump; inet_diag_sockid at r[4:52].
	binary.NativeEndian.PutUint64(r[44:], ^uint64(0)) // INET_DIAG_NOCOOKIE
	binary.NativeEndian.PutUint32(r[52:], states)
	return c.req[:nlmsgHdrLen+inetDiagReqLen]
}

// header starts a dump request of the given type with a new sequence number
// and returns the zeroed body of bodyLen bytes after the netlink header.
func (c *Conn) header(typ uint16, bodyLen int) []byte {
	c.seq++
	b := c.req[:nlmsgHdrLen+bodyLen]
	clear(b)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], c.seq)
	return b[nlmsgHdrLen:]
}

// parseBatch walks the netlink messages of one read and appends their
// sockets to socks, which it returns. It reports whether the dump is
// complete (NLMSG_DONE) and whether a message carried NLM_F_DUMP_INTR.
// Messages of another sequence number are ignored. It allocates only to
// grow socks, which a reused slice stops doing after its first reads.
func parseBatch(b []byte, seq uint32, socks []Socket) (_ []Socket, done, interrupted bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		msgLen := ne.Uint32(b[0:])
		if msgLen < nlmsgHdrLen || int(msgLen) > len(b) {
			return socks, false, interrupted, fmt.Errorf("malformed netlink message: length %d with %d bytes left", msgLen, len(b))
		}
		typ, flags, msgSeq := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:])
		payload := b[nlmsgHdrLen:msgLen]
		b = b[min(nlmsgAlign(msgLen), len(b)):]
		if msgSeq != seq {
			continue
		}
		interrupted = interrupted || flags&nlmFDumpIntr != 0
		switch typ {
		case unix.NLMSG_DONE:
			// The payload is the dump's final status, negative on error.
			if len(payload) >= 4 {
				if code := int32(ne.Uint32(payload)); code < 0 {
					return socks, true, interrupted, fmt.Errorf("sock_diag dump failed: %w", unix.Errno(-code))
				}
			}
			return socks, true, interrupted, nil
		case unix.NLMSG_ERROR:
			if len(payload) < 4 {
				return socks, true, interrupted, errors.New("malformed netlink error message")
			}
			code := int32(ne.Uint32(payload))
			if code == 0 { // an ACK; not expected for a dump, harmless
				continue
			}
			return socks, true, interrupted, fmt.Errorf("sock_diag request refused: %w", unix.Errno(-code))
		case sockDiagByFamily, tcpDiagGetSock: // the reply has the request's type
			if len(payload) < inetDiagMsgLen {
				return socks, false, interrupted, fmt.Errorf("short inet_diag_msg: %d bytes", len(payload))
			}
			socks = append(socks, Socket{})
			decodeMsg(payload, &socks[len(socks)-1])
		}
	}
	return socks, false, interrupted, nil
}

// decodeMsg fills s from struct inet_diag_msg. Ports are big-endian,
// addresses are 16 bytes with IPv4 in the first four.
func decodeMsg(p []byte, s *Socket) {
	ne := binary.NativeEndian
	s.Family, s.State, s.Timer = p[0], p[1], p[2]
	sport, dport := binary.BigEndian.Uint16(p[4:]), binary.BigEndian.Uint16(p[6:])
	if s.Family == unix.AF_INET {
		s.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[8:12])), sport)
		s.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[24:28])), dport)
	} else {
		s.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[8:24])), sport)
		s.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[24:40])), dport)
	}
	s.Expires = ne.Uint32(p[52:])
	s.UID = ne.Uint32(p[64:])
	s.Inode = ne.Uint32(p[68:])
	s.CgroupID = cgroupID(p[inetDiagMsgLen:])
}

// cgroupID finds INET_DIAG_CGROUP_ID among the attributes that follow an
// inet_diag_msg. inet_diag_msg_attrs_fill (net/ipv4/inet_diag.c) puts it
// in every full socket's reply, whatever extensions were asked for, as
// cgroup_id(sock_cgroup_ptr(&sk->sk_cgrp_data)): the cgroup v2 the socket
// was created in (cgroup_sk_alloc), which is its kernfs inode number.
func cgroupID(attrs []byte) uint64 {
	ne := binary.NativeEndian
	for len(attrs) >= 4 {
		n, typ := int(ne.Uint16(attrs[0:])), ne.Uint16(attrs[2:])
		if n < 4 || n > len(attrs) {
			return 0
		}
		if typ == inetDiagCgroupID && n == 12 {
			return ne.Uint64(attrs[4:])
		}
		attrs = attrs[min(nlmsgAlign(uint32(n)), len(attrs)):]
	}
	return 0
}

func nlmsgAlign(n uint32) int { return int((n + 3) &^ 3) }
