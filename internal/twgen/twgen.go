// Package twgen makes real TIME_WAIT sockets on loopback for tests and
// benchmarks: it runs listeners and opens and closes connections to them so
// that the chosen side closes first and keeps the TIME_WAIT socket.
package twgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Side is who closes first, and so who holds the TIME_WAIT socket.
type Side int

const (
	// ClientCloses leaves TIME_WAIT on the client: outbound, local port
	// ephemeral, the kind that exhausts ports towards a destination.
	ClientCloses Side = iota
	// ServerCloses leaves TIME_WAIT on the server: inbound, local port is
	// the listening port.
	ServerCloses
)

// Server listens on a set of loopback ports. Accepted connections are
// closed according to the Side each client asks for (by its first byte);
// Close waits until every accepted connection has been closed, so none is
// reset when the process exits.
type Server struct {
	listeners []net.Listener
	conns     sync.WaitGroup
	accepts   sync.WaitGroup
}

// Listen starts listeners on addr at each port (0 picks one).
func Listen(addr netip.Addr, ports ...uint16) (*Server, error) {
	s := &Server{}
	for _, p := range ports {
		l, err := net.Listen("tcp", netip.AddrPortFrom(addr, p).String())
		if err != nil {
			s.Close()
			return nil, err
		}
		s.listeners = append(s.listeners, l)
		s.accepts.Add(1)
		go s.serve(l)
	}
	return s, nil
}

// Addrs returns the listening addresses.
func (s *Server) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr().(*net.TCPAddr).AddrPort()
	}
	return out
}

func (s *Server) serve(l net.Listener) {
	defer s.accepts.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer c.Close()
			var mode [1]byte
			if _, err := io.ReadFull(c, mode[:]); err != nil {
				return
			}
			if Side(mode[0]) == ClientCloses {
				// Wait for the client's FIN, so the client closed first.
				_, _ = io.Copy(io.Discard, c)
			}
		}()
	}
}

// Close stops the listeners and waits for every connection to finish.
func (s *Server) Close() {
	for _, l := range s.listeners {
		l.Close()
	}
	s.accepts.Wait()
	s.conns.Wait()
}

// Dial opens count connections spread round-robin over targets, with the
// given parallelism, closing each so that side ends in TIME_WAIT. It
// returns how many connections completed; a connect() that fails with
// EADDRNOTAVAIL (ports exhausted) stops the run with that error.
func Dial(ctx context.Context, targets []netip.AddrPort, count, parallel int, side Side) (int, error) {
	if len(targets) == 0 || count <= 0 {
		return 0, nil
	}
	var next, done atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < max(parallel, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(count) {
					return
				}
				if err := dialOne(ctx, &d, targets[int(i)%len(targets)], side); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		firstErr = ctx.Err()
	}
	return int(done.Load()), firstErr
}

func dialOne(ctx context.Context, d *net.Dialer, target netip.AddrPort, side Side) error {
	c, err := d.DialContext(ctx, "tcp", target.String())
	if err != nil {
		return fmt.Errorf("connect %s: %w", target, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{byte(side)}); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if side == ClientCloses {
		// Send our FIN first (so this side keeps TIME_WAIT), then wait for
		// the server's: a connection Dial reports done has then been
		// accepted and finished by the server. Closing without waiting let
		// Server.Close reset connections still in the accept queue, and the
		// RST ended their TIME_WAIT (measured: 79 of 3000 lost).
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return fmt.Errorf("shutdown %s: %w", target, err)
		}
	}
	// Wait for the server's FIN (with ServerCloses: the server closed first).
	_, _ = io.Copy(io.Discard, c)
	return nil
}

// Ports returns n consecutive ports starting at base.
func Ports(base uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = base + uint16(i)
	}
	return out
}
