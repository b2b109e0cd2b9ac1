package collector

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// discover is discoverNetns under a deadline. The walk reads every
// /proc/<pid>/comm and ns/net under --path.procfs, which a hung mount can
// block: it runs as a task given half of the time left, so the collectors
// of the own namespace keep the other half. A walk still blocked then is
// left behind (and not started again while it blocks); the scrape visits
// only the own namespace, labelled as by the last discovery.
func (e *Exporter) discover(ctx context.Context) (*discovery, error) {
	b := newBatch[*discovery](&e.stuck, e.opts.Logger, []string{"netns discovery"}, []string{"netns"})
	go b.run(0, func() (*discovery, error) { return discoverNetns(e.opts.ProcPath, e.config().Netns) })
	wait, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		wait, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
	}
	defer cancel()
	var d *discovery
	var err error
	b.wait(wait, func(o outcome[*discovery]) { d, err = o.val, o.err })
	if d == nil {
		label := HostNetnsLabel
		if l := e.ownLabel.Load(); l != nil {
			label = *l
		}
		return &discovery{visit: []*netnsEntry{{label: label, own: true}}, found: 1}, err
	}
	e.ownLabel.Store(&d.visit[0].label)
	return d, err
}

// threadScope is the namespace the calling thread (tid) entered.
func (e *Exporter) threadScope(ctx context.Context, tid int, label string) *Scope {
	s := ThreadScope(ctx, e.opts.ProcPath, tid, label)
	s.sysReads = &e.sysReads
	return s
}

// netnsSnapshots is Snapshots with --netns.discover: one per visited
// namespace, the own one first, then by label. A namespace that vanished
// before it could be entered is left out; one that could not be entered
// has every source in Errors.
func (e *Exporter) netnsSnapshots(ctx context.Context) []*Snapshot {
	d, _ := e.discover(ctx)
	snaps := make([]*Snapshot, len(d.visit))
	own := e.ownScope(ctx)
	own.LabelValues = []string{d.visit[0].label}
	snaps[0] = takeSnapshot(&e.stuck, e.opts.Logger, own)
	var mu sync.Mutex
	index := map[*netnsEntry]int{}
	for i, n := range d.visit {
		index[n] = i
	}
	e.forEachForeign(ctx, d.visit[1:], func(n *netnsEntry) {
		report := ThreadScope(ctx, e.opts.ProcPath, 0, n.label)
		b := newSnapshotBatch(&e.stuck, e.opts.Logger, report)
		err := inNetns(ctx, e.opts.ProcPath, n, func(tid int) {
			s := e.threadScope(ctx, tid, n.label)
			for i, name := range snapshotSources {
				b.run(i, func() (func(*Snapshot), error) { return readSource(name, s) })
			}
		})
		var snap *Snapshot
		switch {
		case errors.Is(err, errNetnsVanished):
			return
		case err != nil:
			snap = &Snapshot{Time: time.Now(), Labels: []string{n.label}, Errors: map[string]error{}}
			for _, name := range snapshotSources {
				snap.Errors[name] = err
			}
		default:
			snap = waitSnapshot(report, b)
		}
		mu.Lock()
		snaps[index[n]] = snap
		mu.Unlock()
	})
	return slices.DeleteFunc(snaps, func(s *Snapshot) bool { return s == nil })
}
