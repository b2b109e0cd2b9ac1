// SPDX-License-Identifier: Apache-2.0

package sockdiag

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// dumpState is a dump in progress: the request in flight and what its
// replies said so far.
type dumpState struct {
	ctx         context.Context
	states      uint32
	family      uint8 // the family of the request in flight; AF_UNSPEC: TCPDIAG_GETSOCK
	inFlight    bool  // a request awaits its replies
	seen        int   // sockets the request in flight gave
	interrupted bool  // a reply of the request in flight carried NLM_F_DUMP_INTR
	fallback    bool  // the kernel refused TCPDIAG_GETSOCK: each family is asked in turn
	err         error
}

// Dump starts a dump of every TCP socket whose state is in states (a mask
// of StateMask bits); family is unix.AF_INET, unix.AF_INET6, or
// unix.AF_UNSPEC for both families. Next returns its sockets one reply of
// the kernel at a time, Err why it ended early. An earlier dump whose
// replies are not all read yet is read to its end first, its sockets
// dropped: the kernel runs one dump per netlink socket at a time and
// refuses another meanwhile (EBUSY, netlink_dump_start). One that ended
// with an error may still run in the kernel: close c rather than dump
// again.
//
// The kernel walks its whole established hash table once per request,
// whatever the family asked for, and that walk is most of a scrape's cost.
// So AF_UNSPEC uses the original TCPDIAG_GETSOCK request, which the kernel
// answers with one walk for both families (inet_diag_dump_compat sets
// AF_UNSPEC); where a kernel refuses it, Dump falls back to one
// SOCK_DIAG_BY_FAMILY request per family. The context's deadline bounds
// each read from the kernel.
func (c *Conn) Dump(ctx context.Context, family uint8, states uint32) {
	c.dump.fallback = false // the request in flight only: no other family is asked
	for _, ok := c.Next(); ok; _, ok = c.Next() {
	}
	c.dump = dumpState{ctx: ctx, states: states}
	c.send(family)
}

// send sends the request of family (AF_UNSPEC: TCPDIAG_GETSOCK) of the
// dump in progress.
func (c *Conn) send(family uint8) {
	d := &c.dump
	d.family, d.seen, d.interrupted = family, 0, false
	if d.err = c.setDeadline(d.ctx); d.err != nil {
		return
	}
	var req []byte
	if family == unix.AF_UNSPEC {
		req = c.compatRequest(d.states)
	} else {
		req = c.byFamilyRequest(family, d.states)
	}
	if _, err := unix.Write(c.fd, req); err != nil {
		d.err = fmt.Errorf("send sock_diag request: %w", err)
		return
	}
	d.inFlight = true
}

// Next reads the kernel's next reply of the dump and returns its sockets,
// valid until the next call; false once the dump is over (see Err). A
// reply may hold no socket.
func (c *Conn) Next() ([]Socket, bool) {
	d := &c.dump
	if !d.inFlight || d.err != nil {
		return nil, false
	}
	socks, done, err := c.readReply()
	d.seen += len(socks)
	switch {
	case err != nil && d.family == unix.AF_UNSPEC && d.seen == 0 && compatRefused(err):
		d.fallback = true
		c.send(unix.AF_INET)
	case err != nil:
		d.inFlight, d.err = false, err
	case done && d.interrupted:
		d.inFlight, d.err = false, ErrDumpInterrupted
	case done && d.family == unix.AF_INET && d.fallback:
		c.send(unix.AF_INET6)
	case done:
		d.inFlight = false
	}
	return socks, true
}

// Err is why the last dump ended early, nil if it ended complete: a dump
// the kernel flagged inconsistent ends with ErrDumpInterrupted.
func (c *Conn) Err() error { return c.dump.err }

// readReply reads and parses one reply of the request in flight.
func (c *Conn) readReply() (socks []Socket, done bool, err error) {
	d := &c.dump
	for {
		if err := d.ctx.Err(); err != nil {
			return nil, false, err
		}
		n, err := unix.Read(c.fd, c.bufs.buf)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return nil, false, fmt.Errorf("read sock_diag reply: %w", context.DeadlineExceeded)
		case err != nil:
			return nil, false, fmt.Errorf("read sock_diag reply: %w", err)
		}
		socks, done, intr, err := parseBatch(c.bufs.buf[:n], c.seq, c.bufs.socks[:0])
		c.bufs.socks = socks[:0] // keep what it grew to
		d.interrupted = d.interrupted || intr
		if d.states&StateMask(StateBoundInactive) != 0 {
			relabelBoundInactive(socks)
		}
		return socks, done, err
	}
}

// relabelBoundInactive gives the sockets of the kernel's bind-table walk
// their pseudo-state. bound_inactive is a request bit only: the kernel
// reports those sockets with their real state, CLOSE (inet_sk_diag_fill
// copies sk_state; commit 91051f003948). No other walk returns a CLOSE
// socket, since tcp_set_state unhashes a socket before it enters CLOSE.
func relabelBoundInactive(socks []Socket) {
	for i := range socks {
		if socks[i].State == StateClose {
			socks[i].State = StateBoundInactive
		}
	}
}

// compatRefused tells whether a kernel rejected TCPDIAG_GETSOCK itself, as
// opposed to failing the dump.
func compatRefused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EAFNOSUPPORT)
}
