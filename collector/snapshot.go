package collector

import (
	"context"
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

// TakeSnapshot reads every source of scope s once.
func TakeSnapshot(s *Scope) *Snapshot {
	snap := &Snapshot{Time: time.Now(), Labels: s.LabelValues, Errors: map[string]error{}}
	record := func(name string, err error) {
		if err != nil {
			snap.Errors[name] = err
		}
	}
	var err error
	snap.Sockets, err = readSockets(s, sockdiag.AllStates)
	record("sockets", err)
	snap.Sysctls, err = s.Sysctls()
	record("sysctl", err)
	snap.Sockstat, err = readSockstat(s)
	record("sockstat", err)
	snap.Netstat, err = readNetstat(s)
	record("netstat", err)
	return snap
}

// Snapshots reads every scope the exporter covers once, outside of any
// scrape: the doctor's view of the host. With DiscoverNetns that is every
// namespace a scrape would visit, the own one first, then by netns label.
func (e *Exporter) Snapshots(ctx context.Context) []*Snapshot {
	if e.opts.DiscoverNetns {
		return e.netnsSnapshots(ctx)
	}
	return []*Snapshot{TakeSnapshot(OwnScope(ctx, e.opts.ProcPath))}
}
