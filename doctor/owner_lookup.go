// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"

	"github.com/timewait-exporter/timewait_exporter/internal/owners"
)

// OwnerLookup is how the owner lookup went, for scripts: how it ended and
// what it read.
type OwnerLookup struct {
	// Ended is LookupAllFound, LookupFullScan or "stopped: " and why (the
	// deadline, a cap).
	Ended string `json:"ended"`
	// ProcessesListed are the host's processes, ProcessesVisited those
	// whose network namespace was looked at, ProcessesInCgroups those of
	// the live sockets' cgroups (visited first), ProcessesSameUID others
	// running as an owner of a live socket (visited next, when one was
	// still without a holder), ProcessesRead those of the namespaces
	// reported, whose descriptors were read.
	ProcessesListed    int `json:"processes_listed"`
	ProcessesVisited   int `json:"processes_visited"`
	ProcessesInCgroups int `json:"processes_in_cgroups"`
	ProcessesSameUID   int `json:"processes_same_uid"`
	ProcessesRead      int `json:"processes_read"`
	DescriptorsRead    int `json:"descriptors_read"`
	// ProcessesDenied could not be read (other users' need CAP_SYS_PTRACE).
	ProcessesDenied int `json:"processes_denied"`
	// SocketsClosed are live sockets of the dump closed before a holder
	// was found (not looked for further).
	SocketsClosed int `json:"sockets_closed"`
}

// How a lookup ended, when neither the deadline nor a cap stopped it.
const (
	// LookupAllFound: every live socket of the flows reported has a holder
	// (or was closed since the dump), found before the walk visited every
	// process. It stopped there, after the processes of the sockets'
	// cgroups.
	LookupAllFound = "all_found"
	// LookupFullScan: the walk visited every process.
	LookupFullScan = "full_scan"
)

// ownerLookup is what res says of the lookup, nil if it did not run.
func ownerLookup(res *owners.Result) *OwnerLookup {
	if res == nil {
		return nil
	}
	l := &OwnerLookup{Ended: LookupFullScan, ProcessesListed: res.Listed, ProcessesVisited: res.Visited,
		ProcessesInCgroups: res.First, ProcessesSameUID: res.SameUID, ProcessesRead: res.PIDs, DescriptorsRead: res.FDs, ProcessesDenied: res.Denied, SocketsClosed: res.Closed}
	switch {
	case res.Stopped != "":
		l.Ended = "stopped: " + res.Stopped
	case res.AllFound && res.Unread > 0: // not Visited < Listed: processes exit during a full walk too
		l.Ended = LookupAllFound
	}
	return l
}

// line is the lookup for people.
func (l *OwnerLookup) line() string {
	var how string
	order := fmt.Sprintf("the %d in the live sockets' cgroups first", l.ProcessesInCgroups)
	if l.ProcessesSameUID > 0 {
		order += fmt.Sprintf(", then %d running as their owners", l.ProcessesSameUID)
	}
	switch l.Ended {
	case LookupAllFound:
		how = fmt.Sprintf("every live socket still open found a holder after %d of the %d processes (%s)", l.ProcessesVisited, l.ProcessesListed, order)
	case LookupFullScan:
		how = fmt.Sprintf("read every process (%d; %s)", l.ProcessesVisited, order)
	default:
		how = fmt.Sprintf("%s after %d of the %d processes", l.Ended, l.ProcessesVisited, l.ProcessesListed)
	}
	if l.SocketsClosed > 0 {
		how += fmt.Sprintf("; %d closed since the dump", l.SocketsClosed)
	}
	return fmt.Sprintf("owner lookup: %s; %d process(es) of the namespaces reported and %d descriptors read; %d process(es) could not be read (other users' need CAP_SYS_PTRACE)",
		how, l.ProcessesRead, l.DescriptorsRead, l.ProcessesDenied)
}
