// Package netnsload gives Go benchmarks real TIME_WAIT sockets without
// touching the host: a private network namespace owned by one locked OS
// thread, filled with loopback connections made with raw blocking syscalls.
//
// It needs no TestMain (unlike internal/nstest, which re-executes the whole
// test binary), so benchmarks can live beside other tests of a package that
// has its own TestMain. Functions passed to Do run on that thread, so a
// netlink socket they open, the /proc/sys/net files they read and the
// sockets they make all belong to the private namespace. When the NS is
// closed the thread exits and the kernel frees the namespace.
package netnsload

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// NS is a network namespace held by one OS thread.
type NS struct {
	calls chan func()
	done  chan struct{}
	tid   int
	Load
}

// Load makes TIME_WAIT sockets in the network namespace of the thread that
// calls its methods, with blocking system calls: several times faster than
// Go's net package (tools/twgen), which matters when a benchmark must
// measure 250k sockets within their 60 s. A Load is not safe for
// concurrent use; use one per thread.
type Load struct {
	// Base is the first listening port (default 20000).
	Base      int
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

// New starts a thread in a new network namespace with loopback up,
// tcp_tw_reuse=0 (so loopback connect() never reuses a TIME_WAIT socket
// and counts stay put) and room for a million TIME_WAIT sockets. It needs
// CAP_SYS_ADMIN.
func New() (*NS, error) {
	ns := &NS{calls: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns the runtime ends the
		// thread, and with it the namespace.
		runtime.LockOSThread()
		defer close(ns.done)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		ns.tid = unix.Gettid()
		if err := setup(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		for f := range ns.calls {
			f()
		}
		ns.Load.Close()
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return ns, nil
}

// TID is the thread that holds the namespace: /proc/<pid>/task/<tid>/net
// shows its net files.
func (ns *NS) TID() int { return ns.tid }

// Do runs f on the namespace's thread and waits for it.
func (ns *NS) Do(f func()) {
	done := make(chan struct{})
	ns.calls <- func() { defer close(done); f() }
	<-done
}

// Close ends the thread and the namespace.
func (ns *NS) Close() {
	close(ns.calls)
	<-ns.done
}

func setup() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	for k, v := range map[string]string{
		"net.ipv4.tcp_tw_reuse":       "0",
		"net.ipv4.tcp_max_tw_buckets": "1000000",
	} {
		if err := sysctl(k, v); err != nil {
			return err
		}
	}
	return nil
}

// sysctl writes a /proc/sys/net file, which resolves against the calling
// thread's namespace. It uses raw syscalls so the write stays on this
// thread.
func sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return fmt.Errorf("set %s=%s: %w", key, value, err)
	}
	return nil
}

// MakeTimeWait opens and closes n loopback connections, the client closing
// first, so each leaves one outbound TIME_WAIT socket (local port
// ephemeral). They are spread over ports listening ports (at least 10, so
// no destination's port range fills). The listeners stay open until Close.
// It returns the kernel's TIME_WAIT count (/proc/net/sockstat tw) after.
func (ns *NS) MakeTimeWait(n, ports int) (int, error) {
	var tw int
	var err error
	ns.Do(func() {
		if err = ns.Make(n, ports); err != nil {
			return
		}
		tw, err = ns.sockstatTW()
	})
	return tw, err
}

// Make opens and closes n loopback connections over ports listening ports
// (at least 10), leaving n outbound TIME_WAIT sockets in the calling
// thread's namespace. The listeners stay open until Close.
func (l *Load) Make(n, ports int) error {
	if err := l.listen(max(ports, 10)); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := l.churn(); err != nil {
			return err
		}
	}
	return nil
}

func (l *Load) listen(want int) error {
	if l.Base == 0 {
		l.Base = 20000
	}
	for len(l.listeners) < want {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			unix.Close(fd)
			return err
		}
		port := uint16(l.Base + len(l.listeners))
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind 127.0.0.1:%d: %w", port, err)
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

// churn makes one TIME_WAIT socket. On loopback the handshake and the FINs
// are processed synchronously in the sender's system call, so blocking
// calls in this order leave the client in TIME_WAIT and the server closed.
func (l *Load) churn() error {
	i := l.next % len(l.listeners)
	l.next++
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(c, &unix.SockaddrInet4{Port: int(l.ports[i]), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(c)
		return fmt.Errorf("connect 127.0.0.1:%d: %w", l.ports[i], err)
	}
	s, err := accept(l.listeners[i])
	if err != nil {
		unix.Close(c)
		return err
	}
	unix.Close(c) // client FIN first: the client ends in TIME_WAIT
	var b [1]byte
	_, _ = unix.Read(s, b[:]) // the FIN has arrived (EOF) before the server closes
	unix.Close(s)
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

// sockstatTW reads tw from this thread's /proc/<pid>/task/<tid>/net/sockstat.
func (ns *NS) sockstatTW() (int, error) {
	path := fmt.Sprintf("/proc/%d/task/%d/net/sockstat", os.Getpid(), ns.tid)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var buf [4096]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for j := 1; j+1 < len(f); j += 2 {
			if f[j] == "tw" {
				var tw int
				_, err := fmt.Sscan(f[j+1], &tw)
				return tw, err
			}
		}
	}
	return 0, errors.New("no TCP tw in " + path)
}
