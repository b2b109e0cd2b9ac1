// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// onThrowawayThread runs fn on a new goroutine locked to an OS thread
// that is never unlocked, so the runtime terminates the thread when fn
// returns and fn may move it into other namespaces (setns): no other
// goroutine ever runs there. That thread is never the main one, which the
// runtime cannot retire and which /proc/<pid>/ns and /proc/self/net show:
// a goroutine that finds itself on the main thread keeps it locked while
// it starts over on another goroutine (which therefore gets another
// thread), then releases it.
func onThrowawayThread(fn func()) {
	onLockedThread(func() bool { fn(); return false })
}

// onLockedThread runs fn as onThrowawayThread does, but unlocks the
// thread, which the runtime then reuses, when fn reports that it left the
// thread as it found it (back in the namespaces it was in).
func onLockedThread(fn func() (restored bool)) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			locked := make(chan struct{})
			onLockedThread(func() bool { close(locked); return fn() })
			<-locked
			runtime.UnlockOSThread()
			return
		}
		if fn() {
			runtime.UnlockOSThread()
		}
	}()
}
