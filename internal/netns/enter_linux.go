// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// parallelism bounds how many foreign namespaces are visited at once:
// a visit is mostly kernel work (the sock_diag dump), so more threads than
// CPUs only queue.
func parallelism() int { return min(max(runtime.GOMAXPROCS(0), 1), 8) }

// ForEachForeign calls visit for each namespace, parallelism at a
// time, and returns when all are done. Once ctx has ended, visits still
// waiting for their turn are made at once (they fail before entering).
func ForEachForeign(ctx context.Context, nss []*Namespace, visit func(*Namespace)) {
	sem := make(chan struct{}, parallelism())
	var wg sync.WaitGroup
	for _, n := range nss {
		wg.Add(1)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			visit(n)
			wg.Done()
			continue
		}
		go func() {
			defer func() { <-sem; wg.Done() }()
			visit(n)
		}()
	}
	wg.Wait()
}

// Enter starts fn on an OS thread that has entered namespace n. It
// returns once the thread has entered n (or failed to, or ctx ended
// first), not when fn returns: the caller waits for fn's work itself, and
// can stop waiting at its deadline (see scan's Batch). fn gets the
// thread's id, and must do its work on the calling goroutine: netlink
// sockets and /proc/sys resolve against the namespace of the thread that
// uses them. fn is not called once ctx has ended.
//
// The thread is locked with runtime.LockOSThread for the visit. Once fn
// returns, the thread goes back to the exporter's own namespace and is
// unlocked, so the runtime reuses it rather than start one per visit (in
// BenchmarkNetnsIdle a new thread per visit cost about a quarter of the
// CPU of visiting an idle namespace). If it cannot go back, it stays locked and the runtime
// terminates it when the goroutine returns, rather than give it back to
// the scheduler in a foreign namespace. New threads the runtime needs
// meanwhile are cloned from its template thread, not from this one (Go
// 1.10+), so the namespace cannot leak to them either.
func Enter(ctx context.Context, procPath string, n *Namespace, fn func(tid int)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", n.label, err)
	}
	home := ownNetnsFile(procPath)
	errc := make(chan error, 1)
	onLockedThread(func() bool { return enterAndRun(ctx, procPath, home, n, fn, errc) })
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("enter network namespace %s: still blocked: %w", n.label, ctx.Err())
	}
}

// enterAndRun enters n on this thread (one of onLockedThread), sends the
// outcome to entered, runs fn, then goes back to the namespace of home (a
// descriptor of it, -1 if none). It reports whether the thread is in its
// own namespace.
func enterAndRun(ctx context.Context, procPath string, home int, n *Namespace, fn func(tid int), entered chan<- error) bool {
	fd, err := openNetns(procPath, n)
	if err != nil {
		entered <- err
		return true
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		entered <- fmt.Errorf("setns into network namespace %s: %w", n.label, err)
		return true // a failed setns changes nothing
	}
	entered <- nil
	if ctx.Err() == nil {
		fn(unix.Gettid())
	}
	return home >= 0 && unix.Setns(home, unix.CLONE_NEWNET) == nil
}

// ownNetnsFiles hold open the exporter's own network namespace file, by
// procfs mount, for the visiting threads to go back to.
var ownNetnsFiles struct {
	sync.Mutex
	fds map[string]int
}

// ownNetnsFile is a descriptor of the exporter's own network namespace,
// that of its main thread, which never leaves it (see onLockedThread); -1
// if procPath does not show it (a copy of /proc in a test): threads that
// visit other namespaces then exit afterwards.
func ownNetnsFile(procPath string) int {
	ownNetnsFiles.Lock()
	defer ownNetnsFiles.Unlock()
	if fd, ok := ownNetnsFiles.fds[procPath]; ok {
		return fd
	}
	fd, err := unix.Open(filepath.Join(procPath, "self", "ns", "net"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	if ownNetnsFiles.fds == nil {
		ownNetnsFiles.fds = map[string]int{}
	}
	ownNetnsFiles.fds[procPath] = fd
	return fd
}

// openNetns opens a file of namespace n: its /run/netns entry, or else
// /proc/<pid>/ns/net of the first holder still alive. The open file keeps
// the namespace alive even if it is deleted or its processes exit right
// after. A file that is now another namespace (the pid was reused, the
// name re-created) counts as vanished.
func openNetns(procPath string, n *Namespace) (int, error) {
	paths := make([]string, 0, len(n.pids)+1)
	if n.named != "" {
		paths = append(paths, n.named)
	}
	for _, pid := range n.pids {
		paths = append(paths, filepath.Join(procPath, strconv.Itoa(pid), "ns", "net"))
	}
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", p, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("stat %s: %w", p, err)
		}
		if (nsKey{st.Dev, st.Ino}) != n.key {
			unix.Close(fd)
			continue
		}
		return fd, nil
	}
	return -1, fmt.Errorf("%w: none of %s is namespace inode %d any more", ErrVanished, strings.Join(paths, ", "), n.key.ino)
}
