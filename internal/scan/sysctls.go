// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// scope is a kread.Scope as scan reads it: its sysctls read once for every
// source that needs them, a read of the same namespace's sysctls still in
// progress (an earlier scrape's, a snapshot's) joined rather than started
// again, and in a foreign namespace of a scrape its idle decision.
type scope struct {
	*kread.Scope
	reads   *sysctlReads // shared with the Reader's other scopes; nil: none
	sysOnce sync.Once
	sys     *sysctlRead
	idle    *idleness // nil: none taken (the own namespace, a snapshot)
}

// sysctls returns the scope's sysctls, read once. It waits for the read
// however long it blocks: the batch stops waiting for the task at the
// deadline. A read still blocked past the deadline of the scrape that
// started it is not started again: sysctls then fails at once.
func (s *scope) sysctls() (*kread.Sysctls, error) {
	r := s.sysctlRead()
	<-r.done
	return r.sys, r.err
}

// sysctlPatience bounds how long a source that can do without the sysctls
// waits for them. A healthy read takes microseconds.
const sysctlPatience = time.Second

// sysctlsIfPrompt is sysctls for a source that can do without them (the
// sockets source counts states without them): it waits at most
// sysctlPatience, and at most half of the time left before the deadline.
// In a foreign namespace the first caller reads them on its own thread,
// and waits as sysctls does.
func (s *scope) sysctlsIfPrompt() (*kread.Sysctls, error) {
	r := s.sysctlRead()
	if !WaitBriefly(s.Ctx, r.done, sysctlPatience) {
		return nil, fmt.Errorf("read sysctls: %w", errGaveUp(r.start))
	}
	return r.sys, r.err
}

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

// sysctlRead is one read of a namespace's sysctls.
type sysctlRead struct {
	ctx   context.Context // of the scope that started it
	start time.Time
	done  chan struct{} // closed when sys and err are set
	sys   *kread.Sysctls
	err   error
}

func (r *sysctlRead) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// sysctlReads are the sysctl reads in progress, by scope labels, shared by
// the scopes of one Reader; the zero value is ready to use.
type sysctlReads struct {
	mu sync.Mutex
	m  map[string]*sysctlRead
}

// sysctlRead returns this scope's read, started by the first call: on a
// goroutine of its own in the exporter's own namespace (any thread sees
// it), on the calling thread in a foreign one. A read of the same
// namespace already in progress is joined, unless the scrape that started
// it is past its deadline: it is stuck, and this scope fails at once
// rather than block another thread on the same files.
func (s *scope) sysctlRead() *sysctlRead {
	s.sysOnce.Do(func() {
		key := strings.Join(s.LabelValues, ",")
		r := &sysctlRead{ctx: s.Ctx, start: time.Now(), done: make(chan struct{})}
		if prev := s.reads.join(key, r); prev != nil {
			s.sys = prev
			if prev.ctx.Err() != nil {
				s.sys = &sysctlRead{done: r.done, err: fmt.Errorf("read sysctls: %w", errBlocked(prev.start))}
				close(r.done)
			}
			return
		}
		s.sys = r
		if s.Own() {
			go s.readSysctls(key, r)
		} else {
			s.readSysctls(key, r)
		}
	})
	return s.sys
}

func (s *scope) readSysctls(key string, r *sysctlRead) {
	r.sys, r.err = s.ReadSysctls()
	close(r.done)
	s.reads.finish(key, r)
}

// join returns the read of key in progress, or else records r as it and
// returns nil.
func (rs *sysctlReads) join(key string, r *sysctlRead) *sysctlRead {
	if rs == nil {
		return nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if prev := rs.m[key]; prev != nil && !prev.finished() {
		return prev
	}
	if rs.m == nil {
		rs.m = map[string]*sysctlRead{}
	}
	rs.m[key] = r
	return nil
}

func (rs *sysctlReads) finish(key string, r *sysctlRead) {
	if rs == nil {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m[key] == r {
		delete(rs.m, key)
	}
}
