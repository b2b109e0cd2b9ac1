// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"log/slog"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/churn"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
	"github.com/timewait-exporter/timewait_exporter/internal/owners"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

// Snapshot is one reading of every source of a scope, for consumers that
// reason about the values rather than export them (the doctor). It is
// taken with the same read functions the collectors use.
type Snapshot struct {
	Time     time.Time
	Labels   []string  // the scope's label values (e.g. its netns name)
	Pod      netns.Pod // the Kubernetes pod of the scope's namespace, if any
	Sockets  *model.SocketStats
	Sysctls  *kread.Sysctls
	Sockstat *kread.Sockstat
	Netstat  kread.Netstat
	// Flows are each flow's TIME_WAIT ages and live socket inodes, and
	// Owners the processes holding those sockets: the doctor's detail,
	// nil when not read (see readOwners).
	Flows  *churn.Recorder
	Owners *owners.Result
	// netnsIno is the inode of the scope's network namespace, 0 if unknown;
	// netns the namespace entered to read it (nil for the own).
	netnsIno uint64
	netns    *netns.Namespace
	// Errors holds, by collector name, what could not be read; the
	// corresponding field is then nil (Sockets may be set without
	// pressure, see readSockets; Sockstat and Netstat keep the fields
	// a partial file holds; Sysctls keeps the sysctls that were read,
	// see Sysctls.Has, so one bad sysctl costs only what needs it).
	Errors map[string]error
}

// snapshotSources are the sources of a Snapshot, named as the collectors
// that read them (the keys of Snapshot.Errors).
var snapshotSources = []string{"sockets", "sysctl", "sockstat", "netstat"}

// readSource reads one source of a snapshot, with ReadSource as a scrape
// does, the sockets with each flow's detail; what it read is applied to
// the snapshot by the caller, so a read left blocked never writes to it.
func readSource(s *scope, name string) (func(*Snapshot), error) {
	if name == "sockets" {
		sys, sysErr := s.sysctlsIfPrompt()
		st, flows, err := kread.ReadSocketsDetail(s.Scope, sockdiag.AllStates, sys, sysErr)
		return func(snap *Snapshot) { snap.Sockets, snap.Flows = st, flows }, err
	}
	rd, err := readOne(s, name, Request{})
	return func(snap *Snapshot) {
		// Each reading holds its own source's field only.
		if rd.Sysctls != nil {
			snap.Sysctls = rd.Sysctls
		}
		if rd.Sockstat != nil {
			snap.Sockstat = rd.Sockstat
		}
		if rd.Netstat != nil {
			snap.Netstat = rd.Netstat
		}
	}, err
}

type snapshotBatch = Batch[func(*Snapshot)]

func newSnapshotBatch(stuck *stuckJobs, logger *slog.Logger, report *kread.Scope) *snapshotBatch {
	return newBatch[func(*Snapshot)](stuck, logger, keysOf(snapshotSources, report.LabelValues), snapshotSources)
}

// TakeSnapshot reads every source of scope s once, each on a goroutine of
// its own: s must not depend on the calling thread. It returns by the
// deadline of s.Ctx; a source still blocked then is in Errors.
func TakeSnapshot(s *kread.Scope) *Snapshot {
	return takeSnapshot(&stuckJobs{}, slog.New(slog.DiscardHandler), &scope{Scope: s})
}

func takeSnapshot(stuck *stuckJobs, logger *slog.Logger, s *scope) *Snapshot {
	b := newSnapshotBatch(stuck, logger, s.Scope)
	startEach(b, s, snapshotSources, readSource)
	return waitSnapshot(s.Scope, b)
}

// waitSnapshot builds the snapshot of the scope labelled by report from the
// sources of b, as far as they are read by its deadline.
func waitSnapshot(report *kread.Scope, b *snapshotBatch) *Snapshot {
	snap := &Snapshot{Time: time.Now(), Labels: report.LabelValues, Errors: map[string]error{}}
	b.Wait(report.Ctx, func(o Outcome[func(*Snapshot)]) {
		if o.Val != nil {
			o.Val(snap)
		}
		if o.Err != nil {
			snap.Errors[o.Job.Name()] = o.Err
		}
	})
	return snap
}

// Snapshots reads every scope the exporter covers once, outside of any
// scrape: the doctor's view of the host. With DiscoverNetns that is every
// namespace a scrape would visit, the own one first, then by netns label.
// It returns by ctx's deadline, which the caller sets (the doctor's
// --doctor.timeout); what is still blocked then is in Errors, and a source
// left blocked by an earlier scrape or snapshot fails at once.
func (r *Reader) Snapshots(ctx context.Context) []*Snapshot {
	var snaps []*Snapshot
	if r.opts.DiscoverNetns {
		snaps = r.netnsSnapshots(ctx)
	} else {
		snaps = []*Snapshot{takeSnapshot(&r.stuck, r.logger, r.ownScope(ctx))}
	}
	if r.opts.Owners {
		r.readOwners(ctx, snaps)
	}
	return snaps
}
