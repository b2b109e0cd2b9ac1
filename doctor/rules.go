package doctor

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
)

// Numbers the rules rest on. The per-socket cost and the 80 % bucket mark
// match docs/runbook.md and the TimeWaitBucketsNearLimit alert.
const (
	twSocketBytes       = 256 // a TIME_WAIT mini-socket, about
	bucketsNearRatio    = 0.8 // of tcp_max_tw_buckets
	inboundMin          = 100 // server-side TIME_WAIT worth a word
	bindMinDestinations = 3   // "many destinations" for bind-before-connect
	bindSharedMax       = 0.02
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
// findings in a report.
var rules = []rule{
	{"incomplete", ruleIncomplete},
	{"ephemeral-ports", ruleEphemeralPorts},
	{"bind-before-connect", ruleBindBeforeConnect},
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
	snap *kernel.Snapshot
	cfg  *config.Config
	sys  *kernel.Sysctls     // nil when unreadable
	st   *kernel.SocketStats // nil when unreadable
	// pressure: st knows the port policy, so per-destination figures hold.
	pressure bool
	// dests are the outbound destinations, highest utilisation first,
	// with their configured names.
	dests []kernel.Destination
}

func newEnv(snap *kernel.Snapshot, cfg *config.Config) *env {
	e := &env{snap: snap, cfg: cfg, sys: snap.Sysctls, st: snap.Sockets}
	if e.st == nil || !e.st.HasPressure() || e.st.Usable() == 0 {
		return e
	}
	e.pressure = true
	e.dests = e.st.Destinations()
	kernel.NameDestinations(e.dests, cfg)
	slices.SortStableFunc(e.dests, func(a, b kernel.Destination) int {
		return cmp.Compare(b.Utilization, a.Utilization)
	})
	return e
}

// sysctl returns one integer sysctl and whether it was read.
func (e *env) sysctl(key string) (int64, bool) {
	if e.sys == nil {
		return 0, false
	}
	return e.sys.Value(key)
}

func (e *env) warn() float64 { return e.cfg.Doctor.UtilizationWarning }
func (e *env) crit() float64 { return e.cfg.Doctor.UtilizationCritical }

// isLoopback reports whether a destination's traffic stays on this host,
// where tcp_tw_reuse=2 applies.
func isLoopback(d kernel.Destination) bool {
	return d.Addr.Addr().IsLoopback() || d.Source.IsLoopback()
}

func destLabel(d kernel.Destination) string {
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

// --- incomplete -----------------------------------------------------------

// ruleIncomplete reports sources the snapshot could not read: the rules that
// need them stay silent, so the verdict is partial.
func ruleIncomplete(e *env) []Finding {
	if len(e.snap.Errors) == 0 {
		return nil
	}
	names := make([]string, 0, len(e.snap.Errors))
	for n := range e.snap.Errors {
		names = append(names, n)
	}
	sort.Strings(names)
	var obs []string
	for _, n := range names {
		obs = append(obs, fmt.Sprintf("%s: %v", n, e.snap.Errors[n]))
	}
	return []Finding{{
		Severity: Warning,
		Title:    "Some sources could not be read; the rules that need them were skipped",
		Subjects: names,
		Observed: obs,
		Why:      "The doctor judges only what it could read. The sockets source is the kernel's sock_diag netlink dump; sockstat, netstat and sysctl are files under /proc (net/sockstat, net/netstat and net/snmp, sys/net/ipv4).",
		Fix:      []Step{{Text: "Check that --path.procfs points at a procfs mount of this host and that the process may open a NETLINK_SOCK_DIAG socket (a security profile may forbid netlink); the errors above name the file or call that failed."}},
	}}
}

// --- 1. ephemeral ports per destination -----------------------------------

// ruleEphemeralPorts: a new outgoing connection needs a unique (source IP,
// source port, destination IP, destination port), and the side that closes
// first holds its 4-tuple in TIME_WAIT for a fixed 60 s. So ports run out
// per destination; at 100 % connect() fails with EADDRNOTAVAIL.
func ruleEphemeralPorts(e *env) []Finding {
	if !e.pressure {
		return nil
	}
	var over []kernel.Destination
	for _, d := range e.dests {
		if d.Utilization >= e.warn() {
			over = append(over, d)
		}
	}
	if len(over) == 0 {
		return nil
	}
	top := over[0]
	sev := Warning
	if top.Utilization >= e.crit() {
		sev = Critical
	}
	capacity := e.st.Capacity()
	title := fmt.Sprintf("Ephemeral ports towards %s are %s used (%d of %d)", destLabel(top), pct(top.Utilization), top.Held, capacity)
	if len(over) > 1 {
		title += fmt.Sprintf("; %d more destination(s) above %s", len(over)-1, pct(e.warn()))
	}
	var subjects, obs []string
	for i, d := range over {
		subjects = append(subjects, d.Addr.String())
		if i < listShown {
			obs = append(obs, fmt.Sprintf("%s: source %s holds %d of the %d ports connect() can use (%s); TIME_WAIT sockets towards it: %d",
				destLabel(d), d.Source, d.Held, capacity, pct(d.Utilization), d.TimeWait))
		}
	}
	if len(over) > listShown {
		obs = append(obs, fmt.Sprintf("… and %d more destinations above %s", len(over)-listShown, pct(e.warn())))
	}
	if e.sys != nil {
		obs = append(obs, capacityObserved(e))
	}
	obs = append(obs, reuseObserved(e))
	obs = append(obs, fmt.Sprintf("thresholds: warning at %s, critical at %s of the usable ports (config doctor.utilization_warning, doctor.utilization_critical)", pct(e.warn()), pct(e.crit())))

	fix := []Step{
		{
			Text:     fmt.Sprintf("Reuse connections: give the client that talks to %s keep-alive or a connection pool (HTTP keep-alive, a database pool, one gRPC channel) instead of a new connection per request. A connection opened and closed per request holds its port for 60 s after the close. This removes the cause; the steps below only buy headroom. Find the client with the command below: TIME_WAIT sockets belong to no process, so it lists the established connections to the same destination with their programs. Where the protocol allows, letting the server close idle connections first also moves TIME_WAIT to the peer.", destLabel(top)),
			Commands: []string{fmt.Sprintf("ss -tnp state established dst %s", ssAddr(top.Addr))},
		},
		{
			Text: fmt.Sprintf("Spread the load: ports run out per (source IP, destination IP, destination port), so more destination IPs or ports behind the service each bring another %d ports, and so do more source IPs on this host. A client that picks its source IP must set IP_BIND_ADDRESS_NO_PORT before bind(), or bind() takes the port from the global pool regardless of destination.", capacity),
		},
	}
	if s, ok := widenStep(e); ok {
		fix = append(fix, s)
	}
	fix = append(fix, reuseStep(e, isLoopback(top)))
	return []Finding{{
		Severity: sev,
		Title:    title,
		Subjects: subjects,
		Observed: obs,
		Why:      fmt.Sprintf("A new outgoing connection needs a unique (source IP, source port, destination IP, destination port). The side that closes a connection first keeps that 4-tuple in TIME_WAIT for a fixed 60 s (TCP_TIMEWAIT_LEN; no sysctl changes it), so a client that opens and closes R connections per second to one destination holds about R × 60 of its %d ports. When all are held, connect() from that source IP to that destination fails with EADDRNOTAVAIL (\"Cannot assign requested address\"), while other destinations still work.", capacity),
		Fix:      fix,
	}}
}

// ssAddr writes ip:port the way ss filters take it.
func ssAddr(a netip.AddrPort) string {
	if a.Addr().Is6() {
		return fmt.Sprintf("[%s]:%d", a.Addr(), a.Port())
	}
	return a.String()
}

func reuseObserved(e *env) string {
	mode, okm := e.sysctl("net.ipv4.tcp_tw_reuse")
	ts, okt := e.sysctl("net.ipv4.tcp_timestamps")
	if !okm || !okt {
		return "net.ipv4.tcp_tw_reuse and net.ipv4.tcp_timestamps: not read"
	}
	return fmt.Sprintf("net.ipv4.tcp_tw_reuse=%d, net.ipv4.tcp_timestamps=%d", mode, ts)
}

// formatPortList writes a port set in the kernel's list format.
func formatPortList(p *kernel.PortSet) string {
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

// --- 2. tcp_tw_reuse and tcp_timestamps -----------------------------------

// ruleReuse: tcp_tw_reuse (0 off, 1 on, 2 loopback only) lets outgoing
// connect() reuse TIME_WAIT 4-tuples, only when timestamps were
// negotiated. It is suggested when destinations are at least half way to
// the warning threshold.
func ruleReuse(e *env) []Finding {
	mode, okm := e.sysctl("net.ipv4.tcp_tw_reuse")
	ts, okt := e.sysctl("net.ipv4.tcp_timestamps")
	if !okm || !okt {
		return nil
	}
	var top, remote, loop *kernel.Destination
	for i := range e.dests {
		d := &e.dests[i]
		if top == nil {
			top = d
		}
		if isLoopback(*d) {
			if loop == nil {
				loop = d
			}
		} else if remote == nil {
			remote = d
		}
	}
	util := func(d *kernel.Destination) float64 {
		if d == nil {
			return 0
		}
		return d.Utilization
	}
	sevFor := func(u float64) Severity {
		if u >= e.warn() {
			return Warning
		}
		return Info
	}
	half := e.warn() / 2
	setReuse := Step{
		Text:     "Set net.ipv4.tcp_tw_reuse=1. " + reuseGain(e) + " Leave tcp_tw_reuse_delay (Linux 6.14+) at its default: below a peer's timestamp clock tick it defeats PAWS protection. Afterwards TcpExt TWRecycled should rise. " + persist,
		Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse=1", "nstat -az TcpExtTWRecycled"},
	}
	reuseFirst := Step{Text: "Reuse connections first (keep-alive, connection pools): that removes TIME_WAIT sockets at the source; tcp_tw_reuse only lets new connections step over old ones."}
	const reuseWhy = "net.ipv4.tcp_tw_reuse is 0 (off), 1 (on) or 2 (loopback only, the default). With 1 an outgoing connect() may take over the 4-tuple of a TIME_WAIT socket older than tcp_tw_reuse_delay (1 s by default) when TCP timestamps were negotiated on that connection; each reuse counts in TcpExt TWRecycled. It affects outgoing connections only, never a listener, and only the ports connect() picks itself: a program that bind()s an explicit port first reuses a TIME_WAIT 4-tuple whatever tcp_tw_reuse says (tcp_twsk_unique)."

	if ts == 0 {
		if mode == 0 && util(top) < half {
			return nil
		}
		f := Finding{
			Severity: sevFor(util(top)),
			Title:    fmt.Sprintf("tcp_timestamps=0: tcp_tw_reuse=%d cannot reuse any TIME_WAIT socket", mode),
			Subjects: []string{"net.ipv4.tcp_timestamps", "net.ipv4.tcp_tw_reuse"},
			Observed: []string{reuseObserved(e)},
			Why:      "tcp_tw_reuse lets an outgoing connect() reuse a TIME_WAIT socket's 4-tuple only when TCP timestamps were negotiated on that connection (tcp_timestamps on both ends). With net.ipv4.tcp_timestamps=0 this host negotiates them on no connection, so no TIME_WAIT socket is ever reused, whatever tcp_tw_reuse says.",
			Fix:      []Step{{Text: "Turn TCP timestamps back on (1 is the default). " + persist, Commands: []string{"sysctl -w net.ipv4.tcp_timestamps=1"}}},
		}
		if top != nil {
			f.Observed = append(f.Observed, fmt.Sprintf("busiest destination: %s at %s of its ports", destLabel(*top), pct(top.Utilization)))
		}
		return []Finding{f}
	}
	switch {
	case (mode == 0 || mode == 2) && util(remote) >= half:
		return []Finding{{
			Severity: sevFor(remote.Utilization),
			Title:    fmt.Sprintf("tcp_tw_reuse=%d: connections to %s cannot reuse TIME_WAIT (%s of its ports held)", mode, destLabel(*remote), pct(remote.Utilization)),
			Subjects: []string{"net.ipv4.tcp_tw_reuse", remote.Addr.String()},
			Observed: []string{reuseObserved(e), fmt.Sprintf("busiest non-loopback destination: %s, %d of %d usable ports held from %s", destLabel(*remote), remote.Held, e.st.Usable(), remote.Source)},
			Why:      reuseWhy + fmt.Sprintf(" At %d, connect() never gives a connection to a non-loopback destination the port of a TIME_WAIT socket, so each keeps its port for the full 60 s.", mode),
			Fix:      []Step{reuseFirst, setReuse},
		}}
	case mode == 0 && util(loop) >= half:
		return []Finding{{
			Severity: sevFor(loop.Utilization),
			Title:    fmt.Sprintf("tcp_tw_reuse=0: even loopback connections to %s cannot reuse TIME_WAIT (%s of its ports held)", destLabel(*loop), pct(loop.Utilization)),
			Subjects: []string{"net.ipv4.tcp_tw_reuse", loop.Addr.String()},
			Observed: []string{reuseObserved(e), fmt.Sprintf("busiest loopback destination: %s, %d of %d usable ports held", destLabel(*loop), loop.Held, e.st.Usable())},
			Why:      reuseWhy + " At 0 connect() reuses no TIME_WAIT port, not even on loopback, which the default 2 would cover.",
			Fix: []Step{reuseFirst, {
				Text:     "Set net.ipv4.tcp_tw_reuse=1 (outgoing connections to every destination), or back to the default 2 (loopback only). Leave tcp_tw_reuse_delay at its default. " + persist,
				Commands: []string{"sysctl -w net.ipv4.tcp_tw_reuse=1"},
			}},
		}}
	}
	return nil
}

// --- 3. tcp_max_tw_buckets: overflow and headroom --------------------------

// ruleBuckets: at tcp_max_tw_buckets (per namespace) the kernel closes new
// sockets without TIME_WAIT and counts TcpExt TCPTimeWaitOverflow.
//
// One snapshot sees that counter's total since the namespace was created
// (boot, for the host), not its rate: the finding says so and points at
// the rate in Prometheus rather than stalling /doctor for a second reading.
func ruleBuckets(e *env) []Finding {
	limit, ok := e.sysctl("net.ipv4.tcp_max_tw_buckets")
	count, known := e.snap.Sockstat.TimeWaitCount()
	if !ok || !known || limit <= 0 {
		return nil
	}
	tw := int64(count)
	ratio := float64(tw) / float64(limit)
	overflows, _ := e.snap.Netstat.Value("netstat", "TcpExt", "TCPTimeWaitOverflow")
	near := ratio >= bucketsNearRatio
	if overflows == 0 && !near {
		return nil
	}
	var sev Severity
	var title string
	switch {
	case overflows > 0 && near:
		sev = Critical
		title = fmt.Sprintf("TIME_WAIT is at %s of tcp_max_tw_buckets, and the limit has cost %.0f connections their TIME_WAIT since the namespace started", pct(ratio), overflows)
	case overflows > 0:
		sev = Warning
		title = fmt.Sprintf("tcp_max_tw_buckets overflowed %.0f times since the namespace started (now %s full)", overflows, pct(ratio))
	default:
		sev = Warning
		title = fmt.Sprintf("TIME_WAIT is at %s of tcp_max_tw_buckets", pct(ratio))
	}
	obs := []string{
		fmt.Sprintf("timewait sockets (/proc/net/sockstat tw, TIME_WAIT plus orphaned FIN_WAIT2 mini-sockets): %d of net.ipv4.tcp_max_tw_buckets=%d", tw, limit),
		fmt.Sprintf("TcpExt TCPTimeWaitOverflow: %.0f since the namespace started (boot, for the host). One reading cannot tell whether it still rises: read it twice with nstat, or see rate(timewait_tcpext_tcp_time_wait_overflow_total[5m]) in Prometheus.", overflows),
	}
	if e.st != nil {
		if fw2 := tw - int64(e.st.TimeWaitSockets()); fw2 > 0 && fw2*10 > tw {
			obs = append(obs, fmt.Sprintf("%d of them are orphaned FIN_WAIT2 mini-sockets (closed here, the peer never sent its FIN), not TIME_WAIT", fw2))
		}
	}
	newLimit := max(2*limit, 2*tw, kernelDefaultBuckets(e))
	return []Finding{{
		Severity: sev,
		Title:    title,
		Subjects: []string{"net.ipv4.tcp_max_tw_buckets"},
		Observed: obs,
		Why:      "net.ipv4.tcp_max_tw_buckets caps the timewait sockets of one network namespace. At the limit the kernel closes new sockets without TIME_WAIT and counts each in TcpExt TCPTimeWaitOverflow; those connections lose TIME_WAIT's protection, so a delayed segment of an old connection can be taken for part of a new one on the same 4-tuple. Kernel 6.x no longer logs \"time wait bucket table overflow\": the counter is the only sign. A TIME_WAIT mini-socket costs about 256 bytes, and it also sits in the established hash table, whose chains every socket lookup walks (__inet_lookup_established): the default limit is half of net.ipv4.tcp_ehash_entries, and far above that longer chains cost CPU, not only memory.",
		Fix: []Step{
			{
				Text:     fmt.Sprintf("Raise net.ipv4.tcp_max_tw_buckets in this namespace, e.g. to %d (about %s at %d bytes per socket). Never lower it: that only drops TIME_WAIT protection sooner. If it must go to several times tcp_ehash_entries, enlarge the hash instead (thash_entries= on the kernel command line; net.ipv4.tcp_child_ehash_entries for namespaces created afterwards). %s", newLimit, mib(uint64(newLimit)*twSocketBytes), twSocketBytes, persist),
				Commands: []string{fmt.Sprintf("sysctl -w net.ipv4.tcp_max_tw_buckets=%d", newLimit), "nstat -az TcpExtTCPTimeWaitOverflow TcpExtTW"},
			},
			{Text: "Lower the rate of actively closed connections: reuse connections (keep-alive, connection pools) for outbound traffic; for server-side TIME_WAIT let clients close first. The TIME_WAIT count is at most closes per second × 60: reuse, an RST (tcp_rfc1337=0) or an accepted SYN can end a TIME_WAIT socket early (tcp_timewait_state_process)."},
		},
	}}
}

// kernelDefaultBuckets is the kernel's default tcp_max_tw_buckets: half the
// established hash size (tcp_ehash_entries, negative in a namespace that
// shares the initial namespace's table). 0 when unknown.
func kernelDefaultBuckets(e *env) int64 {
	ehash, ok := e.sysctl("net.ipv4.tcp_ehash_entries")
	if !ok {
		return 0
	}
	if ehash < 0 {
		ehash = -ehash
	}
	return ehash / 2
}

// --- 4. tcp_max_tw_buckets below the default --------------------------------

// ruleBucketsLowered: lowering tcp_max_tw_buckets saves ~256 bytes per
// socket and costs TIME_WAIT protection at the limit.
func ruleBucketsLowered(e *env) []Finding {
	limit, ok := e.sysctl("net.ipv4.tcp_max_tw_buckets")
	def := kernelDefaultBuckets(e)
	if !ok || def == 0 || limit >= def {
		return nil
	}
	ehash, _ := e.sysctl("net.ipv4.tcp_ehash_entries")
	return []Finding{{
		Severity: Warning,
		Title:    fmt.Sprintf("tcp_max_tw_buckets is %d, below the kernel default of %d", limit, def),
		Subjects: []string{"net.ipv4.tcp_max_tw_buckets"},
		Observed: []string{
			fmt.Sprintf("net.ipv4.tcp_max_tw_buckets=%d; net.ipv4.tcp_ehash_entries=%d, so the default is %d (half the established hash size)", limit, ehash, def),
		},
		Why: fmt.Sprintf("Someone lowered the limit, presumably to have fewer TIME_WAIT sockets. It does not make connections close any faster: once the namespace holds %d timewait sockets, the kernel closes new ones without TIME_WAIT (TcpExt TCPTimeWaitOverflow), dropping the protection against delayed segments to save about 256 bytes per socket.", limit),
		Fix: []Step{{
			Text:     "Set it back to the default (or higher) and remove the lowering from /etc/sysctl.conf and /etc/sysctl.d/.",
			Commands: []string{fmt.Sprintf("sysctl -w net.ipv4.tcp_max_tw_buckets=%d", def), "grep -rn tcp_max_tw_buckets /etc/sysctl.conf /etc/sysctl.d/"},
		}},
	}}
}

// --- 6. tcp_tw_recycle -----------------------------------------------------

// ruleRecycle: tcp_tw_recycle was removed in Linux 4.12 because it dropped
// SYNs from clients behind NAT; only older kernels have the file.
func ruleRecycle(e *env) []Finding {
	v, ok := e.sysctl("net.ipv4.tcp_tw_recycle")
	if !ok {
		return nil
	}
	f := Finding{
		Subjects: []string{"net.ipv4.tcp_tw_recycle"},
		Observed: []string{fmt.Sprintf("net.ipv4.tcp_tw_recycle is %d (the file exists only on kernels older than 4.12)", v)},
		Why:      "tcp_tw_recycle dropped SYNs from clients behind NAT: it compared TCP timestamps per source IP, and clients sharing one NAT address have unrelated timestamp clocks. Linux 4.12 removed it for that reason. For outgoing connections tcp_tw_reuse=1 is the safe setting; server-side TIME_WAIT costs memory only.",
		Fix: []Step{{
			Text:     "Keep it 0 and delete every tcp_tw_recycle line from /etc/sysctl.conf and /etc/sysctl.d/, so no one copies it to a newer host.",
			Commands: []string{"sysctl -w net.ipv4.tcp_tw_recycle=0", "grep -rn tcp_tw_recycle /etc/sysctl.conf /etc/sysctl.d/"},
		}},
	}
	if v != 0 {
		f.Severity = Critical
		f.Title = fmt.Sprintf("tcp_tw_recycle is on (%d): it drops connections from clients behind NAT; turn it off", v)
	} else {
		f.Severity = Info
		f.Title = "tcp_tw_recycle exists (kernel older than 4.12) and is off: keep it that way"
	}
	return []Finding{f}
}

// --- 9. port range layout ------------------------------------------------------

// rulePortRange: ports a service listens on inside ip_local_port_range can
// be handed to an outgoing connection while the service is down, and the
// kernel documents that the range's ends should differ in parity.
func rulePortRange(e *env) []Finding {
	if e.sys == nil {
		return nil
	}
	r := e.sys.PortRange
	var out []Finding
	if e.st != nil {
		eph := e.sys.EphemeralPorts()
		var inside []string
		reserved := kernel.PortSet{}
		for _, rr := range e.sys.Reserved {
			reserved.AddRange(rr)
		}
		for _, lp := range e.st.ListeningPorts() {
			if eph.Has(lp.Port) {
				inside = append(inside, strconv.Itoa(int(lp.Port)))
				reserved.AddRange(kernel.PortRange{Start: lp.Port, End: lp.Port})
			}
		}
		if len(inside) > 0 {
			sort.Slice(inside, func(i, j int) bool { a, _ := strconv.Atoi(inside[i]); b, _ := strconv.Atoi(inside[j]); return a < b })
			out = append(out, Finding{
				Severity: Warning,
				Title:    fmt.Sprintf("Listening port(s) %s lie inside ip_local_port_range and are not reserved", strings.Join(inside, ", ")),
				Subjects: append([]string{"net.ipv4.ip_local_reserved_ports"}, inside...),
				Observed: []string{
					fmt.Sprintf("net.ipv4.ip_local_port_range=%d-%d; listening inside it, not in net.ipv4.ip_local_reserved_ports: %s", r.Start, r.End, strings.Join(inside, ", ")),
				},
				Why: "connect() and bind() to port 0 hand out any port of ip_local_port_range that is not in ip_local_reserved_ports. While the service listens its port is taken, but while it restarts an outgoing connection can get that port, and the service's bind() then fails with EADDRINUSE (SO_REUSEADDR only helps against TIME_WAIT sockets, not against an open connection).",
				Fix: []Step{{
					Text:     "Reserve the ports services listen on (the list keeps the ones already reserved). " + persist,
					Commands: []string{"sysctl -w net.ipv4.ip_local_reserved_ports=" + formatPortList(&reserved)},
				}},
			})
		}
	}
	if r.Start%2 == r.End%2 && r.Start < r.End {
		suggest := fmt.Sprintf("%d %d", r.Start, r.End+1)
		if r.End == 65535 {
			suggest = fmt.Sprintf("%d %d", r.Start-1, r.End)
		}
		out = append(out, Finding{
			Severity: Info,
			Title:    fmt.Sprintf("ip_local_port_range %d-%d has two ends of the same parity", r.Start, r.End),
			Subjects: []string{"net.ipv4.ip_local_port_range"},
			Observed: []string{fmt.Sprintf("net.ipv4.ip_local_port_range=%d %d: both %s", r.Start, r.End, map[bool]string{true: "even", false: "odd"}[r.Start%2 == 0])},
			Why:      "connect() starts its search for a free port in one parity half of the range and leaves the other half to bind() to port 0, so that the two kinds of callers collide less (kernel commit 07f4c90062f8). That only splits evenly when the range holds an even number of ports, i.e. its ends differ in parity: the kernel's ip-sysctl documentation asks for it, the kernel logs \"ip_local_port_range: prefer different parity for start/end values\" otherwise, and the default 32768 60999 follows it. Minor, but free to fix.",
			Fix: []Step{{
				Text:     "Move one end by one port. " + persist,
				Commands: []string{fmt.Sprintf("sysctl -w net.ipv4.ip_local_port_range=\"%s\"", suggest)},
			}},
		})
	}
	return out
}

// --- 5. tcp_fin_timeout ----------------------------------------------------

// ruleFinTimeout: tcp_fin_timeout limits orphaned FIN_WAIT2 sockets; it
// does not change TIME_WAIT, which is fixed at 60 s.
func ruleFinTimeout(e *env) []Finding {
	v, ok := e.sysctl("net.ipv4.tcp_fin_timeout")
	if !ok || v == 60 {
		return nil
	}
	f := Finding{
		Severity: Info,
		Title:    fmt.Sprintf("tcp_fin_timeout is %d s, not the default 60: it does not change TIME_WAIT", v),
		Subjects: []string{"net.ipv4.tcp_fin_timeout"},
		Observed: []string{fmt.Sprintf("net.ipv4.tcp_fin_timeout is %d s (default 60)", v)},
		Why:      "net.ipv4.tcp_fin_timeout limits how long an orphaned socket (closed here, the peer never sent its FIN) waits in FIN_WAIT2. TIME_WAIT lasts a fixed 60 s (TCP_TIMEWAIT_LEN in include/net/tcp.h) and no sysctl changes it. When tcp_fin_timeout is 60 s or less those FIN_WAIT2 sockets become timewait mini-sockets: /proc/net/sockstat tw counts them, ss shows them as FIN-WAIT-2.",
	}
	if v < 60 {
		f.Fix = []Step{{
			Text:     "If it was changed to have fewer TIME_WAIT sockets, it did not do that: set it back to the default and use the fixes for TIME_WAIT (connection reuse; tcp_tw_reuse=1 for outgoing connections; a higher tcp_max_tw_buckets). Keep it only if orphaned FIN_WAIT2 sockets from peers that never close are the problem it was meant for.",
			Commands: []string{"sysctl -w net.ipv4.tcp_fin_timeout=60", "grep -rn tcp_fin_timeout /etc/sysctl.conf /etc/sysctl.d/"},
		}}
	} else {
		f.Fix = []Step{{Text: "Nothing to do for TIME_WAIT. Keep it only if it is meant for orphaned FIN_WAIT2 sockets."}}
	}
	return []Finding{f}
}

// --- 7. inbound (server-side) TIME_WAIT --------------------------------------

// ruleInbound: server-side TIME_WAIT (local port is a listening port) costs
// memory only; tcp_tw_reuse does not apply to it.
func ruleInbound(e *env) []Finding {
	if e.st == nil {
		return nil
	}
	tw := e.st.TimeWait
	total := tw.Outbound + tw.Inbound + tw.Other
	if tw.Inbound < inboundMin || tw.Inbound*2 <= total {
		return nil
	}
	var ports, subjects []string
	for _, lp := range e.st.ListeningPorts() {
		if lp.TimeWait == 0 || len(ports) == listShown {
			break
		}
		ports = append(ports, fmt.Sprintf(":%d (%d)", lp.Port, lp.TimeWait))
		subjects = append(subjects, strconv.Itoa(int(lp.Port)))
	}
	return []Finding{{
		Severity: Info,
		Title:    fmt.Sprintf("%d of %d TIME_WAIT sockets are server side: memory only, harmless", tw.Inbound, total),
		Subjects: subjects,
		Observed: []string{
			fmt.Sprintf("TIME_WAIT by direction: inbound %d, outbound %d, other %d", tw.Inbound, tw.Outbound, tw.Other),
			"busiest listening ports: " + strings.Join(ports, ", "),
			fmt.Sprintf("memory: about %s (about %d bytes per TIME_WAIT socket)", mib(tw.Inbound*twSocketBytes), twSocketBytes),
		},
		Why: "Only the side that closes a connection first enters TIME_WAIT; here this host's servers close first. Server-side TIME_WAIT (the local port is a listening port) costs memory only: about 256 bytes per socket for its 60 s, and no ephemeral port. tcp_tw_reuse does not apply to it (it only affects outgoing connect()).",
		Fix: []Step{{
			Text: "Nothing needs doing. If the count matters (it counts towards tcp_max_tw_buckets), let clients close first: keep connections alive (HTTP keep-alive) so the client ends them, and raise tcp_max_tw_buckets if it nears the limit.",
		}},
	}}
}

// --- 10. healthy -------------------------------------------------------------

// healthy says so plainly, with the key numbers, when no rule found anything
// to act on in a scope.
func healthy(e *env) []Finding {
	var obs, summary []string
	if tw, ok := e.snap.Sockstat.TimeWaitCount(); ok {
		line := fmt.Sprintf("timewait sockets (/proc/net/sockstat tw): %d", tw)
		short := fmt.Sprintf("TIME_WAIT %d", tw)
		if limit, ok := e.sysctl("net.ipv4.tcp_max_tw_buckets"); ok && limit > 0 {
			line += fmt.Sprintf(" of tcp_max_tw_buckets=%d (%s)", limit, pct(float64(tw)/float64(limit)))
			short += fmt.Sprintf(" of %d buckets (%s)", limit, pct(float64(tw)/float64(limit)))
		}
		obs = append(obs, line)
		summary = append(summary, short)
	}
	if e.st != nil {
		tw := e.st.TimeWait
		obs = append(obs, fmt.Sprintf("TIME_WAIT by direction: outbound %d, inbound %d, other %d", tw.Outbound, tw.Inbound, tw.Other))
	}
	if e.pressure {
		if len(e.dests) > 0 {
			d := e.dests[0]
			obs = append(obs, fmt.Sprintf("busiest destination: %s, %d of %d usable ephemeral ports held (%s; warning at %s)", destLabel(d), d.Held, e.st.Usable(), pct(d.Utilization), pct(e.warn())))
			summary = append(summary, fmt.Sprintf("busiest destination %s at %s of %d ports", destLabel(d), pct(d.Utilization), e.st.Usable()))
		} else {
			obs = append(obs, fmt.Sprintf("no outbound connections; %d usable ephemeral ports per destination", e.st.Usable()))
		}
	}
	if v, ok := e.snap.Netstat.Value("netstat", "TcpExt", "TCPTimeWaitOverflow"); ok {
		obs = append(obs, fmt.Sprintf("TcpExt TCPTimeWaitOverflow since the namespace started: %.0f", v))
		summary = append(summary, fmt.Sprintf("%.0f overflows", v))
	}
	if e.sys != nil {
		obs = append(obs, reuseObserved(e))
	}
	return []Finding{{
		Rule:     "healthy",
		Severity: OK,
		Title:    "No TIME_WAIT problem: no destination is short of ports and TIME_WAIT is well below its limit",
		Observed: obs,
		Why:      "TIME_WAIT is normal: the side that closes first keeps each connection's 4-tuple for 60 s so late segments cannot corrupt a new connection. It only hurts when it uses up the ephemeral ports towards one destination or fills tcp_max_tw_buckets; neither is close here.",
		Summary:  strings.Join(summary, "; "),
	}}
}
