// SPDX-License-Identifier: Apache-2.0

package owners

import (
	"context"
	"time"
)

// StoppedBlocked: a read of /proc was still blocked at the deadline (a
// process stuck with its memory map locked can block a cmdline read).
const StoppedBlocked = "a read of /proc still blocked at the deadline"

// grace is how long past ctx's end Lookup waits for the scan to notice.
const grace = 100 * time.Millisecond

// Lookup is Scan under ctx's deadline even when a read blocks in the
// kernel: the scan runs on a goroutine of its own, and Lookup stops
// waiting for it shortly after ctx ends (the scan then ends by itself, its
// result unused).
func Lookup(ctx context.Context, procPath string, want Want, lim Limits) *Result {
	done := make(chan *Result, 1)
	go func() { done <- Scan(ctx, procPath, want, lim) }()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case r := <-done:
		return r
	case <-t.C:
		return &Result{Stopped: StoppedBlocked}
	}
}
