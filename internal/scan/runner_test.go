// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	if got := keysOf([]string{"sockets", "sysctl"}, nil); strings.Join(got, "|") != "sockets|sysctl" {
		t.Errorf("own scope: %q", got)
	}
	if got := keysOf([]string{"sockets"}, []string{"blue"}); got[0] != "sockets netns=blue" {
		t.Errorf("foreign scope: %q", got)
	}
}

// outcomes runs the batch's Wait until ctx ends and returns each task's
// error by name.
func outcomes(ctx context.Context, b *Batch[int]) map[string]error {
	got := map[string]error{}
	b.Wait(ctx, func(o Outcome[int]) { got[o.Job.Name()] = o.Err })
	return got
}

// TestBatchAbandonsAtTheDeadline: a task still running at the deadline is
// abandoned and remembered as stuck; the next batch does not start the same
// key again until the read returns, and starts it once it has.
func TestBatchAbandonsAtTheDeadline(t *testing.T) {
	var stuck stuckJobs
	names := []string{"quick", "blocked", "after"}
	release := make(chan struct{})
	returned := make(chan struct{})
	b := newBatch[int](&stuck, slog.New(slog.DiscardHandler), keysOf(names, nil), names)
	go b.Run(0, func() (int, error) { return 1, nil })
	go func() {
		b.Run(1, func() (int, error) { <-release; return 2, nil })
		close(returned)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got := outcomes(ctx, b) // "after" is never run: not started
	if got["quick"] != nil {
		t.Errorf("quick: %v", got["quick"])
	}
	if !StillBlocked(got["blocked"]) || !strings.Contains(got["blocked"].Error(), "abandoned at the deadline") {
		t.Errorf("blocked: %v", got["blocked"])
	}
	if StillBlocked(got["after"]) || !strings.Contains(got["after"].Error(), "blocked, before it on the same thread") {
		t.Errorf("after: %v", got["after"])
	}

	// The next batch fails the stuck key at once, without running it.
	again := newBatch[int](&stuck, slog.New(slog.DiscardHandler), keysOf(names[1:2], nil), names[1:2])
	ran := false
	go again.Run(0, func() (int, error) { ran = true; return 0, nil })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := outcomes(ctx2, again)["blocked"]; !StillBlocked(err) || ran {
		t.Errorf("stuck key: ran %v, err %v", ran, err)
	}

	close(release)
	<-returned
	third := newBatch[int](&stuck, slog.New(slog.DiscardHandler), keysOf(names[1:2], nil), names[1:2])
	go third.Run(0, func() (int, error) { return 3, nil })
	if err := outcomes(ctx2, third)["blocked"]; err != nil {
		t.Errorf("after the read returned: %v", err)
	}
}

func TestBlockedErrors(t *testing.T) {
	since := time.Now().Add(-2 * time.Second)
	for _, err := range []error{errGaveUp(since), errBlocked(since)} {
		if !StillBlocked(err) {
			t.Errorf("%v: not StillBlocked", err)
		}
	}
	if StillBlocked(errors.New("other")) || StillBlocked(nil) {
		t.Error("StillBlocked of a plain error")
	}
}
