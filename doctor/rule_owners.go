// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ruleOwners names, for the destinations nearest exhaustion and the
// listening ports with the most server-side TIME_WAIT, how fast each closes
// connections, in what shape, and the processes holding its live sockets:
// the program to fix.
func ruleOwners(e *env) []Finding {
	if e.snap.Flows == nil || e.st == nil || !e.pressure {
		return nil
	}
	flows := flowReports(e)
	if len(flows) == 0 {
		return nil
	}
	var obs, subjects []string
	var fix []Step
	for _, f := range flows {
		obs = append(obs, flowLine(f))
		if f.Destination != "" {
			subjects = append(subjects, f.Destination)
		} else {
			subjects = append(subjects, strconv.Itoa(int(f.ListeningPort)))
		}
		if s, ok := unknownStep(f); ok {
			fix = append(fix, s)
		}
	}
	lookup := ownerLookup(e.snap.Owners)
	if lookup != nil {
		obs = append(obs, lookup.line())
	}
	return []Finding{{
		Severity:    Info,
		Title:       ownersTitle(flows),
		Subjects:    subjects,
		Observed:    obs,
		Why:         "A TIME_WAIT socket belongs to no process, but the program that leaves it is almost always the one holding live connections (ESTABLISHED, SYN_SENT, CLOSE_WAIT, …) from the same source IP to the same destination: the doctor finds them as ss -p does, matching the sockets' inodes against /proc/<pid>/fd of the processes in this network namespace. The rate comes from the ages of the TIME_WAIT sockets: tcp_time_wait() (net/ipv4/tcp_minisocks.c) keeps each for a fixed 60 s (TCP_TIMEWAIT_LEN) and sock_diag reports the time left, so the sockets of a flow are the connections it closed in the last minute, each with its time. The rate is their count over the span their ages cover (60 s for a flow closing for a minute or more, less for a younger one or a burst). It is a lower bound where TIME_WAIT sockets left early: tcp_tw_reuse took them over (TcpExt TWRecycled) or tcp_max_tw_buckets dropped them (TCPTimeWaitOverflow). A burst is half of the closes within a quarter of that span or less. A count rising (more closes in the last 10 s than timers firing in the next 10 s) gives the time left until every usable port is held at that pace.",
		Fix:         fix,
		Flows:       flows,
		OwnerLookup: lookup,
	}}
}

// ownersTitle names the first flow's owner, or says it is unknown.
func ownersTitle(flows []FlowReport) string {
	f := flows[0]
	who := "owner unknown"
	if len(f.Owners) > 0 {
		who = fmt.Sprintf("pid %d (%s)", f.Owners[0].PID, f.Owners[0].Comm)
	}
	if f.TimeWait == 0 {
		return fmt.Sprintf("%s holds %d live connection(s) to %s, none closed in the last 60 s", who, f.LiveSockets, flowName(f))
	}
	return fmt.Sprintf("%s closes %s connections/s to %s: %s", who, strconv.FormatFloat(f.ClosesPerSecond, 'f', -1, 64), flowName(f), strings.ReplaceAll(f.Shape, "_", " "))
}

func flowName(f FlowReport) string {
	if f.Destination != "" {
		return f.Destination
	}
	return fmt.Sprintf("listening port %d", f.ListeningPort)
}

// flowLine is one flow of the finding, for people.
func flowLine(f FlowReport) string {
	var b strings.Builder
	if f.Destination != "" {
		fmt.Fprintf(&b, "%s from %s: ", f.Destination, f.Source)
	} else {
		fmt.Fprintf(&b, "listening port %d (server side): ", f.ListeningPort)
	}
	if f.TimeWait == 0 {
		b.WriteString("no TIME_WAIT (no connection closed first here in the last 60 s)")
	} else {
		fmt.Fprintf(&b, "%s closes/s over the last %s s (%d TIME_WAIT)", strconv.FormatFloat(f.ClosesPerSecond, 'f', -1, 64), strconv.FormatFloat(f.WindowSeconds, 'f', -1, 64), f.TimeWait)
		if f.RateLowerBound {
			b.WriteString(", a lower bound")
		}
		fmt.Fprintf(&b, ", %s (half of the closes within %s s)", strings.ReplaceAll(f.Shape, "_", " "), strconv.FormatFloat(f.HalfClosesWithinSeconds, 'f', -1, 64))
	}
	if f.Destination != "" {
		fmt.Fprintf(&b, "; %d of %d ports held", f.PortsHeld, f.PortsUsable)
		if f.SecondsToExhaustion != nil {
			fmt.Fprintf(&b, ", rising: all held in %s s at this pace", strconv.FormatFloat(*f.SecondsToExhaustion, 'f', -1, 64))
		}
	}
	fmt.Fprintf(&b, "; %d live socket(s)", f.LiveSockets)
	for _, o := range f.Owners {
		fmt.Fprintf(&b, "; held by pid %d %s (%s) with %d", o.PID, o.Comm, o.Cmdline, o.LiveSockets)
		if o.Container != "" {
			fmt.Fprintf(&b, ", container %s", shortID(o.Container))
		}
		switch {
		case o.PodName != "":
			fmt.Fprintf(&b, ", pod %s/%s", o.PodNamespace, o.PodName)
		case o.PodUID != "":
			fmt.Fprintf(&b, ", pod uid %s", o.PodUID)
		}
	}
	if f.OwnerUnknownReason != "" {
		fmt.Fprintf(&b, "; owner unknown (%s)", f.OwnerUnknownReason)
	}
	return b.String()
}

// shortID is a container ID as runtimes print it: its first 12 characters.
func shortID(id string) string { return id[:min(len(id), 12)] }

// unknownStep is what the engineer can still do about a flow whose owner
// is unknown.
func unknownStep(f FlowReport) (Step, bool) {
	switch f.OwnerUnknownReason {
	case unknownNoLive:
		return Step{
			Text:     fmt.Sprintf("%s: no socket of its client lives long enough to be seen, so its program cannot be named from here. What is known: %s connections/s, from source IP %s. Catch the program in the act by listing the connections to it many times in a row (a connection lives a few milliseconds), or look for the client that owns source IP %[3]s (a pod's IP names the pod).", flowName(f), strconv.FormatFloat(f.ClosesPerSecond, 'f', -1, 64), f.Source),
			Commands: []string{fmt.Sprintf("for i in $(seq 500); do ss -tnpH %s; done | grep -o 'users:.*' | sort | uniq -c", ssFilter(f))},
		}, true
	case unknownPtrace:
		return Step{Text: fmt.Sprintf("%s: other users' /proc/<pid>/fd can only be read with CAP_SYS_PTRACE. Run the doctor as root on the host, or give the exporter CAP_SYS_PTRACE (the netns-discovery overlay has it; see docs/security.md), or run the command below as root.", flowName(f)),
			Commands: []string{"ss -tnp " + ssFilter(f)}}, true
	}
	return Step{}, false
}

func ssFilter(f FlowReport) string {
	if f.Destination != "" {
		return "dst " + ssAddr(netip.MustParseAddrPort(f.Destination))
	}
	return "sport = :" + strconv.Itoa(int(f.ListeningPort))
}
