// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// idleBudget is the most series an idle namespace may cost by default
// (issue 20): 250 of them on a node must not outweigh its busy ones.
const idleBudget = 8

// hostSysctls are the sysctls the table reads, as "key=value" of the
// test's own namespace, so a new namespace can be given the host's
// settings (an idle namespace whose settings differ from the host's
// reports them: that is not the budget's case).
func hostSysctls(t *testing.T) []string {
	t.Helper()
	keys := []string{kread.KeyPortRange, kread.KeyReservedPorts}
	for _, m := range rowsOf("sysctl") {
		if f := m.sourceFields("sysctl"); f != nil && m.Detail == Differs && m.Name != "timewait_sysctl_tcp_max_orphans" {
			keys = append(keys, f[1])
		}
	}
	var out []string
	for _, k := range keys {
		b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/")))
		if err != nil {
			continue // an optional one this kernel lacks
		}
		out = append(out, k+"="+strings.Join(strings.Fields(string(b)), " "))
	}
	return out
}

// seriesOf are the series of namespace netns, by name and labels.
func seriesOf(samples []nsSample, netns string) []string {
	var out []string
	for _, s := range nsFind(samples, "", map[string]string{NetnsLabel: netns}) {
		var labels []string
		for k, v := range s.labels {
			if k != NetnsLabel {
				labels = append(labels, k+"="+v)
			}
		}
		slices.Sort(labels)
		out = append(out, s.name+"{"+strings.Join(labels, ",")+"}")
	}
	slices.Sort(out)
	return out
}

// TestIdleNamespaceSeriesBudget counts the series of an idle namespace
// (ip netns add, the host's sysctls, no socket) and of one held only by a
// process, with the default configuration and with netns.dump: busy: at
// most idleBudget each, among them every series an alert or recording rule
// reads per namespace. A namespace netns.detail names, and every one with
// dump: all, reports in full. A sysctl that differs from the host's is
// reported, the equal ones are not.
func TestIdleNamespaceSeriesBudget(t *testing.T) {
	f := newNetnsFixture(t)
	host := hostSysctls(t)
	idle := f.add("idle", host...)
	named := f.add("named", host...)
	tuned := f.add("tuned", append(host, "net.ipv4.tcp_fin_timeout=23")...)
	held := "inode:" + itoa(int(nsInode(t, "/proc/"+itoa(f.holder("300", host...))+"/ns/net")))
	alerted := []string{"timewait_ephemeral_port_utilization_max_ratio", "timewait_sockstat_tw_sockets",
		"timewait_sysctl_tcp_max_tw_buckets", "timewait_tcpext_tcp_time_wait_overflow_total", "timewait_netns_info"}

	for _, tc := range []struct {
		name string
		edit func(*config.Config)
	}{
		{"default", func(*config.Config) {}},
		{"busy", func(c *config.Config) { c.Netns.Dump = config.DumpBusy }},
	} {
		e, logs := f.exporterWith(func(c *config.Config) {
			c.Netns.Detail = "named$"
			c.Netns.DetailRE = regexp.MustCompile(c.Netns.Detail)
			tc.edit(c)
		})
		samples := nsGather(t, e)
		for _, ns := range []string{idle, held} {
			got := seriesOf(samples, ns)
			t.Logf("%s: idle namespace %s: %d series:\n  %s", tc.name, ns, len(got), strings.Join(got, "\n  "))
			if len(got) > idleBudget {
				t.Errorf("%s: idle namespace %s costs %d series, the budget is %d", tc.name, ns, len(got), idleBudget)
			}
			for _, m := range alerted {
				if len(nsFind(samples, m, map[string]string{NetnsLabel: ns})) != 1 {
					t.Errorf("%s: idle namespace %s lacks %s", tc.name, ns, m)
				}
			}
		}
		if got := seriesOf(samples, tuned); !slices.Contains(got, "timewait_sysctl_tcp_fin_timeout_seconds{}") ||
			slices.Contains(got, "timewait_sysctl_tcp_tw_reuse{}") {
			t.Errorf("%s: idle namespace with tcp_fin_timeout=23: want that sysctl and not the ones equal to the host's, got %q", tc.name, got)
		}
		if n := len(seriesOf(samples, named)); n < 40 {
			t.Errorf("%s: the namespace netns.detail names has %d series, want every one (40 or more)", tc.name, n)
		}
		if t.Failed() {
			t.Logf("exporter log:\n%s", logs)
		}
	}

	all, _ := f.exporter(config.DefaultMaxNamespaces) // dump: all
	n := len(seriesOf(nsGather(t, all), idle))
	t.Logf("dump: all: the idle namespace %s has %d series", idle, n)
	if n < 40 {
		t.Errorf("dump: all: the idle namespace has %d series, want every one (40 or more)", n)
	}
}

// TestIdleNamespaceFailureNamed: a collector failing in an idle namespace
// reports timewait_scrape_collector_success 0 with its collector and netns
// labels (a required sysctl no kernel has, added to the table); the
// collectors that succeed report nothing there. Once it succeeds again it
// keeps reporting success, now 1, for failureMemory, so an alert on
// avg_over_time sees the failure's share and resolves.
func TestIdleNamespaceFailureNamed(t *testing.T) {
	f := newNetnsFixture(t)
	idle := f.add("idle", hostSysctls(t)...)
	saved := Metrics
	t.Cleanup(func() { Metrics = saved })
	Metrics = append(slices.Clone(saved), Metric{Name: "timewait_sysctl_tw_test_absent", Type: gauge, Detail: Differs,
		Collector: "sysctl", Source: "sysctl net.ipv4.tw_test_absent", Help: "A sysctl no kernel has."})
	e, logs := f.exporterWith(func(*config.Config) {})

	success := func(samples []nsSample) map[string]float64 {
		out := map[string]float64{}
		for _, s := range nsFind(samples, "timewait_scrape_collector_success", map[string]string{NetnsLabel: idle}) {
			out[s.labels["collector"]] = s.value
		}
		return out
	}
	failing := nsGather(t, e)
	if got := success(failing); len(got) != 1 || got["sysctl"] != 0 {
		t.Errorf("required sysctl missing: success of the idle namespace %v, want only sysctl 0", got)
	}
	if n := len(nsFind(failing, "timewait_scrape_collector_duration_seconds", map[string]string{NetnsLabel: idle, "collector": "sysctl"})); n != 1 {
		t.Errorf("the failing collector's duration: %d series, want 1", n)
	}
	if !strings.Contains(logs.String(), "tw_test_absent") {
		t.Errorf("the failure is not logged:\n%s", logs)
	}

	Metrics = saved
	var err error
	if e.collectors["sysctl"], err = factories["sysctl"](e.opts); err != nil {
		t.Fatal(err)
	}
	if got := success(nsGather(t, e)); len(got) != 1 || got["sysctl"] != 1 {
		t.Errorf("after recovery: success of the idle namespace %v, want only sysctl 1 (failed within the hour)", got)
	}
}

// TestIdleOverflowSeriesFromZero: an idle namespace exports
// TCPTimeWaitOverflow from 0, before its first overflow, so that overflow
// is an increase of an existing series, which increase() and
// TimeWaitBucketOverflow see (a series born at 1 would hide it; the
// promtool test "bucket overflow fires for a single overflow" is that 0
// to 1 step). Real overflows: tcp_max_tw_buckets 4 and 10 client-closed
// connections; the namespace stays idle throughout.
func TestIdleOverflowSeriesFromZero(t *testing.T) {
	f := newNetnsFixture(t)
	ns := f.add("ovf", append(hostSysctls(t), "net.ipv4.tcp_max_tw_buckets=4")...)
	e, _ := f.exporterWith(func(*config.Config) {})
	overflow := func() []nsSample {
		samples := nsGather(t, e)
		if skipped := nsFind(samples, "timewait_netns_dump_skipped", map[string]string{NetnsLabel: ns}); len(skipped) != 1 || skipped[0].value != 1 {
			t.Fatalf("namespace %s is not idle: dump_skipped %v", ns, skipped)
		}
		return nsFind(samples, "timewait_tcpext_tcp_time_wait_overflow_total", map[string]string{NetnsLabel: ns})
	}
	if before := overflow(); len(before) != 1 || before[0].value != 0 {
		t.Fatalf("before any overflow: %v, want one series at 0", before)
	}
	nsRun(t, "ip", "netns", "exec", ns, f.buildTwgen(), "-n", "10", "-ports", "1", "-base", "20000")
	if after := overflow(); len(after) != 1 || after[0].value < 1 {
		t.Fatalf("after 10 closes over 4 buckets: %v, want one series at 1 or more", after)
	}
}
