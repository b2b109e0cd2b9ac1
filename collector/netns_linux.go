// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/netns"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// netnsMetrics are the exporter-level metrics of discovery. They carry no
// scope label: they describe the set of namespaces, not one of them
// (timewait_netns_info names its namespace itself).
var netnsMetrics = struct {
	info, found, excluded, dropped, denied, skipped *prometheus.Desc
}{
	info: netnsDesc("info",
		"One series per network namespace visited: its label, nsfs inode, lowest pid and its comm, and Kubernetes pod.", NetnsLabel, "inode", "pid", "comm", "pod_uid", "pod_namespace", "pod_name"),
	found: netnsDesc("discovered_namespaces",
		"Network namespaces found this scrape, before the include/exclude filters and the max_namespaces cap."),
	excluded: netnsDesc("excluded_namespaces",
		"Network namespaces left out this scrape by the netns include/exclude filters."),
	dropped: netnsDesc("dropped_namespaces",
		"Network namespaces selected by the filters but not visited this scrape because of netns.max_namespaces."),
	denied: netnsDesc("unreadable_processes",
		"Processes whose /proc/<pid>/ns/net could not be read this scrape, usually for lack of CAP_SYS_PTRACE."),
	skipped: netnsDesc("dumps_skipped",
		"Namespaces visited this scrape whose socket table was not dumped (netns.dump: busy)."),
}

// netnsDesc describes a metric of discovery, labelled with labels only.
func netnsDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "netns", name), help, labels, nil)
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
	ch <- prometheus.MustNewConstMetric(netnsMetrics.found, prometheus.GaugeValue, float64(d.Found))
	ch <- prometheus.MustNewConstMetric(netnsMetrics.excluded, prometheus.GaugeValue, float64(d.Excluded))
	ch <- prometheus.MustNewConstMetric(netnsMetrics.dropped, prometheus.GaugeValue, float64(d.Dropped))
	ch <- prometheus.MustNewConstMetric(netnsMetrics.denied, prometheus.GaugeValue, float64(d.Denied))

	emitInfo := func(n *netns.Namespace) {
		pid := ""
		if n.PID() != 0 {
			pid = strconv.Itoa(n.PID())
		}
		pod := n.Pod()
		ch <- prometheus.MustNewConstMetric(netnsMetrics.info, prometheus.GaugeValue, 1,
			n.Label(), strconv.FormatUint(n.Inode(), 10), pid, n.Comm(), pod.UID, pod.Namespace, pod.Name)
	}
	var tally kread.DumpTally
	names := e.collectorNames()
	scan.Fanout(ctx, e.reader, d.Visit, names, func(s *kread.Scope) { s.Dumps = &tally }, e.collectTask,
		func(v scan.Visit[[]prometheus.Metric]) {
			n := v.Namespace
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
				for _, name := range names {
					ch <- e.success.metric(v.Report, 0, name)
				}
			default:
				e.errors.ok("netns " + n.Label())
				emitInfo(n)
				e.waitCollectors(v.Report, v.Batch, p)
			}
		})
	ch <- prometheus.MustNewConstMetric(netnsMetrics.skipped, prometheus.GaugeValue, float64(tally.Skipped()))
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
