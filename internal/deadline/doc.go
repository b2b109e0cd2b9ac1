// SPDX-License-Identifier: Apache-2.0

// Package deadline runs reads that may block in the kernel as tasks that
// their caller stops waiting for at a deadline, and remembers the ones left
// behind so that later reads of the same source are not started on top of
// them.
package deadline

import (
	"context"
	"time"
)

// WaitBriefly waits for done at most patience, and at most half of the
// time ctx has left, for a caller that can do without what done signals;
// it reports whether done was closed in time.
func WaitBriefly(ctx context.Context, done <-chan struct{}, patience time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok {
		patience = min(patience, time.Until(dl)/2)
	}
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
