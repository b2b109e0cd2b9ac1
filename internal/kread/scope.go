// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/deadline"
)

// Scope is where one scrape reads: the procfs files and netlink socket of
// one network namespace. A Scope lives for one scrape, so values it
// memoises (the sysctls several collectors need) are never stale.
type Scope struct {
	Ctx context.Context
	// LabelValues are the values of the scope labels of its samples: its
	// netns label with --netns.discover, none without.
	LabelValues []string

	procPath string
	// tid is 0 for the exporter's own namespace; otherwise the thread that
	// entered a foreign namespace, whose /proc/<pid>/task/<tid>/net shows it.
	tid int

	// sysReads shares a sysctl read in progress between the scopes of
	// one namespace (a scrape and the doctor); nil: not shared.
	sysReads *SysctlReads
	sysOnce  sync.Once
	sys      *sysctlRead

	sockstat sockstatOnce // see Sockstat
}

// OwnScope is the exporter's own network namespace.
func OwnScope(ctx context.Context, procPath string) *Scope {
	return &Scope{Ctx: ctx, procPath: procPath}
}

// ThreadScope is the namespace the calling OS thread (tid) has entered with
// setns. Netlink sockets are bound to the opening thread's namespace and
// /proc/sys/net resolves against it too; the net/ files must be read
// through the thread's own task directory.
func ThreadScope(ctx context.Context, procPath string, tid int, labelValues ...string) *Scope {
	return &Scope{Ctx: ctx, procPath: procPath, tid: tid, LabelValues: labelValues}
}

// WithSysctlReads makes s share the sysctl reads in progress of rs with
// the other scopes of rs, and returns s.
func (s *Scope) WithSysctlReads(rs *SysctlReads) *Scope {
	s.sysReads = rs
	return s
}

// Own reports whether s is the exporter's own namespace, which host-wide
// values are exported under.
func (s *Scope) Own() bool { return s.tid == 0 }

// netRoot is the directory whose net/ subdirectory holds this namespace's
// sockstat, netstat and snmp files.
func (s *Scope) netRoot() string {
	if s.tid == 0 {
		return s.procPath
	}
	return filepath.Join(s.procPath, strconv.Itoa(os.Getpid()), "task", strconv.Itoa(s.tid))
}

// NetFile is the path of one file under this namespace's net/ directory.
func (s *Scope) NetFile(name string) string {
	return filepath.Join(s.netRoot(), "net", name)
}

// Sysctls returns this namespace's sysctls, read once per scope. It waits
// for the read however long it blocks: the runner stops waiting for the
// collector at the deadline. A read still blocked past the deadline of the
// scrape that started it is not started again: Sysctls then fails at once.
func (s *Scope) Sysctls() (*Sysctls, error) {
	r := s.sysctlRead()
	<-r.done
	return r.sys, r.err
}

// sysctlPatience bounds how long a collector that can do without the
// sysctls waits for them. A healthy read takes microseconds.
const sysctlPatience = time.Second

// sysctlsIfPrompt is Sysctls for a caller that can do without them (the
// sockets collector counts states without them): it waits at most
// sysctlPatience, and at most half of the time left before the deadline.
// In a foreign namespace the first caller reads them on its own thread,
// and waits as Sysctls does.
func (s *Scope) sysctlsIfPrompt() (*Sysctls, error) {
	r := s.sysctlRead()
	if !deadline.WaitBriefly(s.Ctx, r.done, sysctlPatience) {
		return nil, fmt.Errorf("read sysctls under %s: %w", filepath.Join(s.procPath, "sys"), deadline.GaveUp(r.start))
	}
	return r.sys, r.err
}

// sysctlRead is one read of a namespace's sysctls.
type sysctlRead struct {
	ctx   context.Context // of the scope that started it
	start time.Time
	done  chan struct{} // closed when sys and err are set
	sys   *Sysctls
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

// SysctlReads are the sysctl reads in progress, by scope labels, shared
// by the scopes of one exporter (see WithSysctlReads); the zero value is
// ready to use.
type SysctlReads struct {
	mu sync.Mutex
	m  map[string]*sysctlRead
}

// sysctlRead returns this scope's read, started by the first call: on a
// goroutine of its own in the exporter's own namespace (any thread sees
// it), on the calling thread in a foreign one. A read of the same
// namespace already in progress is joined, unless the scrape that started
// it is past its deadline: it is stuck, and this scope fails at once
// rather than block another thread on the same files.
func (s *Scope) sysctlRead() *sysctlRead {
	s.sysOnce.Do(func() {
		key := strings.Join(s.LabelValues, ",")
		r := &sysctlRead{ctx: s.Ctx, start: time.Now(), done: make(chan struct{})}
		if prev := s.sysReads.join(key, r); prev != nil {
			s.sys = prev
			if prev.ctx.Err() != nil {
				s.sys = &sysctlRead{done: r.done, err: fmt.Errorf("read sysctls: %w", deadline.Blocked(prev.start))}
				close(r.done)
			}
			return
		}
		s.sys = r
		if s.tid == 0 {
			go s.readSysctls(key, r)
		} else {
			s.readSysctls(key, r)
		}
	})
	return s.sys
}

func (s *Scope) readSysctls(key string, r *sysctlRead) {
	r.sys, r.err = ReadSysctls(s.procPath)
	close(r.done)
	s.sysReads.finish(key, r)
}

// join returns the read of key in progress, or else records r as it and
// returns nil.
func (rs *SysctlReads) join(key string, r *sysctlRead) *sysctlRead {
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

func (rs *SysctlReads) finish(key string, r *sysctlRead) {
	if rs == nil {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.m[key] == r {
		delete(rs.m, key)
	}
}
