// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/churn"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
	"github.com/timewait-exporter/timewait_exporter/internal/owners"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// ownersMargin is the part of the doctor's deadline the owner lookup
// leaves, so that it ends with what it found rather than being given up.
const ownersMargin = 250 * time.Millisecond

// readOwners finds the processes holding the live sockets of the flows
// the doctor reports in snaps (ReportedFlows) in one walk over the
// processes of their namespaces, those of the sockets' cgroups first,
// under ctx's deadline: a walk still blocked then is left behind, as a
// blocked source is, and the snapshots say so. The holders' cgroups are
// read from the host's cgroup namespace, so that their pods are whole.
func (r *Reader) readOwners(ctx context.Context, snaps []*Snapshot) {
	want := owners.Want{}
	q := owners.Query{Sockets: want, Cgroups: map[uint64]bool{}, UIDs: map[uint32]bool{}}
	for _, s := range snaps {
		inodes := reportedSockets(s, q)
		if len(inodes) == 0 {
			continue
		}
		if s.netnsIno == 0 {
			s.netnsIno = netns.OwnInode(r.opts.ProcPath)
		}
		if s.netnsIno != 0 {
			want[s.netnsIno] = inodes
		}
	}
	if len(want) == 0 {
		return
	}
	scanCtx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		scanCtx, cancel = context.WithDeadline(ctx, dl.Add(-ownersMargin))
	}
	defer cancel()
	q.Live = r.openSockets(scanCtx, snaps)
	b := newBatch[*owners.Result](&r.stuck, r.logger, []string{"owners"}, []string{"owners"})
	go b.Run(0, func() (*owners.Result, error) {
		inHost := func(fn func()) { netns.InHostCgroupns(r.opts.ProcPath, fn) }
		res := owners.Scan(scanCtx, r.opts.ProcPath, q, owners.DefaultLimits, inHost)
		r.identify(res)
		return res, nil
	})
	var res *owners.Result
	b.Wait(ctx, func(o Outcome[*owners.Result]) {
		res = o.Val
		if o.Err != nil {
			res = &owners.Result{Stopped: o.Err.Error()}
		}
	})
	for _, s := range snaps {
		if want[s.netnsIno] != nil {
			s.Owners = res
		}
	}
}

// openSockets is owners.Query.Live: the sockets among inodes that a dump
// of the live sockets of their namespace shows now, the own or one of
// snaps' (entered as a visit does). It cannot tell for another namespace,
// nor when the dump fails or is interrupted (a socket missed would be
// taken for closed).
func (r *Reader) openSockets(ctx context.Context, snaps []*Snapshot) func(uint64, []uint32) (map[uint32]bool, bool) {
	own := netns.OwnInode(r.opts.ProcPath)
	foreign := map[uint64]*netns.Namespace{}
	for _, s := range snaps {
		if s.netns != nil {
			foreign[s.netnsIno] = s.netns
		}
	}
	return func(ns uint64, inodes []uint32) (map[uint32]bool, bool) {
		if ns == own && own != 0 {
			return liveAmong(ctx, inodes)
		}
		n := foreign[ns]
		if n == nil {
			return nil, false
		}
		type answer struct {
			open map[uint32]bool
			ok   bool
		}
		got := make(chan answer, 1) // the thread may finish after a deadline
		if r.inNetns(ctx, n, func(int) { open, ok := liveAmong(ctx, inodes); got <- answer{open, ok} }) != nil {
			return nil, false
		}
		select {
		case a := <-got:
			return a.open, a.ok
		case <-ctx.Done():
			return nil, false
		}
	}
}

// liveAmong returns those of inodes that a dump of the live sockets of the
// calling thread's network namespace shows.
func liveAmong(ctx context.Context, inodes []uint32) (map[uint32]bool, bool) {
	conn, err := sockdiag.Open()
	if err != nil {
		return nil, false
	}
	defer conn.Close()
	wanted := make(map[uint32]bool, len(inodes))
	for _, ino := range inodes {
		wanted[ino] = true
	}
	open := map[uint32]bool{}
	conn.Dump(ctx, unix.AF_UNSPEC, sockdiag.AllStates&^sockdiag.StateMask(sockdiag.StateTimeWait))
	for socks, ok := conn.Next(); ok; socks, ok = conn.Next() {
		for i := range socks {
			if wanted[socks[i].Inode] {
				open[socks[i].Inode] = true
			}
		}
	}
	return open, conn.Err() == nil
}

// reportedSockets returns the inodes of the live sockets of the flows the
// doctor reports for s (ReportedFlows), and adds their cgroups and owners
// to q.
func reportedSockets(s *Snapshot, q owners.Query) map[uint32]bool {
	if s.Flows == nil {
		return nil
	}
	inodes := map[uint32]bool{}
	add := func(socks *churn.Sockets) {
		if socks == nil {
			return
		}
		for _, ino := range socks.Inodes {
			inodes[ino] = true
		}
		for _, id := range socks.Cgroups {
			q.Cgroups[id] = true
		}
		for _, uid := range socks.UIDs {
			q.UIDs[uid] = true
		}
	}
	dests, ports := ReportedFlows(s.Sockets)
	for _, d := range dests {
		add(s.Flows.Flow(churn.Flow{Src: d.Source, Dst: d.Addr}))
	}
	for _, p := range ports {
		add(s.Flows.Port(p.Port))
	}
	return inodes
}

// identify names the pod and container of each process found, from its
// cgroup and the kubelet's pod directories.
func (r *Reader) identify(res *owners.Result) {
	var names map[string]netns.Pod
	for _, p := range res.Procs {
		p.PodUID, p.Container = netns.CgroupPod([]byte(p.Cgroup))
		if p.PodUID == "" || r.opts.PodLogDir == "" {
			continue
		}
		if names == nil {
			names = netns.PodNames(r.opts.PodLogDir)
		}
		p.PodNamespace, p.PodName = names[p.PodUID].Namespace, names[p.PodUID].Name
	}
}
