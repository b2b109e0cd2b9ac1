// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
)

// discover is netns.Discover under a deadline. The walk
// reads every /proc/<pid>/comm and ns/net under --path.procfs, a cgroup file
// per namespace and the pod log directory, which a hung mount can block:
// it runs as a task given half of the time left, so the collectors
// of the own namespace keep the other half. A walk still blocked then is
// left behind (and not started again while it blocks); the scrape visits
// only the own namespace, labelled as by the last discovery.
func (r *Reader) discover(ctx context.Context) (*netns.Discovery, error) {
	b := newBatch[*netns.Discovery](&r.stuck, r.logger, []string{"netns discovery"}, []string{"netns"})
	go b.Run(0, func() (*netns.Discovery, error) {
		return netns.Discover(r.opts.ProcPath, r.netns(), r.opts.PodLogDir)
	})
	wait, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		wait, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
	}
	defer cancel()
	var d *netns.Discovery
	var err error
	b.Wait(wait, func(o Outcome[*netns.Discovery]) { d, err = o.Val, o.Err })
	if d == nil {
		label := netns.HostLabel
		if l := r.ownLabel.Load(); l != nil {
			label = *l
		}
		return netns.OwnOnly(label), err
	}
	label := d.Visit[0].Label()
	r.ownLabel.Store(&label)
	return d, err
}

// Netns is a visited namespace as its samples name it.
type Netns struct {
	Label string
	Inode uint64
	PID   int    // its lowest pid, 0 for a named namespace no process holds
	Comm  string // that process's comm
	Pod   netns.Pod
}

// Discovery is what a scrape's discovery found (see netns.Discovery).
type Discovery struct {
	Found, Excluded, Dropped, Denied int
}

// readNetns is Read with --netns.discover: the discovery's reading first
// (Index -1, the own namespace's labels, the discovery's error and time),
// then each namespace's visit and readings, by Fanout.
func (r *Reader) readNetns(ctx context.Context, req Request, out chan<- Reading) {
	start := time.Now()
	d, err := r.discover(ctx)
	out <- Reading{Labels: []string{d.Visit[0].Label()}, Index: -1, Err: err, Blocked: StillBlocked(err), Took: time.Since(start),
		Discovery: &Discovery{Found: d.Found, Excluded: d.Excluded, Dropped: d.Dropped, Denied: d.Denied}}
	prepare := func(s *scope, n *netns.Namespace) { s.idle = &idleness{detailed: req.detailed(n)} }
	Fanout(ctx, r, d.Visit, req.Sources, prepare, r.readTask(req), func(v Visit[Reading]) {
		n := v.Namespace
		out <- Reading{Labels: v.Report.LabelValues, Index: v.Index, Err: v.Err, Blocked: StillBlocked(v.Err),
			Vanished: errors.Is(v.Err, netns.ErrVanished), Keys: keysOf(req.Sources, v.Report.LabelValues),
			Netns: &Netns{Label: n.Label(), Inode: n.Inode(), PID: n.PID(), Comm: n.Comm(), Pod: n.Pod()}}
		if v.Err == nil {
			sendReadings(v.Report, v.Index, v.Batch, out)
		}
	})
}

// detailed reports whether req.Detail names foreign namespace n: its
// label, the comm of its lowest pid or its pod.
func (req Request) detailed(n *netns.Namespace) bool {
	if req.Detail == nil {
		return false
	}
	names := []string{n.Label(), n.Comm()}
	if pod := n.Pod(); pod.Name != "" {
		names = append(names, pod.Namespace+"/"+pod.Name)
	}
	return slices.ContainsFunc(names, req.Detail.MatchString)
}

// threadScope is the namespace labelled label that the calling thread
// (tid) entered, sharing sysctl reads in progress with r's other scopes.
func (r *Reader) threadScope(ctx context.Context, tid int, label string) *scope {
	return &scope{Scope: kread.ThreadScope(ctx, r.opts.ProcPath, tid, label), reads: &r.sysReads}
}

// reportScope is the scope whose labels the samples of namespace n carry;
// its reads are done in the scope of the thread that entered n.
func (r *Reader) reportScope(ctx context.Context, n *netns.Namespace) *kread.Scope {
	return kread.ThreadScope(ctx, r.opts.ProcPath, 0, n.Label())
}

// inNetns is netns.Enter under r's procfs mount.
func (r *Reader) inNetns(ctx context.Context, n *netns.Namespace, fn func(tid int)) error {
	return netns.Enter(ctx, r.opts.ProcPath, n, fn)
}

// netnsSnapshots is Snapshots with --netns.discover: one per visited
// namespace, the own one first, then by label. A namespace that vanished
// before it could be entered is left out; one that could not be entered
// has every source in Errors.
func (r *Reader) netnsSnapshots(ctx context.Context) []*Snapshot {
	d, _ := r.discover(ctx)
	snaps := make([]*Snapshot, len(d.Visit))
	Fanout(ctx, r, d.Visit, snapshotSources, nil, readSource, func(v Visit[func(*Snapshot)]) {
		var snap *Snapshot
		switch {
		case errors.Is(v.Err, netns.ErrVanished):
			return
		case v.Err != nil:
			snap = &Snapshot{Time: time.Now(), Labels: v.Report.LabelValues, Errors: map[string]error{}}
			for _, name := range snapshotSources {
				snap.Errors[name] = v.Err
			}
		default:
			snap = waitSnapshot(v.Report, v.Batch)
		}
		snap.Pod, snap.netnsIno, snap.netns = v.Namespace.Pod(), v.Namespace.Inode(), v.Namespace
		snaps[v.Index] = snap // each visit its own element
	})
	return slices.DeleteFunc(snaps, func(s *Snapshot) bool { return s == nil })
}
