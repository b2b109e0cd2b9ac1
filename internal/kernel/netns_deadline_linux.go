// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Discover is discoverNetns (and namePods) under a deadline. The walk
// reads every /proc/<pid>/comm and ns/net under --path.procfs, a cgroup file
// per namespace and the pod log directory, which a hung mount can block:
// it runs as a task given half of the time left, so the collectors
// of the own namespace keep the other half. A walk still blocked then is
// left behind (and not started again while it blocks); the scrape visits
// only the own namespace, labelled as by the last discovery.
func (r *Reader) Discover(ctx context.Context) (*Discovery, error) {
	b := newBatch[*Discovery](&r.stuck, r.logger, []string{"netns discovery"}, []string{"netns"})
	go b.Run(0, func() (*Discovery, error) {
		d, err := discoverNetns(r.opts.ProcPath, r.config().Netns)
		namePods(r.opts.PodLogDir, d.Visit)
		return d, err
	})
	wait, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		wait, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
	}
	defer cancel()
	var d *Discovery
	var err error
	b.Wait(wait, func(o Outcome[*Discovery]) { d, err = o.Val, o.Err })
	if d == nil {
		label := HostNetnsLabel
		if l := r.ownLabel.Load(); l != nil {
			label = *l
		}
		return &Discovery{Visit: []*Namespace{{label: label, own: true}}, Found: 1}, err
	}
	r.ownLabel.Store(&d.Visit[0].label)
	return d, err
}

// ThreadScope is the namespace labelled label that the calling thread
// (tid) entered, sharing sysctl reads in progress with r's other scopes.
func (r *Reader) ThreadScope(ctx context.Context, tid int, label string) *Scope {
	s := ThreadScope(ctx, r.opts.ProcPath, tid, label)
	s.sysReads = &r.sysReads
	return s
}

// ReportScope is the scope whose labels the samples of namespace n carry;
// its reads are done in the scope of the thread that entered n.
func (r *Reader) ReportScope(ctx context.Context, n *Namespace) *Scope {
	return ThreadScope(ctx, r.opts.ProcPath, 0, n.label)
}

// netnsSnapshots is Snapshots with --netns.discover: one per visited
// namespace, the own one first, then by label. A namespace that vanished
// before it could be entered is left out; one that could not be entered
// has every source in Errors.
func (r *Reader) netnsSnapshots(ctx context.Context) []*Snapshot {
	d, _ := r.Discover(ctx)
	snaps := make([]*Snapshot, len(d.Visit))
	own := r.OwnScope(ctx)
	own.LabelValues = []string{d.Visit[0].label}
	snaps[0] = takeSnapshot(&r.stuck, r.logger, own)
	snaps[0].Pod, snaps[0].netns = d.Visit[0].pod, d.Visit[0].key.ino
	var mu sync.Mutex
	index := map[*Namespace]int{}
	for i, n := range d.Visit {
		index[n] = i
	}
	r.ForEachForeign(ctx, d.Visit[1:], func(n *Namespace) {
		report := r.ReportScope(ctx, n)
		b := newSnapshotBatch(&r.stuck, r.logger, report)
		err := r.InNetns(ctx, n, func(tid int) {
			s := r.ThreadScope(ctx, tid, n.label)
			for i, name := range snapshotSources {
				b.Run(i, func() (func(*Snapshot), error) { return readSource(name, s) })
			}
		})
		var snap *Snapshot
		switch {
		case errors.Is(err, ErrNetnsVanished):
			return
		case err != nil:
			snap = &Snapshot{Time: time.Now(), Labels: []string{n.label}, Errors: map[string]error{}}
			for _, name := range snapshotSources {
				snap.Errors[name] = err
			}
		default:
			snap = waitSnapshot(report, b)
		}
		snap.Pod, snap.netns = n.pod, n.key.ino
		mu.Lock()
		snaps[index[n]] = snap
		mu.Unlock()
	})
	return slices.DeleteFunc(snaps, func(s *Snapshot) bool { return s == nil })
}
