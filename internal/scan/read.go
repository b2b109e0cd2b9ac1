// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// Request is what a scrape reads in each scope: the sources of its enabled
// collectors (named as the collectors) and how.
type Request struct {
	// Sources are read in parallel in the own namespace and in this
	// order on the thread that entered a foreign one.
	Sources []string
	// States are the TCP states the sockets source dumps.
	States uint32
	// SysctlInts are the integer sysctls the sysctl source gives in
	// Reading.Ints: from the set kread.Sysctls reads when it holds them,
	// else each read on its own.
	SysctlInts []string
	// NetstatRequired are the netstat and snmp fields ("file group
	// field") the netstat source fails naming when a file that was read
	// lacks them.
	NetstatRequired [][3]string
	// DumpBusy skips the dump of a foreign namespace that Detail does not
	// name and whose counts stay below Warning (netns.dump: busy): it is
	// idle.
	DumpBusy bool
	Warning  float64
	// Detail (netns.detail) names the foreign namespaces never idle: it
	// is matched against each one's label, the comm of its lowest pid and
	// its pod as namespace/name. nil names none.
	Detail *regexp.Regexp
}

// Reading is one source's reading of one scope, or with Source "" the
// visit of a namespace (sent before its sources' readings; Err says why it
// could not be entered) or, with Discovery set, the discovery. It is plain
// data: the collectors read its fields and call nothing.
type Reading struct {
	// Labels are the scope labels of the samples (the netns label with
	// discovery, none without); Index is the scope's place in the scrape
	// (0: the own namespace, -1: the discovery).
	Labels    []string
	Index     int
	Netns     *Netns     // of a visit with discovery: the namespace visited
	Vanished  bool       // of a visit: the namespace went away before it could be entered
	Discovery *Discovery // of the discovery: what it found (Err: why it failed)
	Source    string
	Key       string        // the source and scope, as the log names them
	Keys      []string      // of a visit: the keys of its sources, in Request.Sources' order
	Err       error         // what could not be read
	Blocked   bool          // Err is a read left blocked at a deadline, or not started because one still blocks
	Took      time.Duration // the read's time; 0 when it never started
	// Full is set in a foreign namespace once it is known not idle, Idle
	// once it is known idle; Dump is then the bound of its max ratio.
	Full, Idle bool
	Dump       model.DumpDecision
	Sockets    *model.Summary // nil when idle or failed
	IPv6       bool           // the namespace has IPv6 (with Sockets)
	Sysctls    *kread.Sysctls // the set, nil when unread (the doctor's snapshots take it)
	Ints       map[string]IntSysctl
	Ports      kread.Optional[Ports] // absent when the port range was not read
	Sockstat   *kread.Sockstat
	Netstat    kread.Netstat
}

// IntSysctl is one integer sysctl of Request.SysctlInts.
type IntSysctl struct {
	Value kread.Optional[int64]
	Err   error
	// Failed tells that the set holds it and could not read it: the
	// reading's Err says why.
	Failed bool
}

// Ports is the ephemeral port range and the ports of it connect() may use
// (without ip_local_reserved_ports).
type Ports struct {
	Start, End uint16
	Usable     int
}

// Read reads req's sources in every scope of a scrape: the own namespace,
// or with DiscoverNetns every namespace a discovery finds (readNetns). It
// sends each reading on the returned channel as it comes in, each scope's
// by the deadline of ctx, and closes the channel once every scope is done.
func (r *Reader) Read(ctx context.Context, req Request) <-chan Reading {
	out := make(chan Reading)
	go func() {
		defer close(out)
		if r.opts.DiscoverNetns {
			r.readNetns(ctx, req, out)
			return
		}
		own := r.ownScope(ctx)
		b := readerBatch[Reading](r, own.Scope, req.Sources)
		out <- Reading{Labels: own.LabelValues, Keys: keysOf(req.Sources, own.LabelValues)}
		startEach(b, own, req.Sources, r.readTask(req))
		sendReadings(own.Scope, 0, b, out)
	}()
	return out
}

// sendReadings sends the readings of b, the sources of the scope labelled
// by report (the scrape's scope index), until its deadline.
func sendReadings(report *kread.Scope, index int, b *Batch[Reading], out chan<- Reading) {
	b.Wait(report.Ctx, func(o Outcome[Reading]) {
		rd := o.Val
		rd.Labels, rd.Index, rd.Source, rd.Key = report.LabelValues, index, o.Job.Name(), o.Job.Key()
		rd.Err, rd.Blocked = o.Err, StillBlocked(o.Err)
		if start := o.Job.StartTime(); !start.IsZero() {
			rd.Took = time.Since(start)
		}
		out <- rd
	})
}

// idleness is a foreign namespace's decision whether it is idle, taken
// once by its first source, on its thread.
type idleness struct {
	detailed   bool // Request.Detail names it
	once       sync.Once
	full, idle bool
	dump       model.DumpDecision
}

// decide decides once whether the namespace of s is idle (see
// Request.DumpBusy); the own namespace is neither idle nor full.
func (r *Reader) decide(s *scope, req Request) (full, idle bool, dump model.DumpDecision) {
	d := s.idle
	if d == nil || s.Own() {
		return false, false, dump
	}
	d.once.Do(func() {
		d.full = !req.DumpBusy || d.detailed
		if d.full {
			return
		}
		dec, err := decideDump(s, req.Warning)
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
	return func(s *scope, name string) (Reading, error) {
		full, idle, dump := r.decide(s, req)
		rd, err := Reading{}, error(nil)
		if r.opts.BeforeRead != nil {
			err = r.opts.BeforeRead(s.Scope, name)
		}
		if err == nil && (!idle || name != "sockets") {
			rd, err = readOne(s, name, req)
		}
		rd.Full, rd.Idle, rd.Dump = full, idle, dump
		return rd, err
	}
}

// ReadSource reads source name of req in scope s, on the calling
// goroutine, as a scrape's task does (readOne): with no deadline of its
// own, it is for tests and benchmarks of one source.
func ReadSource(s *kread.Scope, name string, req Request) (Reading, error) {
	return readOne(&scope{Scope: s}, name, req)
}

// readOne is ReadSource in scope s, whose sysctls its sources share.
func readOne(s *scope, name string, req Request) (Reading, error) {
	rd := Reading{Labels: s.LabelValues, Source: name}
	var err error
	switch name {
	case "sockets":
		sys, sysErr := s.sysctlsIfPrompt()
		rd.Sockets, err = kread.ReadSockets(s.Scope, req.States, sys, sysErr)
		rd.IPv6 = rd.Sockets != nil && s.IPv6()
	case "sysctl":
		rd.Sysctls, err = s.sysctls()
		if rd.Sysctls != nil {
			rd.Ints = readInts(s.Scope, rd.Sysctls, req.SysctlInts)
			rd.Ports = portsOf(rd.Sysctls)
		}
	case "sockstat":
		rd.Sockstat, err = s.Sockstat()
	case "netstat":
		rd.Netstat, err = kread.ReadNetstat(s.Scope)
		err = errors.Join(err, kread.NetstatMissing(s.Scope, rd.Netstat, req.NetstatRequired))
	}
	rd.Err = err
	return rd, err
}

// decideDump decides from the sockstat and sysctls of s (shared with its
// sources that export them) whether its dump can be skipped (see
// kread.DecideDump). On any error the namespace is dumped.
func decideDump(s *scope, warning float64) (model.DumpDecision, error) {
	sys, err := kread.ForPressure(s.sysctls())
	if err != nil {
		return model.DumpDecision{}, fmt.Errorf("dump decision: %w", err)
	}
	st, err := s.Sockstat()
	if err != nil {
		return model.DumpDecision{}, fmt.Errorf("dump decision: %w", err)
	}
	return kread.DecideDump(st, sys, warning)
}

// readInts gives each of keys from sys when it holds it, else reads it on
// its own.
func readInts(s *kread.Scope, sys *kread.Sysctls, keys []string) map[string]IntSysctl {
	ints := make(map[string]IntSysctl, len(keys))
	for _, key := range keys {
		if sys.Holds(key) {
			ints[key] = IntSysctl{Value: sys.Int(key), Failed: !sys.Has(key)}
			continue
		}
		v, err := s.ReadSysctlInt(key)
		ints[key] = IntSysctl{Value: v, Err: err}
	}
	return ints
}

// portsOf is the port range of sys and its usable ports, if it was read.
func portsOf(sys *kread.Sysctls) kread.Optional[Ports] {
	if !sys.Has(kread.KeyPortRange) {
		return kread.Optional[Ports]{}
	}
	return kread.Some(Ports{Start: sys.PortRange.Start, End: sys.PortRange.End, Usable: sys.UsablePorts()})
}
