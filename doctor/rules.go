// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// Numbers the rules rest on. The per-socket cost matches docs/runbook.md;
// the bucket mark is the TimeWaitBucketsNearLimit alert's
// (config.BucketsWarningRatio), the port thresholds come with the config.
const (
	twSocketBytes       = 256   // a TIME_WAIT mini-socket, about
	inboundMin          = 100   // server-side TIME_WAIT worth a word
	bindMinDestinations = 2     // ports unshared between destinations: bind-before-connect
	wideRangeStart      = 10240 // the range suggested when widening
	wideRangeEnd        = 65535
	listShown           = 10 // destinations or ports listed per finding
)

// rule is one check over one scope; diagnoseScope stamps its findings
// with the rule's id.
type rule struct {
	id    string
	check func(e *env) []Finding
}

// rules run in this order, which is also the order of equally severe
// findings in a report. Each rule is in rule_<id>.go (dashes as
// underscores); its id is the "rule" of its findings in the JSON and
// HTML reports, so a finding leads to its code in one step.
var rules = []rule{
	{"incomplete", ruleIncomplete},
	{"ephemeral-ports", ruleEphemeralPorts},
	{"bind-before-connect", ruleBindBeforeConnect},
	{"owners", ruleOwners},
	{"tw-reuse", ruleReuse},
	{"tw-buckets", ruleBuckets},
	{"tw-buckets-lowered", ruleBucketsLowered},
	{"tw-recycle", ruleRecycle},
	{"port-range", rulePortRange},
	{"fin-timeout", ruleFinTimeout},
	{"inbound", ruleInbound},
}

// env is one scope's snapshot with what several rules derive from it.
type env struct {
	snap *scan.Snapshot
	cfg  *config.Config
	// sys is nil when unreadable, else what was read of it: rules read
	// it through sysctls (or ports, reuse, integer), never directly.
	sys *kread.Sysctls
	st  *model.SocketStats // nil when unreadable
	// pressure: st knows the port policy, so per-destination figures hold.
	pressure bool
	// dests are the outbound destinations, highest utilisation first,
	// with their configured names.
	dests []model.Destination
}

func newEnv(snap *scan.Snapshot, cfg *config.Config) *env {
	e := &env{snap: snap, cfg: cfg, sys: snap.Sysctls, st: snap.Sockets}
	if e.st == nil || !e.st.HasPressure() || e.st.Usable() == 0 {
		return e
	}
	e.pressure = true
	e.dests = e.st.Destinations()
	names := config.DestinationNames(cfg.Destinations)
	for i := range e.dests {
		e.dests[i].Name = names[e.dests[i].Addr]
	}
	slices.SortFunc(e.dests, model.ByUtilization)
	return e
}

// sysctls returns the sysctls when every one of keys was read, else nil.
// A rule asks for the keys it reads, so a bad sysctl silences only the
// rules that need it (ruleIncomplete names it).
func (e *env) sysctls(keys ...string) *kread.Sysctls {
	if e.sys == nil || !e.sys.Has(keys...) {
		return nil
	}
	return e.sys
}

// ports returns the sysctls when the ephemeral set (ip_local_port_range
// and ip_local_reserved_ports) was read, else nil.
func (e *env) ports() *kread.Sysctls { return e.sysctls(kread.KeyPortRange) }

// reuse returns tcp_tw_reuse and tcp_timestamps, and whether they were
// read.
func (e *env) reuse() (mode, timestamps int64, ok bool) {
	s := e.sysctls(kread.KeyTwReuse, kread.KeyTimestamps)
	if s == nil {
		return 0, 0, false
	}
	return s.TCPTwReuse, s.TCPTimestamps, true
}

// integer returns the integer sysctl key, absent if it was not read (for
// an optional one: if the kernel lacks it).
func (e *env) integer(key string) kread.Optional[int64] {
	if e.sys == nil {
		return kread.Optional[int64]{}
	}
	return e.sys.Int(key)
}

func (e *env) warn() float64 { return e.cfg.Doctor.UtilizationWarning }
func (e *env) crit() float64 { return e.cfg.Doctor.UtilizationCritical }

// isLoopback reports whether a destination's traffic stays on this host,
// where tcp_tw_reuse=2 applies.
func isLoopback(d model.Destination) bool {
	return d.Addr.Addr().IsLoopback() || d.Source.IsLoopback()
}

func destLabel(d model.Destination) string {
	if d.Name != "" {
		return d.Addr.String() + " (" + d.Name + ")"
	}
	return d.Addr.String()
}

// pct writes a ratio as a percentage truncated to one decimal, never
// rounded up: 0.898 next to "critical at 90%" must read 89.8%, not 90%.
// It shows the largest k/1000 that is <= r as floats compare, the way the
// rules compare a value with a threshold (0.29*1000 is 289.99999999999994,
// yet 0.29 must show as 29%), so a value below a threshold of at most one
// decimal place in percent never prints at or above it.
func pct(r float64) string {
	k := math.Floor(r * 1000)
	for float64(k+1)/1000 <= r {
		k++
	}
	for k > 0 && float64(k)/1000 > r {
		k--
	}
	return strconv.FormatFloat(k/10, 'f', -1, 64) + "%"
}

func mib(bytes uint64) string {
	return strconv.FormatFloat(float64(bytes)/(1<<20), 'f', 1, 64) + " MiB"
}

const persist = "Persist it in a file under /etc/sysctl.d/ so it survives a reboot."

// reuseObserved states tcp_tw_reuse and tcp_timestamps as read.
func reuseObserved(e *env) string {
	mode, ts, ok := e.reuse()
	if !ok {
		return "net.ipv4.tcp_tw_reuse and net.ipv4.tcp_timestamps: not read"
	}
	return fmt.Sprintf("net.ipv4.tcp_tw_reuse=%d, net.ipv4.tcp_timestamps=%d", mode, ts)
}

// formatPortList writes a port set in the kernel's list format.
func formatPortList(p *model.PortSet) string {
	var parts []string
	for port := 1; port <= 65535; port++ {
		if !p.Has(uint16(port)) {
			continue
		}
		end := port
		for end < 65535 && p.Has(uint16(end+1)) {
			end++
		}
		if end == port {
			parts = append(parts, strconv.Itoa(port))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", port, end))
		}
		port = end
	}
	return strings.Join(parts, ",")
}
