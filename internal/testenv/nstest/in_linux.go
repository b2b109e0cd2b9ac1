// SPDX-License-Identifier: Apache-2.0

package nstest

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// In runs fn on a locked OS thread in the network namespace at path (""
// for the own) and fails tb with its error. Sockets fn opens stay in that
// namespace. The thread is never the process's main thread, whose
// namespace /proc/self/ns/net shows to the code under test, and it goes
// back to the own namespace afterwards (or ends with its goroutine when
// it cannot), so no other goroutine ever runs in the other one.
func In(tb testing.TB, path string, fn func() error) {
	tb.Helper()
	errc := make(chan error, 1)
	var enter func()
	enter = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			done := make(chan struct{}) // start over on another thread, holding this one
			go func() { enter(); close(done) }()
			<-done
			runtime.UnlockOSThread()
			return
		}
		if path == "" {
			defer runtime.UnlockOSThread()
			errc <- fn()
			return
		}
		errc <- onThreadIn(path, fn)
	}
	go enter()
	if err := <-errc; err != nil {
		tb.Fatalf("in network namespace %q: %v", path, err)
	}
}

// onThreadIn runs fn with the locked calling thread in the namespace at
// path, and unlocks the thread only once it is back in its own.
func onThreadIn(path string, fn func() error) error {
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(home)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		return err
	}
	err = fn()
	if unix.Setns(home, unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return err
}
