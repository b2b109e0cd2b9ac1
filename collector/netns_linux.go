// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/deadline"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
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

// detailOfNetns is the detail of foreign namespace n: named when
// netns.detail matches its label, the comm of its lowest pid or its pod.
func (e *Exporter) detailOfNetns(n *netns.Namespace, host *hostSamples) *nsDetail {
	names := []string{n.Label(), n.Comm()}
	if pod := n.Pod(); pod.Name != "" {
		names = append(names, pod.Namespace+"/"+pod.Name)
	}
	return &nsDetail{opts: e.opts, named: e.opts.export().Details(names...), host: host}
}

// gatherNetns is a scrape with --netns.discover: discovery, then every
// selected namespace (scan.Fanout): the exporter's own namespace runs its
// collectors in parallel as without discovery; every other namespace is
// visited by a thread that enters it.
func (e *Exporter) gatherNetns(ctx context.Context, ch chan<- prometheus.Metric, p *progress) {
	start := time.Now()
	d, err := e.reader.Discover(ctx)
	own := d.Visit[0]
	ownScope := e.reader.OwnScope(ctx)
	ownScope.LabelValues = []string{own.Label()}
	success := 1.0
	if err != nil {
		success = 0
		e.errors.failed("netns", err)
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
	ch <- e.duration.metric(ownScope, time.Since(start).Seconds(), "netns")
	ch <- e.success.metric(ownScope, success, "netns")
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
	var tally kread.DumpTally
	names := e.collectorNames()
	host := newHostSamples(names)
	details := make(map[string]*nsDetail, len(d.Visit))
	for _, n := range d.Visit[1:] {
		details[n.Label()] = e.detailOfNetns(n, host)
	}
	prepare := func(s *kread.Scope) {
		s.Dumps = &tally
		if !s.Own() {
			s.Ctx = withDetail(s.Ctx, details[s.LabelValues[0]])
		}
	}
	scan.Fanout(ctx, e.reader, d.Visit, names, prepare, e.collectTask(host),
		func(v scan.Visit[[]prometheus.Metric]) {
			n := v.Namespace
			var detail *nsDetail // nil: the own namespace
			if v.Index > 0 {
				detail = details[n.Label()]
			}
			switch {
			case errors.Is(v.Err, netns.ErrVanished):
				e.opts.Logger.Debug("network namespace vanished before it could be entered; skipped", "netns", n.Label(), "err", v.Err)
			case v.Err != nil:
				// Entering failed (e.g. no CAP_SYS_ADMIN, or the deadline
				// passed first): every collector of that namespace failed,
				// and says so with the netns label.
				if ctx.Err() == nil {
					e.errors.failed("netns "+n.Label(), v.Err)
				}
				for i, key := range deadline.Keys(names, v.Report.LabelValues) {
					e.errors.remember(key)
					ch <- e.success.metric(v.Report, 0, names[i])
				}
			default:
				e.errors.ok("netns " + n.Label())
				emitInfo(n)
				e.waitCollectors(v.Report, v.Batch, p, detail)
			}
		})
	ch <- nm.skipped.metric(nil, float64(tally.Skipped()))
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
