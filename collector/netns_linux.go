// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
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

// namedForDetail reports whether netns.detail names foreign namespace n:
// its label, the comm of its lowest pid or its pod.
func namedForDetail(cfg *Export, n *netns.Namespace) bool {
	names := []string{n.Label(), n.Comm()}
	if pod := n.Pod(); pod.Name != "" {
		names = append(names, pod.Namespace+"/"+pod.Name)
	}
	return cfg.details(names...)
}

// gatherNetns is a scrape with --netns.discover: discovery, then the
// readings of every selected namespace (scan.Reader.Read, by scan.Fanout:
// the own namespace's sources read in parallel as without discovery, every
// other namespace's by a thread that enters it), each namespace's visit
// first, and each reading turned into samples at the namespace's detail.
func (e *Exporter) gatherNetns(ctx context.Context, ch chan<- prometheus.Metric, p *progress) {
	start := time.Now()
	d, err := e.reader.Discover(ctx)
	own := d.Visit[0]
	ownLabels := []string{own.Label()}
	success := 1.0
	if err != nil {
		success = 0
		e.errors.failed("netns", err, scan.StillBlocked(err))
	} else {
		e.errors.ok("netns")
	}
	if d.Denied > 0 {
		// Not a failure of the scrape: some processes (other users'
		// without CAP_SYS_PTRACE, or ones an LSM protects) hide their
		// namespace, which is then found only if named or shared.
		e.errors.warnOnce("netns-denied", "could not read the network namespace of some processes (/proc/<pid>/ns/net: permission denied); reading other users' needs CAP_SYS_PTRACE. Their namespaces are visited only if named in /run/netns or shared with a readable process; see timewait_netns_unreadable_processes",
			"processes", d.Denied)
	}
	ch <- e.duration.metric(ownLabels, time.Since(start).Seconds(), "netns")
	ch <- e.success.metric(ownLabels, success, "netns")
	nm := newNetnsMetrics(e.opts)
	ch <- nm.found.metric(nil, float64(d.Found))
	ch <- nm.excluded.metric(nil, float64(d.Excluded))
	ch <- nm.dropped.metric(nil, float64(d.Dropped))
	ch <- nm.denied.metric(nil, float64(d.Denied))

	emitInfo := func(n *netns.Namespace) {
		pid := ""
		if n.PID() != 0 {
			pid = strconv.Itoa(n.PID())
		}
		pod := n.Pod()
		ch <- nm.info.metric(nil, 1, n.Label(), strconv.FormatUint(n.Inode(), 10), pid, n.Comm(), pod.UID, pod.Namespace, pod.Name)
	}
	cfg := e.opts.export()
	names := e.collectorNames()
	host := newHostSamples(names)
	foreign := &nsDetail{host: host} // every foreign namespace's: scan marks which readings are idle
	full := map[string]bool{}
	for _, n := range d.Visit[1:] {
		full[n.Label()] = namedForDetail(cfg, n)
	}
	var skipped atomic.Int64
	visit := func(rd scan.Reading) *nsDetail {
		n := rd.Namespace
		switch {
		case errors.Is(rd.Err, netns.ErrVanished):
			e.opts.Logger.Debug("network namespace vanished before it could be entered; skipped", "netns", n.Label(), "err", rd.Err)
		case rd.Err != nil:
			// Entering failed (e.g. no CAP_SYS_ADMIN, or the deadline
			// passed first): every collector of that namespace failed,
			// and says so with the netns label.
			if ctx.Err() == nil {
				e.errors.failed("netns "+n.Label(), rd.Err, rd.Blocked)
			}
			for i, key := range rd.Keys {
				e.errors.remember(key)
				ch <- e.success.metric(rd.Labels, 0, names[i])
			}
		default:
			e.errors.ok("netns " + n.Label())
			emitInfo(n)
			p.expect(rd.Labels, names, rd.Keys)
			if n != own {
				return foreign
			}
		}
		return nil
	}
	readings := e.reader.Read(ctx, d.Visit, e.request(cfg, full))
	e.convertAll(ctx, countSkips(readings, &skipped), p, visit, host)
	ch <- nm.skipped.metric(nil, float64(skipped.Load()))
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
