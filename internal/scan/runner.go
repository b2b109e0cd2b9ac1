// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// A read that blocks in the kernel (open(2) of a FIFO, read(2) of a procfs
// file behind a stuck lock or a hung mount) cannot be cancelled. The
// runner therefore stops waiting for it at the deadline and leaves it
// behind: the work is a task, run on another goroutine (or, in a foreign
// namespace, on the thread that entered it) while the caller waits for its
// result or the deadline, whichever comes first. A task left behind is
// remembered as stuck until it returns, and a later task with the same key
// (the same collector or source in the same namespace) is then not started
// at all: each stuck read holds at most one goroutine or thread, however
// many scrapes come after it.

// blockedError is the failure of a task that did not return before its
// deadline, or that was not started because an earlier one still blocks.
type blockedError struct {
	since      time.Time // when the blocked read started
	abandoned  bool      // this task was left behind
	notStarted bool      // the deadline passed before this task started
	after      string    // the task before it on the same thread, still blocked
	gaveUp     bool      // a caller that can do without the read stopped waiting
}

func (e *blockedError) Error() string {
	started := e.since.Format(time.RFC3339)
	switch {
	case e.notStarted && e.after != "":
		return fmt.Sprintf("not started before the deadline: %s, before it on the same thread, was still blocked", e.after)
	case e.notStarted:
		return "not started before the deadline"
	case e.gaveUp:
		return fmt.Sprintf("still blocked after %s, not waited for any longer", time.Since(e.since).Round(time.Millisecond))
	case e.abandoned:
		return fmt.Sprintf("abandoned at the deadline, still blocked after %s in a read started at %s",
			time.Since(e.since).Round(time.Millisecond), started)
	}
	return fmt.Sprintf("not started: the previous read, started at %s, is still blocked after %s",
		started, time.Since(e.since).Round(time.Second))
}

// errGaveUp is the failure of a caller that can do without a read and
// stopped waiting for it: still blocked since since.
func errGaveUp(since time.Time) error { return &blockedError{since: since, gaveUp: true} }

// errBlocked is the failure of a read not started because the same read,
// started at since, still blocks.
func errBlocked(since time.Time) error { return &blockedError{since: since} }

// StillBlocked reports whether err is a read left blocked at a deadline
// (or not started because one still blocks), as opposed to a task that
// was never started because the deadline came first.
func StillBlocked(err error) bool {
	var be *blockedError
	return errors.As(err, &be) && !be.notStarted
}

// stuckJobs are the tasks left behind that have not returned yet, by key. It
// outlives one batch: the zero value is ready to use, and one stuckJobs serves
// every batch whose reads must not pile up on the same blocked read.
type stuckJobs struct {
	mu sync.Mutex
	m  map[string]*job
}

func (st *stuckJobs) get(key string) *job {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.m[key]
}

func (st *stuckJobs) set(key string, t *job) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.m == nil {
		st.m = map[string]*job{}
	}
	st.m[key] = t
}

func (st *stuckJobs) remove(key string, t *job) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.m[key] == t {
		delete(st.m, key)
	}
}

// job is one task of a batch: a collector's source, or one source of a
// snapshot, in one scope.
type job struct {
	name string // collector or source name
	key  string // name and scope labels: for the log and stuckJobs

	mu        sync.Mutex
	start     time.Time // zero until it starts
	done      bool
	abandoned bool
}

// keysOf names each collector or source in a scope with the given label
// values, the way the log does ("sockets netns=blue").
func keysOf(names, labelValues []string) []string {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = strings.Join(append([]string{n}, labelValues...), " netns=")
	}
	return keys
}

// Outcome is what one task delivered.
type Outcome[T any] struct {
	Job *job
	Val T
	Err error
}

// Batch runs tasks and waits for their outcomes until a deadline.
type Batch[T any] struct {
	stuck   *stuckJobs
	logger  *slog.Logger
	tasks   []*job
	results chan Outcome[T] // buffered for every task: a task never blocks on it
}

// newBatch is a batch of one task per name, keyed by keys (see keysOf),
// whose reads left blocked stuck remembers and logger logs when they
// return.
func newBatch[T any](stuck *stuckJobs, logger *slog.Logger, keys, names []string) *Batch[T] {
	b := &Batch[T]{stuck: stuck, logger: logger, results: make(chan Outcome[T], len(names))}
	for i, n := range names {
		b.tasks = append(b.tasks, &job{name: n, key: keys[i]})
	}
	return b
}

// Run runs task i with fn on the calling goroutine and delivers its
// outcome, unless the waiter gave up on it first (it is then not started),
// or the same key is still stuck from an earlier batch (it then fails at
// once rather than block a second goroutine on the same read).
func (b *Batch[T]) Run(i int, fn func() (T, error)) {
	t := b.tasks[i]
	t.mu.Lock()
	if t.abandoned {
		t.mu.Unlock()
		return
	}
	if prev := b.stuck.get(t.key); prev != nil {
		t.done = true
		b.results <- Outcome[T]{Job: t, Err: &blockedError{since: prev.StartTime()}}
		t.mu.Unlock()
		return
	}
	t.start = time.Now()
	t.mu.Unlock()

	val, err := fn()

	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	if !t.abandoned {
		b.results <- Outcome[T]{Job: t, Val: val, Err: err}
		return
	}
	b.stuck.remove(t.key, t)
	b.logger.Info("read abandoned at an earlier deadline returned; the next scrape reads it again",
		"collector", t.key, "blocked_for", time.Since(t.start).Round(time.Millisecond), "err", err)
}

// Name is the task's collector or source name.
func (t *job) Name() string { return t.name }

// Key is the task's name with its scope's labels.
func (t *job) Key() string { return t.key }

// StartTime is when the task started, zero if it has not.
func (t *job) StartTime() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.start
}

// Wait collects the outcome of every task, calling deliver for each, until
// all are in or ctx ends. The tasks not in by then are abandoned: each
// gets a *blockedError outcome, and one that had started stays in stuck
// until it returns.
func (b *Batch[T]) Wait(ctx context.Context, deliver func(Outcome[T])) {
	got := make(map[*job]bool, len(b.tasks))
	for len(got) < len(b.tasks) {
		select {
		case o := <-b.results:
			got[o.Job] = true
			deliver(o)
		case <-ctx.Done():
			b.abandon(got, deliver)
			return
		}
	}
}

func (b *Batch[T]) abandon(got map[*job]bool, deliver func(Outcome[T])) {
	var left []*job
	blocked := ""
	for _, t := range b.tasks {
		if got[t] {
			continue
		}
		t.mu.Lock()
		// A task that is done has sent its outcome (under t.mu): it is
		// collected below. Any other is given up on; it cannot send now.
		if !t.done {
			t.abandoned = true
			left = append(left, t)
			if !t.start.IsZero() {
				blocked = t.name
				b.stuck.set(t.key, t)
			}
		}
		t.mu.Unlock()
	}
	for drained := false; !drained; {
		select {
		case o := <-b.results:
			deliver(o)
		default:
			drained = true
		}
	}
	for _, t := range left {
		err := &blockedError{since: t.start, abandoned: true}
		if t.start.IsZero() {
			err = &blockedError{notStarted: true, after: blocked}
		}
		deliver(Outcome[T]{Job: t, Err: err})
	}
}
