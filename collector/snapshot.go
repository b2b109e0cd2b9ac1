package collector

import (
	"context"
	"log/slog"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
)

// Snapshot is one reading of every source of a scope, for consumers that
// reason about the values rather than export them (the doctor). It is
// taken with the same read functions the collectors use.
type Snapshot struct {
	Time     time.Time
	Labels   []string // the scope's label values (e.g. its netns name)
	Sockets  *SocketStats
	Sysctls  *Sysctls
	Sockstat *Sockstat
	Netstat  Netstat
	// Errors holds, by collector name, what could not be read; the
	// corresponding field is then nil (Sockets may be set without
	// pressure, see readSockets; Sockstat and Netstat keep the fields
	// a partial file holds).
	Errors map[string]error
}

// snapshotSources are the sources of a Snapshot, named as the collectors
// that read them (the keys of Snapshot.Errors).
var snapshotSources = []string{"sockets", "sysctl", "sockstat", "netstat"}

// readSource reads one source of a snapshot; what it read is applied to
// the snapshot by the caller, so a read left blocked never writes to it.
func readSource(name string, s *Scope) (func(*Snapshot), error) {
	switch name {
	case "sockets":
		st, err := readSockets(s, sockdiag.AllStates)
		return func(snap *Snapshot) { snap.Sockets = st }, err
	case "sysctl":
		sys, err := s.Sysctls()
		return func(snap *Snapshot) { snap.Sysctls = sys }, err
	case "sockstat":
		st, err := readSockstat(s)
		return func(snap *Snapshot) { snap.Sockstat = st }, err
	default:
		n, err := readNetstat(s)
		return func(snap *Snapshot) { snap.Netstat = n }, err
	}
}

type snapshotBatch = batch[func(*Snapshot)]

func newSnapshotBatch(stuck *stuckTasks, logger *slog.Logger, report *Scope) *snapshotBatch {
	keys := make([]string, len(snapshotSources))
	for i, n := range snapshotSources {
		keys[i] = taskKey(n, report)
	}
	return newBatch[func(*Snapshot)](stuck, logger, keys, snapshotSources)
}

// TakeSnapshot reads every source of scope s once, each on a goroutine of
// its own: s must not depend on the calling thread. It returns by the
// deadline of s.Ctx; a source still blocked then is in Errors.
func TakeSnapshot(s *Scope) *Snapshot {
	return takeSnapshot(&stuckTasks{}, slog.New(slog.DiscardHandler), s)
}

func takeSnapshot(stuck *stuckTasks, logger *slog.Logger, s *Scope) *Snapshot {
	b := newSnapshotBatch(stuck, logger, s)
	for i, name := range snapshotSources {
		go b.run(i, func() (func(*Snapshot), error) { return readSource(name, s) })
	}
	return waitSnapshot(s, b)
}

// waitSnapshot builds the snapshot of the scope labelled by report from the
// sources of b, as far as they are read by its deadline.
func waitSnapshot(report *Scope, b *snapshotBatch) *Snapshot {
	snap := &Snapshot{Time: time.Now(), Labels: report.LabelValues, Errors: map[string]error{}}
	b.wait(report.Ctx, func(o outcome[func(*Snapshot)]) {
		if o.val != nil {
			o.val(snap)
		}
		if o.err != nil {
			snap.Errors[o.t.name] = o.err
		}
	})
	return snap
}

// Snapshots reads every scope the exporter covers once, outside of any
// scrape: the doctor's view of the host. With DiscoverNetns that is every
// namespace a scrape would visit, the own one first, then by netns label.
// It returns by ctx's deadline; what is still blocked then is in Errors,
// and a source left blocked by an earlier scrape or snapshot fails at once.
func (e *Exporter) Snapshots(ctx context.Context) []*Snapshot {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	if e.opts.DiscoverNetns {
		return e.netnsSnapshots(ctx)
	}
	return []*Snapshot{takeSnapshot(&e.stuck, e.opts.Logger, e.ownScope(ctx))}
}
