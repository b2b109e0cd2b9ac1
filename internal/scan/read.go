// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"sync"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/deadline"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
)

// Request is what a scrape reads in each scope: the sources of its enabled
// collectors (named as the collectors) and how.
type Request struct {
	// Sources are read in parallel in the own namespace and in this
	// order on the thread that entered a foreign one.
	Sources []string
	// States are the TCP states the sockets source dumps.
	States uint32
	// SysctlInts are the integer sysctls the sysctl source reads when the
	// set kread.Sysctls reads does not hold them.
	SysctlInts []string
	// DumpBusy skips the dump of a foreign namespace that is not in Full
	// and whose counts stay below Warning (netns.dump: busy): it is idle.
	DumpBusy bool
	Warning  float64
	Full     map[string]bool // labels of foreign namespaces never idle
}

// Reading is one source's reading of one scope, or with Source "" the
// visit of a namespace (sent before its sources' readings; Err says why it
// could not be entered, netns.ErrVanished when it went away).
type Reading struct {
	Scope     *kread.Scope     // the scope of the samples (its labels)
	Read      *kread.Scope     // the scope read: in a foreign namespace, its thread's (see NetFile)
	Namespace *netns.Namespace // nil without discovery
	Source    string
	Key       string        // the source and scope, as the log names them
	Keys      []string      // of a visit: the keys of its sources, in Request.Sources' order
	Err       error         // what could not be read; deadline.StillBlocked tells a read left blocked
	Took      time.Duration // the read's time; 0 when it never started
	// Full is set in a foreign namespace once it is known not idle, Idle
	// once it is known idle; Dump is then the bound of its max ratio.
	Full, Idle bool
	Dump       model.DumpDecision
	Sockets    *model.SocketStats // nil when idle or failed
	IPv6       bool               // the namespace has IPv6 (with Sockets)
	Sysctls    *kread.Sysctls
	Ints       map[string]IntSysctl // the SysctlInts the set does not hold
	Sockstat   *kread.Sockstat
	Netstat    kread.Netstat
}

// IntSysctl is one integer sysctl read on its own.
type IntSysctl struct {
	Value kread.Optional[int64]
	Err   error
}

// StillBlocked reports whether err is a read left blocked at a deadline,
// or not started because one still blocks.
func StillBlocked(err error) bool { return deadline.StillBlocked(err) }

// Read reads req's sources in every scope of a scrape: the own namespace
// when nss is nil, else every namespace of nss (a discovery's Visit, the
// own one first) by Fanout. It sends each reading on the returned channel
// as it comes in, each scope's by the deadline of ctx, and closes the
// channel once every scope is done.
func (r *Reader) Read(ctx context.Context, nss []*netns.Namespace, req Request) <-chan Reading {
	out := make(chan Reading)
	go func() {
		defer close(out)
		if nss == nil {
			own := r.OwnScope(ctx)
			b := NewBatch[Reading](r, own, req.Sources)
			out <- Reading{Scope: own, Keys: deadline.Keys(req.Sources, own.LabelValues)}
			StartEach(b, own, req.Sources, r.readTask(req))
			sendReadings(own, nil, b, out)
			return
		}
		prepare := func(s *kread.Scope) { s.Ctx = context.WithValue(s.Ctx, idleKey{}, &idleness{}) }
		Fanout(ctx, r, nss, req.Sources, prepare, r.readTask(req), func(v Visit[Reading]) {
			out <- Reading{Scope: v.Report, Namespace: v.Namespace, Err: v.Err, Keys: deadline.Keys(req.Sources, v.Report.LabelValues)}
			if v.Err == nil {
				sendReadings(v.Report, v.Namespace, v.Batch, out)
			}
		})
	}()
	return out
}

// sendReadings sends the readings of b, the sources of the scope labelled
// by report, until its deadline.
func sendReadings(report *kread.Scope, n *netns.Namespace, b *deadline.Batch[Reading], out chan<- Reading) {
	b.Wait(report.Ctx, func(o deadline.Outcome[Reading]) {
		rd := o.Val
		rd.Scope, rd.Namespace, rd.Source, rd.Key, rd.Err = report, n, o.Task.Name(), o.Task.Key(), o.Err
		if start := o.Task.StartTime(); !start.IsZero() {
			rd.Took = time.Since(start)
		}
		out <- rd
	})
}

type idleKey struct{}

// idleness is a foreign namespace's decision whether it is idle, taken
// once by its first source, on its thread.
type idleness struct {
	once       sync.Once
	full, idle bool
	dump       model.DumpDecision
}

// decide decides once whether the namespace of s is idle (see
// Request.DumpBusy); the own namespace is neither idle nor full.
func (r *Reader) decide(s *kread.Scope, req Request) (full, idle bool, dump model.DumpDecision) {
	d, _ := s.Ctx.Value(idleKey{}).(*idleness)
	if d == nil || s.Own() {
		return false, false, dump
	}
	d.once.Do(func() {
		d.full = !req.DumpBusy || req.Full[s.LabelValues[0]]
		if d.full {
			return
		}
		dec, err := s.DecideDump(req.Warning)
		if err != nil {
			r.logger.Debug("cannot decide from sockstat whether the namespace is idle; dumping it", "netns", s.LabelValues, "err", err)
		}
		d.full, d.dump = err != nil || !dec.Skip, dec
		d.idle = !d.full
	})
	return d.full, d.idle, d.dump
}

// readTask reads one source of req in scope s (a Task). In an idle
// namespace the sockets source is not dumped.
func (r *Reader) readTask(req Request) Task[Reading] {
	return func(s *kread.Scope, name string) (Reading, error) {
		full, idle, dump := r.decide(s, req)
		rd, err := Reading{Read: s}, error(nil)
		if r.opts.BeforeRead != nil {
			err = r.opts.BeforeRead(s, name)
		}
		if err == nil && (!idle || name != "sockets") {
			rd, err = ReadSource(s, name, req)
		}
		rd.Full, rd.Idle, rd.Dump = full, idle, dump
		return rd, err
	}
}

// ReadSource reads source name of req in scope s, on the calling
// goroutine: with no deadline of its own, it is for the tasks of Read and
// for tests and benchmarks of one source.
func ReadSource(s *kread.Scope, name string, req Request) (Reading, error) {
	rd := Reading{Scope: s, Read: s, Source: name}
	var err error
	switch name {
	case "sockets":
		rd.Sockets, err = kread.ReadSockets(s, req.States)
		rd.IPv6 = rd.Sockets != nil && s.IPv6()
	case "sysctl":
		rd.Sysctls, err = s.Sysctls()
		if rd.Sysctls != nil {
			rd.Ints = readInts(s, rd.Sysctls, req.SysctlInts)
		}
	case "sockstat":
		rd.Sockstat, err = s.Sockstat()
	case "netstat":
		rd.Netstat, err = kread.ReadNetstat(s)
	}
	rd.Err = err
	return rd, err
}

// readInts reads the keys that sys does not hold, each on its own.
func readInts(s *kread.Scope, sys *kread.Sysctls, keys []string) map[string]IntSysctl {
	var ints map[string]IntSysctl
	for _, key := range keys {
		if sys.Holds(key) {
			continue
		}
		if ints == nil {
			ints = map[string]IntSysctl{}
		}
		v, err := s.ReadSysctlInt(key)
		ints[key] = IntSysctl{v, err}
	}
	return ints
}
