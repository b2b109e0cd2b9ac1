// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// netnsMetrics are the metrics of discovery: the set of namespaces (Detail
// Once) and timewait_netns_info, which names its namespace itself.
type netnsMetrics struct {
	info, found, excluded, dropped, denied, skipped typedDesc
}

func newNetnsMetrics(o Options) netnsMetrics {
	return netnsMetrics{
		info:     Lookup("timewait_netns_info").desc(o),
		found:    Lookup("timewait_netns_discovered_namespaces").desc(o),
		excluded: Lookup("timewait_netns_excluded_namespaces").desc(o),
		dropped:  Lookup("timewait_netns_dropped_namespaces").desc(o),
		denied:   Lookup("timewait_netns_unreadable_processes").desc(o),
		skipped:  Lookup("timewait_netns_dumps_skipped").desc(o),
	}
}

// gatherNetns is a scrape with --netns.discover: one call of
// scan.Reader.Read discovers the namespaces and reads every selected one
// (the own namespace's sources in parallel as without discovery, every
// other namespace's by a thread that enters it), and sends the
// discovery's reading first, then each namespace's visit and readings;
// each reading is turned into samples at the namespace's detail.
func (e *Exporter) gatherNetns(ctx context.Context, ch chan<- prometheus.Metric, p *progress) {
	names := e.collectorNames()
	host := newHostSamples(names)
	foreign := &nsDetail{host: host} // every foreign namespace's: scan marks which readings are idle
	nm := newNetnsMetrics(e.opts)
	var skipped atomic.Int64
	visit := func(rd scan.Reading) *nsDetail {
		switch {
		case rd.Discovery != nil:
			e.discovered(rd, nm, ch)
		case rd.Vanished:
			e.opts.Logger.Debug("network namespace vanished before it could be entered; skipped", "netns", rd.Netns.Label, "err", rd.Err)
		case rd.Err != nil:
			// Entering failed (e.g. no CAP_SYS_ADMIN, or the deadline
			// passed first): every collector of that namespace failed,
			// and says so with the netns label.
			if ctx.Err() == nil {
				e.errors.failed("netns "+rd.Netns.Label, rd.Err, rd.Blocked)
			}
			for i, key := range rd.Keys {
				e.errors.remember(key)
				ch <- e.success.metric(rd.Labels, 0, names[i])
			}
		default:
			e.errors.ok("netns " + rd.Netns.Label)
			ch <- nm.info.metric(nil, 1, netnsInfo(rd.Netns)...)
			p.expect(rd.Labels, names, rd.Keys)
			if rd.Index != 0 {
				return foreign
			}
		}
		return nil
	}
	readings := e.reader.Read(ctx, e.request(e.opts.export()))
	e.convertAll(ctx, countSkips(readings, &skipped), p, visit, host)
	ch <- nm.skipped.metric(nil, float64(skipped.Load()))
}

// discovered sends the samples of the discovery's reading rd: its duration
// and success under the own namespace's label, and what it found.
func (e *Exporter) discovered(rd scan.Reading, nm netnsMetrics, ch chan<- prometheus.Metric) {
	success := 1.0
	if rd.Err != nil {
		success = 0
		e.errors.failed("netns", rd.Err, rd.Blocked)
	} else {
		e.errors.ok("netns")
	}
	d := rd.Discovery
	if d.Denied > 0 {
		// Not a failure of the scrape: some processes (other users'
		// without CAP_SYS_PTRACE, or ones an LSM protects) hide their
		// namespace, which is then found only if named or shared.
		e.errors.warnOnce("netns-denied", "could not read the network namespace of some processes (/proc/<pid>/ns/net: permission denied); reading other users' needs CAP_SYS_PTRACE. Their namespaces are visited only if named in /run/netns or shared with a readable process; see timewait_netns_unreadable_processes",
			"processes", d.Denied)
	}
	ch <- e.duration.metric(rd.Labels, rd.Took.Seconds(), "netns")
	ch <- e.success.metric(rd.Labels, success, "netns")
	ch <- nm.found.metric(nil, float64(d.Found))
	ch <- nm.excluded.metric(nil, float64(d.Excluded))
	ch <- nm.dropped.metric(nil, float64(d.Dropped))
	ch <- nm.denied.metric(nil, float64(d.Denied))
}

// netnsInfo are the label values of timewait_netns_info for namespace n.
func netnsInfo(n *scan.Netns) []string {
	pid := ""
	if n.PID != 0 {
		pid = strconv.Itoa(n.PID)
	}
	return []string{n.Label, strconv.FormatUint(n.Inode, 10), pid, n.Comm, n.Pod.UID, n.Pod.Namespace, n.Pod.Name}
}

// countSkips passes readings on, counting in n the namespaces whose
// dump was skipped (idle, netns.dump: busy).
func countSkips(readings <-chan scan.Reading, n *atomic.Int64) <-chan scan.Reading {
	out := make(chan scan.Reading)
	go func() {
		defer close(out)
		for rd := range readings {
			if rd.Source == "sockets" && rd.Idle {
				n.Add(1)
			}
			out <- rd
		}
	}()
	return out
}

// warnOnce logs msg at warning level the first time key is seen failing
// and at debug level afterwards, until ok(key).
func (l *errorLog) warnOnce(key, msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, seen := l.last[key]; seen {
		l.logger.Debug(msg, args...)
		return
	}
	l.last[key] = msg
	l.logger.Warn(msg, args...)
}
