// SPDX-License-Identifier: Apache-2.0

package twgen

// NS gives Go benchmarks real TIME_WAIT sockets without touching the host:
// a private network namespace owned by one locked OS thread, filled by a
// Load (blocking system calls on that thread).
//
// It needs no TestMain (unlike internal/testenv/nstest, which re-executes the whole
// test binary), so benchmarks can live beside other tests of a package that
// has its own TestMain. Functions passed to Do run on that thread, so a
// netlink socket they open, the /proc/sys/net files they read and the
// sockets they make all belong to the private namespace. When the NS is
// closed the thread exits and the kernel frees the namespace.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NS is a network namespace held by one OS thread.
type NS struct {
	calls chan func()
	done  chan struct{}
	tid   int
	Load
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
		if err = ns.Make(n, max(ports, 10)); err != nil {
			return
		}
		tw, err = ns.sockstatTW()
	})
	return tw, err
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
