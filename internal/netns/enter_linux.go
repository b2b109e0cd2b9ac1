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

// Enter starts fn on a fresh OS thread that has entered namespace n,
// and lets that thread exit afterwards. It returns once the thread has
// entered n (or failed to, or ctx ended first), not when fn returns: the
// caller waits for fn's work itself, and can stop waiting at its deadline
// (see package deadline). fn gets the thread's id, and must do its work on the
// calling goroutine: netlink sockets and /proc/sys resolve against the
// namespace of the thread that uses them. fn is not called once ctx has
// ended.
//
// The thread is locked with runtime.LockOSThread and never unlocked: when
// the goroutine returns, the Go runtime terminates the thread rather than
// give it back to the scheduler in a foreign namespace. New threads the
// runtime needs meanwhile are cloned from its template thread, not from
// this one (Go 1.10+), so the namespace cannot leak to them either.
func Enter(ctx context.Context, procPath string, n *Namespace, fn func(tid int)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", n.label, err)
	}
	errc := make(chan error, 1)
	onThrowawayThread(func() { enterAndRun(ctx, procPath, n, fn, errc) })
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("enter network namespace %s: still blocked: %w", n.label, ctx.Err())
	}
}

// enterAndRun enters n on this thread (one of onThrowawayThread), sends
// the outcome to entered, then runs fn.
func enterAndRun(ctx context.Context, procPath string, n *Namespace, fn func(tid int), entered chan<- error) {
	fd, err := openNetns(procPath, n)
	if err != nil {
		entered <- err
		return
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		entered <- fmt.Errorf("setns into network namespace %s: %w", n.label, err)
		return
	}
	entered <- nil
	if ctx.Err() == nil {
		fn(unix.Gettid())
	}
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
