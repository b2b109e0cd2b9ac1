package twgen

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Load makes TIME_WAIT sockets in the network namespace of the thread that
// calls its methods, with blocking system calls: several times faster than
// Go's net package (Dial), which matters when a benchmark must measure 250k
// sockets within their 60 s and for the soak's churn rate. A Load is not
// safe for concurrent use; Run splits one set of listeners between threads.
type Load struct {
	// Addr is the address to listen on and connect to (default 127.0.0.1).
	Addr netip.Addr
	// Base is the first listening port (default 20000).
	Base int
	// Side is who closes first and keeps the TIME_WAIT socket.
	Side      Side
	listeners []int
	ports     []uint16
	next      int
}

// Close closes the listeners.
func (l *Load) Close() {
	for _, fd := range l.listeners {
		unix.Close(fd)
	}
	l.listeners, l.ports = nil, nil
}

// Make opens and closes n connections spread round-robin over ports
// listening ports, leaving n TIME_WAIT sockets (on l.Side) in the calling
// thread's namespace. The listeners stay open until Close.
func (l *Load) Make(n, ports int) error {
	if err := l.Listen(ports); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := l.one(l.next % len(l.listeners)); err != nil {
			return err
		}
		l.next++
	}
	return nil
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
		fd, err := unix.Socket(family(l.Addr), unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			unix.Close(fd)
			return err
		}
		port := uint16(l.Base + len(l.listeners))
		if err := unix.Bind(fd, sockaddr(l.Addr, port)); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind %s: %w", netip.AddrPortFrom(l.Addr, port), err)
		}
		if err := unix.Listen(fd, 4096); err != nil {
			unix.Close(fd)
			return err
		}
		l.listeners = append(l.listeners, fd)
		l.ports = append(l.ports, port)
	}
	return nil
}

// one makes one TIME_WAIT socket through listener i. On loopback the
// handshake and the FINs are processed synchronously in the sender's system
// call, so blocking calls in this order leave the closing side in TIME_WAIT
// and the other closed. The connection accepted may be another thread's
// if several threads shared the listener; each closes its own end before
// it blocks in read, so every read is answered.
func (l *Load) one(i int) error {
	target := netip.AddrPortFrom(l.Addr, l.ports[i])
	c, err := unix.Socket(family(l.Addr), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(c, sockaddr(l.Addr, l.ports[i])); err != nil {
		unix.Close(c)
		return fmt.Errorf("connect %s: %w", target, err)
	}
	s, err := accept(l.listeners[i])
	if err != nil {
		unix.Close(c)
		return err
	}
	first, second := c, s
	if l.Side == ServerCloses {
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

func sockaddr(a netip.Addr, port uint16) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(port), Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: a.As16()}
}

// Run is one run of Load over shared listeners from several threads, for
// tools/twgen: either Count connections, or as many as fit in Duration.
type Run struct {
	Load
	Ports   int           // listening ports, connections spread round-robin
	Threads int           // parallel workers, one locked OS thread each
	Count   int           // connections to make (when Duration is 0)
	Time    time.Duration // churn for this long instead of Count; failures are counted, not fatal
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
	// Each thread has its own listeners (port i goes to thread i mod w):
	// a thread that accepted another's connection would wait for that
	// thread to close it, and the context switches cost 2.5x the rate.
	w := min(max(r.Threads, 1), len(r.listeners))
	var done, failed atomic.Int64
	var stop atomic.Bool
	errs := make([]error, w)
	deadline := time.Now().Add(r.Time)
	start := time.Now()
	var wg sync.WaitGroup
	for t := 0; t < w; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; !stop.Load(); i++ {
				port := i % len(r.listeners)
				if r.Time == 0 && i >= r.Count {
					return
				}
				if port%w != t {
					continue
				}
				if r.Time > 0 && !time.Now().Before(deadline) {
					return
				}
				if err := r.one(port); err != nil {
					if r.Time > 0 {
						failed.Add(1)
						continue
					}
					errs[t] = err
					stop.Store(true)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	res := Result{Done: done.Load(), Failed: failed.Load(), Elapsed: time.Since(start)}
	return res, errors.Join(errs...)
}
