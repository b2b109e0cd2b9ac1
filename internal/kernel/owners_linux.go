// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"context"
	"path/filepath"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/owners"
)

// ownersMargin is the part of the doctor's deadline the owner lookup
// leaves, so that it ends with what it found rather than being given up.
const ownersMargin = 250 * time.Millisecond

// readOwners finds the processes holding the live sockets of snaps (the
// doctor's detail) in one walk over the processes of their namespaces,
// read in the host's cgroup namespace so that their pods are whole, under
// ctx's deadline: a walk still blocked then is left behind, as a blocked
// source is (see Batch), and the snapshots say so.
func (r *Reader) readOwners(ctx context.Context, snaps []*Snapshot) {
	want := owners.Want{}
	for _, s := range snaps {
		if s.Flows == nil {
			continue
		}
		if s.netns == 0 {
			s.netns = ownNetnsInode(r.opts.ProcPath)
		}
		if s.netns != 0 {
			want[s.netns] = s.Flows.LiveInodes()
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
	b := newBatch[*owners.Result](&r.stuck, r.logger, []string{"owners"}, []string{"owners"})
	go b.Run(0, func() (*owners.Result, error) {
		inHost := func(fn func()) { inHostCgroupns(r.opts.ProcPath, fn) }
		res := owners.Scan(scanCtx, r.opts.ProcPath, want, owners.DefaultLimits, inHost)
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
		if want[s.netns] != nil {
			s.Owners = res
		}
	}
}

// identify names the pod and container of each process found, from its
// cgroup and the kubelet's pod directories.
func (r *Reader) identify(res *owners.Result) {
	var names map[string]Pod
	for _, p := range res.Procs {
		p.PodUID, p.Container = CgroupPod([]byte(p.Cgroup))
		if p.PodUID == "" || r.opts.PodLogDir == "" {
			continue
		}
		if names == nil {
			names = podLogNames(r.opts.PodLogDir)
		}
		p.PodNamespace, p.PodName = names[p.PodUID].Namespace, names[p.PodUID].Name
	}
}

// ownNetnsInode is the inode of the exporter's own network namespace, 0 if
// it cannot be read.
func ownNetnsInode(procPath string) uint64 {
	k, err := statNs(filepath.Join(procPath, "self", "ns", "net"))
	if err != nil {
		return 0
	}
	return k.ino
}
