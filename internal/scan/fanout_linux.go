// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"sync"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
)

// Visit is one namespace of a fan-out, once its tasks are under way.
type Visit[T any] struct {
	Namespace *netns.Namespace
	Index     int // its place in the fan-out's namespaces
	// Report is the scope the namespace's samples are labelled with; the
	// reads use the scope of the thread that entered it.
	Report *kread.Scope
	// Batch holds its tasks, to wait for until Report's deadline; nil
	// when Err is set.
	Batch *Batch[T]
	// Err says why the namespace could not be entered: netns.ErrVanished
	// when it went away since discovery; any other error fails each of
	// its tasks.
	Err error
}

// Fanout runs the tasks names in every namespace of nss, a discovery's
// Visit (the exporter's own namespace first), and calls done with each
// namespace's visit once its tasks are under way, on a goroutine of its
// own: done waits for them. In the own namespace the tasks run in
// parallel, each on a goroutine (startEach); in every other one, one
// after the other on the thread that entered it, the only one there, at
// most netns.ForEachForeign's number of namespaces at a time. prepare, if
// not nil, sets up each scope the tasks read before they run. Fanout
// returns when every done has.
//
// A scrape's reads (Read) and the doctor's snapshots are both fan-outs.
func Fanout[T any](ctx context.Context, r *Reader, nss []*netns.Namespace, names []string,
	prepare func(*scope, *netns.Namespace), task Task[T], done func(Visit[T])) {
	if len(nss) == 0 {
		return
	}
	if prepare == nil {
		prepare = func(*scope, *netns.Namespace) {}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		own := r.ownScope(ctx)
		own.LabelValues = []string{nss[0].Label()}
		prepare(own, nss[0])
		b := readerBatch[T](r, own.Scope, names)
		startEach(b, own, names, task)
		done(Visit[T]{Namespace: nss[0], Report: own.Scope, Batch: b})
	}()
	index := make(map[*netns.Namespace]int, len(nss))
	for i, n := range nss {
		index[n] = i
	}
	netns.ForEachForeign(ctx, nss[1:], func(n *netns.Namespace) {
		report := r.reportScope(ctx, n)
		b := readerBatch[T](r, report, names)
		err := r.inNetns(ctx, n, func(tid int) {
			s := r.threadScope(ctx, tid, n.Label())
			prepare(s, n)
			for i, name := range names {
				b.Run(i, func() (T, error) { return task(s, name) })
			}
		})
		v := Visit[T]{Namespace: n, Index: index[n], Report: report, Batch: b, Err: err}
		if err != nil {
			v.Batch = nil
		}
		done(v)
	})
	wg.Wait()
}
