// SPDX-License-Identifier: Apache-2.0

package twgen

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Conns are client sockets held open: ESTABLISHED, their server side
// waiting unaccepted in the listener's queue, each keeping its local port
// until Close. Tests use them to fill the ephemeral ports for real and let
// the kernel say when they run out.
type Conns struct{ fds []int }

// Len is the number of connections held.
func (c *Conns) Len() int { return len(c.fds) }

// Close closes every connection.
func (c *Conns) Close() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
}

// Connect opens one blocking connection to target (any listener, not only
// a Server's). With bindTo valid it first binds the socket to (bindTo, 0),
// as a client that picks its source IP without IP_BIND_ADDRESS_NO_PORT
// does: the port then comes from bind() (its bucket is bind()'s, and
// __inet_hash_connect never hands it to another connect()).
func (c *Conns) Connect(target netip.AddrPort, bindTo netip.Addr) error {
	fd, err := unix.Socket(family(target.Addr()), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if bindTo.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(bindTo, 0))); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind %s:0: %w", bindTo, err)
		}
	}
	if err := unix.Connect(fd, sockaddr(target)); err != nil {
		unix.Close(fd)
		return fmt.Errorf("connect %s: %w", target, err)
	}
	c.fds = append(c.fds, fd)
	return nil
}

// ErrNotExhausted is returned by Exhaust when connect() still succeeded
// after its limit.
var ErrNotExhausted = errors.New("connect() did not run out of ports")

// Exhaust connects to target (connect() choosing the port) and holds each
// connection until connect() fails, calling before(n) ahead of every
// attempt with n the connections it made so far. It returns n and the
// error that stopped it: one wrapping EADDRNOTAVAIL when the ports ran
// out, ErrNotExhausted after limit successes.
func (c *Conns) Exhaust(target netip.AddrPort, limit int, before func(n int)) (int, error) {
	for n := 0; ; n++ {
		if n == limit {
			return n, ErrNotExhausted
		}
		before(n)
		if err := c.Connect(target, netip.Addr{}); err != nil {
			return n, err
		}
	}
}
