// SPDX-License-Identifier: Apache-2.0

package twgen

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// listener is one listening socket. With bindFirst its clients bind()
// to (its address, 0) before connect().
type listener struct {
	fd        int
	addr      netip.AddrPort
	bindFirst bool
}

func listen(addr netip.AddrPort) (listener, error) {
	fd, err := unix.Socket(family(addr.Addr()), unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return listener{}, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return listener{}, err
	}
	if err := unix.Bind(fd, sockaddr(addr)); err != nil {
		unix.Close(fd)
		return listener{}, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return listener{}, err
	}
	if addr.Port() == 0 {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return listener{}, err
		}
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			addr = netip.AddrPortFrom(addr.Addr(), uint16(sa.Port))
		case *unix.SockaddrInet6:
			addr = netip.AddrPortFrom(addr.Addr(), uint16(sa.Port))
		}
	}
	return listener{fd: fd, addr: addr}, nil
}

// one makes one TIME_WAIT socket through l. On loopback the handshake and
// the FINs are processed synchronously in the sender's system call, so
// blocking calls in this order leave the side that closes first in
// TIME_WAIT and the other closed. The connection accepted is this
// thread's own, as spread gives every listener to one thread.
func (l listener) one(side Side) error {
	c, err := unix.Socket(family(l.addr.Addr()), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if l.bindFirst {
		if err := unix.Bind(c, sockaddr(netip.AddrPortFrom(l.addr.Addr(), 0))); err != nil {
			unix.Close(c)
			return fmt.Errorf("bind %s:0: %w", l.addr.Addr(), err)
		}
	}
	if err := unix.Connect(c, sockaddr(l.addr)); err != nil {
		unix.Close(c)
		return fmt.Errorf("connect %s: %w", l.addr, err)
	}
	s, err := accept(l.fd)
	if err != nil {
		unix.Close(c)
		return err
	}
	first, second := c, s
	if side == ServerCloses {
		first, second = s, c
	}
	unix.Close(first) // its FIN first: this side ends in TIME_WAIT
	var b [1]byte
	_, _ = unix.Read(second, b[:]) // the FIN has arrived (EOF) before the other side closes
	unix.Close(second)
	return nil
}

func accept(l int) (int, error) {
	deadline := time.Now().Add(time.Second)
	for {
		s, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, unix.EAGAIN) || time.Now().After(deadline) {
			return -1, fmt.Errorf("accept: %w", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// spread makes connections round-robin over ls (connection i through
// ls[i mod len(ls)]) while more(i) holds, on up to threads locked OS
// threads; with one thread, on the calling one. Each thread has its own
// listeners (ls[j] on thread j mod threads): a thread that accepted
// another's connection would wait for that thread to close it, and those
// context switches cost 2.5x the rate. The first failure stops the run and
// is returned, unless tolerate: then failures are counted, each followed by
// a 50 ms pause.
func spread(ls []listener, side Side, threads int, more func(i int) bool, tolerate bool) (done, failed int64, err error) {
	if len(ls) == 0 {
		return 0, 0, nil
	}
	w := min(max(threads, 1), len(ls))
	var nDone, nFailed atomic.Int64
	var stop atomic.Bool
	errs := make([]error, w)
	work := func(t int) {
		for i := 0; !stop.Load(); i++ {
			j := i % len(ls)
			if j%w != t {
				if !more(i) {
					return
				}
				continue
			}
			if !more(i) {
				return
			}
			if err := ls[j].one(side); err != nil {
				if tolerate {
					// Ports exhausted, most likely: wait for some to
					// leave TIME_WAIT rather than spin in connect().
					nFailed.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				errs[t] = err
				stop.Store(true)
				return
			}
			nDone.Add(1)
		}
	}
	if w == 1 {
		work(0)
	} else {
		var wg sync.WaitGroup
		for t := 0; t < w; t++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				work(t)
			}()
		}
		wg.Wait()
	}
	return nDone.Load(), nFailed.Load(), errors.Join(errs...)
}

// Load makes TIME_WAIT sockets in the network namespace of the thread that
// calls its methods, with blocking system calls: several times faster than
// Go's net package, which matters when a benchmark must measure 250k
// sockets within their 60 s and for the soak's churn rate. A Load is not
// safe for concurrent use.
type Load struct {
	// Addr is the address to listen on and connect to (default 127.0.0.1).
	Addr netip.Addr
	// Base is the first listening port (default 20000).
	Base int
	// Side is who closes first and keeps the TIME_WAIT socket.
	Side Side
	// BindFirst makes each client bind() to (Addr, 0) before connect(), as
	// a client that picks its source IP without IP_BIND_ADDRESS_NO_PORT:
	// its port comes from bind() and no other connect() may share it, even
	// in TIME_WAIT. Set it before Listen.
	BindFirst bool
	listeners []listener
}

// Close closes the listeners.
func (l *Load) Close() {
	for _, ln := range l.listeners {
		unix.Close(ln.fd)
	}
	l.listeners = nil
}

// Listen makes sure want ports, from Base on, are listening.
func (l *Load) Listen(want int) error {
	if l.Base == 0 {
		l.Base = 20000
	}
	if !l.Addr.IsValid() {
		l.Addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	for len(l.listeners) < want {
		ln, err := listen(netip.AddrPortFrom(l.Addr, uint16(l.Base+len(l.listeners))))
		if err != nil {
			return err
		}
		ln.bindFirst = l.BindFirst
		l.listeners = append(l.listeners, ln)
	}
	return nil
}

// Make opens and closes n connections on the calling thread, spread
// round-robin over ports listening ports, leaving n TIME_WAIT sockets (on
// l.Side) in its namespace. The listeners stay open until Close.
func (l *Load) Make(n, ports int) error {
	if err := l.Listen(ports); err != nil {
		return err
	}
	_, _, err := spread(l.listeners, l.Side, 1, func(i int) bool { return i < n }, false)
	return err
}

// Run is one run of a Load from several threads, for tools/twgen: either
// Count connections, or as many as fit in Time.
type Run struct {
	Load
	Ports   int           // listening ports, connections spread round-robin
	Threads int           // parallel workers, one locked OS thread each
	Count   int           // connections to make (when Time is 0)
	Time    time.Duration // churn for this long instead of Count; failures are counted, not fatal
	Rate    float64       // with Time: at most this many connections per second (0: as fast as the threads go)
}

// Result is what a Run made.
type Result struct {
	Done, Failed int64
	Elapsed      time.Duration
}

// Start opens the listeners and makes the connections; the listeners stay
// open until Close. With Count, the first failure stops the run and is
// returned; with Time, failures (ports exhausted) are counted.
func (r *Run) Start() (Result, error) {
	if err := r.Listen(r.Ports); err != nil {
		return Result{}, err
	}
	start := time.Now()
	deadline := start.Add(r.Time)
	more := func(i int) bool { return i < r.Count }
	if r.Time > 0 {
		more = func(i int) bool {
			if r.Rate > 0 { // connection i is due i/Rate seconds after the start
				time.Sleep(time.Until(start.Add(time.Duration(float64(i) / r.Rate * float64(time.Second)))))
			}
			return time.Now().Before(deadline)
		}
	}
	done, failed, err := spread(r.listeners, r.Side, r.Threads, more, r.Time > 0)
	return Result{Done: done, Failed: failed, Elapsed: time.Since(start)}, err
}

// Server listens on a set of ports for Dial, in the calling process's
// network namespace.
type Server struct {
	listeners []listener
}

// servers are the listeners of every open Server, by address, for Dial.
var servers struct {
	sync.Mutex
	m map[netip.AddrPort]listener
}

// Listen starts listeners on addr at each port (0 picks one).
func Listen(addr netip.Addr, ports ...uint16) (*Server, error) {
	s := &Server{}
	for _, p := range ports {
		ln, err := listen(netip.AddrPortFrom(addr, p))
		if err != nil {
			s.Close()
			return nil, err
		}
		s.listeners = append(s.listeners, ln)
	}
	servers.Lock()
	defer servers.Unlock()
	if servers.m == nil {
		servers.m = map[netip.AddrPort]listener{}
	}
	for _, ln := range s.listeners {
		servers.m[ln.addr] = ln
	}
	return s, nil
}

// Addrs returns the listening addresses.
func (s *Server) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(s.listeners))
	for i, ln := range s.listeners {
		out[i] = ln.addr
	}
	return out
}

// Close stops the listeners. Every connection Dial made is already closed
// on both sides.
func (s *Server) Close() {
	servers.Lock()
	defer servers.Unlock()
	for _, ln := range s.listeners {
		delete(servers.m, ln.addr)
		unix.Close(ln.fd)
	}
	s.listeners = nil
}

// Dial opens count connections spread round-robin over targets (addresses
// of open Servers), from up to parallel threads, closing each so that side
// ends in TIME_WAIT. It returns how many connections completed; the first
// failure, such as a connect() that fails with EADDRNOTAVAIL (ports
// exhausted), stops the run with that error, as does the end of ctx.
func Dial(ctx context.Context, targets []netip.AddrPort, count, parallel int, side Side) (int, error) {
	if len(targets) == 0 || count <= 0 {
		return 0, nil
	}
	ls := make([]listener, len(targets))
	servers.Lock()
	for i, t := range targets {
		ln, ok := servers.m[t]
		if !ok {
			servers.Unlock()
			return 0, fmt.Errorf("%s: no twgen.Server listens there", t)
		}
		ls[i] = ln
	}
	servers.Unlock()
	done, _, err := spread(ls, side, parallel, func(i int) bool { return i < count && ctx.Err() == nil }, false)
	if err == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled) {
		err = ctx.Err()
	}
	return int(done), err
}
