// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel/kerneltest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"golang.org/x/sys/unix"
)

// netnsFixture is a set of real network namespaces for one test: named
// ones (ip netns add) and ones held only by a process, all removed by
// t.Cleanup whatever happens.
type netnsFixture struct {
	t      *testing.T
	prefix string // of the named ones: tw-t-<rand>-
	comm   string // of the holder processes: a copy of sleep
	sleep  string // path of that copy
	twgen  string // path of tools/twgen, built once
	filter *regexp.Regexp
}

func newNetnsFixture(t *testing.T) *netnsFixture {
	t.Helper()
	nstest.Require(t)
	for _, tool := range []string{"ip", "ss", "unshare", "nsenter", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	rnd := rand.IntN(100000)
	dir := t.TempDir()
	f := &netnsFixture{t: t, prefix: fmt.Sprintf("tw-t-%05d-", rnd), comm: fmt.Sprintf("twh%05d", rnd)}
	f.filter = regexp.MustCompile("^" + regexp.QuoteMeta(f.prefix) + "|^" + f.comm + "$")
	// A copy of sleep under our own name: its comm tells its namespace
	// apart from every other one on the host.
	f.sleep = filepath.Join(dir, f.comm)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	nsRun(t, "cp", sleep, f.sleep)
	return f
}

// add creates a named namespace with loopback up and the given sysctls.
func (f *netnsFixture) add(suffix string, sysctls ...string) string {
	f.t.Helper()
	name := f.prefix + suffix
	nsRun(f.t, "ip", "netns", "add", name)
	f.t.Cleanup(func() { f.del(name) })
	nsRun(f.t, "ip", "-n", name, "link", "set", "lo", "up")
	if len(sysctls) > 0 {
		nsRun(f.t, "ip", append([]string{"netns", "exec", name, "sysctl", "-qw"}, sysctls...)...)
	}
	return name
}

// del removes a named namespace and kills what still runs in it.
func (f *netnsFixture) del(name string) {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, p := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
}

// holder starts a process in a new network namespace of its own (unshare
// -n, nothing else holds it) and returns its pid once it runs our comm.
func (f *netnsFixture) holder(seconds string, sysctls ...string) int {
	f.t.Helper()
	cmd := exec.Command("unshare", "-n", f.sleep, seconds)
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c := kerneltest.Comm("/proc", pid); c == f.comm {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("unshare -n %s did not start", f.sleep)
		}
		time.Sleep(5 * time.Millisecond)
	}
	target := []string{"-t", strconv.Itoa(pid), "-n"}
	nsRun(f.t, "nsenter", append(target, "ip", "link", "set", "lo", "up")...)
	if len(sysctls) > 0 {
		nsRun(f.t, "nsenter", append(append(target, "sysctl", "-qw"), sysctls...)...)
	}
	return pid
}

// buildTwgen builds tools/twgen once per fixture.
func (f *netnsFixture) buildTwgen() string {
	f.t.Helper()
	if f.twgen == "" {
		f.twgen = filepath.Join(f.t.TempDir(), "twgen")
		nsRun(f.t, "go", "build", "-o", f.twgen, "../tools/twgen")
	}
	return f.twgen
}

// exporter builds an exporter with discovery on, limited to this
// fixture's namespaces (and its own, always visited).
func (f *netnsFixture) exporter(maxNamespaces int) (*Exporter, *syncBuffer) {
	f.t.Helper()
	cfg := config.Default()
	cfg.Netns.Include = f.filter.String()
	cfg.Netns.IncludeRE = f.filter
	cfg.Netns.MaxNamespaces = maxNamespaces
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := New(Options{Options: kernel.Options{Logger: logger, ProcPath: "/proc", Config: func() *config.Config { return cfg },
		DiscoverNetns: true}})
	if err != nil {
		f.t.Fatal(err)
	}
	return e, logs
}

func nsRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nsSample is one gathered sample: name, labels, value.
type nsSample struct {
	name   string
	labels map[string]string
	value  float64
}

func nsGather(t testing.TB, e *Exporter) []nsSample {
	t.Helper()
	var out []nsSample
	for _, mf := range gatherExporter(t, e) {
		for _, m := range mf.GetMetric() {
			s := nsSample{name: mf.GetName(), labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			default:
				s.value = m.GetGauge().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// nsFind returns the samples of one metric whose labels include want.
func nsFind(samples []nsSample, name string, want map[string]string) []nsSample {
	var out []nsSample
	for _, s := range samples {
		if s.name != name {
			continue
		}
		ok := true
		for k, v := range want {
			if s.labels[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func nsSum(samples []nsSample) float64 {
	var sum float64
	for _, s := range samples {
		sum += s.value
	}
	return sum
}

func nsInode(t testing.TB, path string) uint64 {
	t.Helper()
	k, err := kerneltest.NetnsInode(path)
	if err != nil {
		t.Fatal(err)
	}
	return k.Ino
}

// nsTimeWait counts TIME_WAIT sockets with ss run inside a namespace
// (enter: the command prefix that enters it).
func nsTimeWait(t testing.TB, enter []string) int {
	t.Helper()
	out := nsRun(t, enter[0], append(enter[1:], "ss", "-Htan", "state", "time-wait")...)
	return strings.Count(out, "\n")
}

// nsSockstatTW reads the tw field of /proc/net/sockstat inside a namespace.
func nsSockstatTW(t testing.TB, enter []string) int {
	t.Helper()
	out := nsRun(t, enter[0], append(enter[1:], "cat", "/proc/net/sockstat")...)
	m := regexp.MustCompile(`TCP: .* tw (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no TCP tw in sockstat:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// nsThreadsAllIn waits until every thread of this process is in the
// namespace own: threads that entered another one must have exited.
func nsThreadsAllIn(t testing.TB, own kerneltest.NsKey) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var stray []string
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			k, err := kerneltest.NetnsInode(filepath.Join("/proc/self/task", task.Name(), "ns", "net"))
			if err == nil && k != own {
				stray = append(stray, fmt.Sprintf("tid %s in inode %d", task.Name(), k.Ino))
			}
		}
		if len(stray) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads left in foreign network namespaces: %s", strings.Join(stray, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three named namespaces and one held only by a process, each with its own
// sysctls and TIME_WAIT load: each is found once, under the right label,
// with its own counts and sysctls; the exporter's threads all come back
// to (or die outside of) its own namespace.
func TestNetnsDiscoveryRealNamespaces(t *testing.T) {
	f := newNetnsFixture(t)
	twgen := f.buildTwgen()
	own, err := kerneltest.NetnsInode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	type want struct {
		label      string
		enter      []string
		inode      uint64
		finTimeout float64
		load       int
		pid        int
	}
	var wants []*want
	for i, load := range []int{100, 2000, 5000} {
		fin := 31 + i
		name := f.add(string(rune('a'+i)),
			"net.ipv4.tcp_tw_reuse=0", "net.ipv4.tcp_max_tw_buckets=262144",
			fmt.Sprintf("net.ipv4.tcp_fin_timeout=%d", fin))
		wants = append(wants, &want{label: name, enter: []string{"ip", "netns", "exec", name},
			inode: nsInode(t, "/run/netns/"+name), finTimeout: float64(fin), load: load})
	}
	pid := f.holder("300", "net.ipv4.tcp_tw_reuse=0", "net.ipv4.tcp_fin_timeout=34")
	pino := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid))
	wants = append(wants, &want{label: fmt.Sprintf("inode:%d", pino), enter: []string{"nsenter", "-t", strconv.Itoa(pid), "-n"},
		inode: pino, finTimeout: 34, load: 50, pid: pid})

	// The loads, in parallel: twgen closes its listeners only after every
	// connection has finished, so all end in TIME_WAIT (on the client).
	var wg sync.WaitGroup
	errs := make(chan error, len(wants))
	for _, w := range wants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append(slices.Clone(w.enter), twgen, "-n", strconv.Itoa(w.load), "-ports", "20", "-base", "20000")
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	e, logs := f.exporter(config.DefaultMaxNamespaces)
	// What the kernel says just before and just after the scrape bounds
	// what the scrape may report (a few loopback connections may end in
	// RST; none expire: the run is well under 60 s).
	before := map[string][2]int{}
	for _, w := range wants {
		before[w.label] = [2]int{nsTimeWait(t, w.enter), nsSockstatTW(t, w.enter)}
	}
	samples := nsGather(t, e)
	for _, w := range wants {
		after := [2]int{nsTimeWait(t, w.enter), nsSockstatTW(t, w.enter)}
		t.Run(w.label, func(t *testing.T) {
			lbl := map[string]string{kernel.NetnsLabel: w.label}
			info := nsFind(samples, "timewait_netns_info", lbl)
			if len(info) != 1 {
				t.Fatalf("timewait_netns_info{netns=%q}: %d series, want 1", w.label, len(info))
			}
			ino := strconv.FormatUint(w.inode, 10)
			if got := info[0].labels["inode"]; got != ino {
				t.Errorf("inode = %s, want %s", got, ino)
			}
			if n := len(nsFind(samples, "timewait_netns_info", map[string]string{"inode": ino})); n != 1 {
				t.Errorf("inode %s appears in %d info series, want 1", ino, n)
			}
			if w.pid != 0 && (info[0].labels["pid"] != strconv.Itoa(w.pid) || info[0].labels["comm"] != f.comm) {
				t.Errorf("info labels %v, want pid %d comm %s", info[0].labels, w.pid, f.comm)
			}
			if w.pid == 0 && (info[0].labels["pid"] != "" || info[0].labels["comm"] != "") {
				t.Errorf("info labels %v, want no pid or comm for a namespace without processes", info[0].labels)
			}
			success := nsFind(samples, "timewait_scrape_collector_success", lbl)
			if len(success) != len(e.collectors) {
				t.Errorf("%d collector_success series, want %d", len(success), len(e.collectors))
			}
			for _, s := range success {
				if s.value != 1 {
					t.Errorf("collector %s failed", s.labels["collector"])
				}
			}
			tw := nsSum(nsFind(samples, "timewait_tcp_sockets", map[string]string{kernel.NetnsLabel: w.label, "state": "time_wait"}))
			if lo, hi := min(before[w.label][0], after[0]), max(before[w.label][0], after[0]); tw < float64(lo) || tw > float64(hi) {
				t.Errorf("time_wait sockets = %v, ss in the namespace says %d before and %d after", tw, before[w.label][0], after[0])
			}
			if tw < float64(w.load)*0.95 {
				t.Errorf("time_wait sockets = %v, want about %d (the load)", tw, w.load)
			}
			sw := nsSum(nsFind(samples, "timewait_sockstat_tw_sockets", lbl))
			if lo, hi := min(before[w.label][1], after[1]), max(before[w.label][1], after[1]); sw < float64(lo) || sw > float64(hi) {
				t.Errorf("sockstat tw = %v, the namespace's /proc/net/sockstat says %d before and %d after", sw, before[w.label][1], after[1])
			}
			for metric, v := range map[string]float64{
				"timewait_sysctl_tcp_fin_timeout_seconds": w.finTimeout,
				"timewait_sysctl_tcp_tw_reuse":            0,
			} {
				got := nsFind(samples, metric, lbl)
				if len(got) != 1 || got[0].value != v {
					t.Errorf("%s = %v, want %v", metric, got, v)
				}
			}
		})
	}

	t.Run("own namespace", func(t *testing.T) {
		ownInfo := nsFind(samples, "timewait_netns_info", map[string]string{"inode": strconv.FormatUint(own.Ino, 10)})
		if len(ownInfo) != 1 {
			t.Fatalf("own namespace: %d info series, want 1", len(ownInfo))
		}
		label := ownInfo[0].labels[kernel.NetnsLabel]
		s := nsFind(samples, "timewait_scrape_collector_success", map[string]string{kernel.NetnsLabel: label, "collector": "netns"})
		if len(s) != 1 || s[0].value != 1 {
			t.Errorf("discovery success = %v, want 1", s)
		}
		// Only our four and the exporter's own pass the filter.
		if n := len(nsFind(samples, "timewait_netns_info", nil)); n != len(wants)+1 {
			t.Errorf("%d namespaces visited, want %d", n, len(wants)+1)
		}
	})

	t.Run("max_namespaces", func(t *testing.T) {
		capped, _ := f.exporter(2)
		s := nsGather(t, capped)
		if n := len(nsFind(s, "timewait_netns_info", nil)); n != 2 {
			t.Errorf("%d namespaces visited with max_namespaces 2, want 2", n)
		}
		if d := nsFind(s, "timewait_netns_dropped_namespaces", nil); len(d) != 1 || d[0].value != float64(len(wants)-1) {
			t.Errorf("dropped = %v, want %d", d, len(wants)-1)
		}
	})

	t.Run("snapshots", func(t *testing.T) {
		snaps := e.Snapshots(context.Background())
		if len(snaps) != len(wants)+1 {
			t.Fatalf("%d snapshots, want %d", len(snaps), len(wants)+1)
		}
		for _, w := range wants {
			i := slices.IndexFunc(snaps, func(s *kernel.Snapshot) bool { return slices.Equal(s.Labels, []string{w.label}) })
			if i < 0 {
				t.Errorf("no snapshot of %s", w.label)
				continue
			}
			s := snaps[i]
			if len(s.Errors) > 0 {
				t.Errorf("%s: errors %v", w.label, s.Errors)
				continue
			}
			if v := s.Sysctls.TCPFinTimeout; float64(v) != w.finTimeout {
				t.Errorf("%s: snapshot tcp_fin_timeout %d, want %v", w.label, v, w.finTimeout)
			}
			if tw := s.Sockets.States[0][6] + s.Sockets.States[1][6]; float64(tw) < float64(w.load)*0.95 {
				t.Errorf("%s: snapshot time_wait %d, want about %d", w.label, tw, w.load)
			}
		}
	})

	nsThreadsAllIn(t, own)
	if t.Failed() {
		t.Logf("exporter log:\n%s", logs.String())
	}
}

// Namespaces come and go while scrapes run: one named namespace is
// deleted mid-loop, others are created and deleted and processes holding
// their own namespaces start and exit all the time. No scrape may fail:
// every collector of every namespace visited succeeds, and the one that
// stays is always there.
func TestNetnsChurnDuringScrapes(t *testing.T) {
	f := newNetnsFixture(t)
	keep := f.add("keep")
	gone := f.add("gone")
	holder := f.holder("300")
	holderLabel := fmt.Sprintf("inode:%d", nsInode(t, fmt.Sprintf("/proc/%d/ns/net", holder)))
	own, _ := kerneltest.NetnsInode("/proc/self/ns/net")
	e, logs := f.exporter(config.DefaultMaxNamespaces)

	ctx, cancel := context.WithCancel(context.Background())
	var churn sync.WaitGroup
	churn.Add(2)
	go func() { // named namespaces appear and disappear
		defer churn.Done()
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("%schurn%d", f.prefix, i%4)
			_ = exec.Command("ip", "netns", "add", name).Run()
			time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}()
	go func() { // short-lived processes in namespaces of their own
		defer churn.Done()
		for ctx.Err() == nil {
			_ = exec.Command("unshare", "-n", f.sleep, fmt.Sprintf("0.0%d", 1+rand.IntN(5))).Run()
		}
	}()
	t.Cleanup(func() {
		cancel()
		churn.Wait()
		for i := range 4 {
			f.del(fmt.Sprintf("%schurn%d", f.prefix, i))
		}
	})

	const scrapes, deleteAt = 40, 10
	var seenChurn, sawGone int
	for i := range scrapes {
		if i == deleteAt {
			f.del(gone)
		}
		samples := nsGather(t, e)
		for _, s := range nsFind(samples, "timewait_scrape_collector_success", nil) {
			if s.value != 1 {
				t.Errorf("scrape %d: collector %s of netns %s failed", i, s.labels["collector"], s.labels[kernel.NetnsLabel])
			}
		}
		labels := map[string]int{}
		for _, s := range nsFind(samples, "timewait_netns_info", nil) {
			labels[s.labels[kernel.NetnsLabel]]++
		}
		for l, n := range labels {
			if n != 1 {
				t.Errorf("scrape %d: netns %s visited %d times", i, l, n)
			}
			if strings.Contains(l, "churn") {
				seenChurn++
			}
		}
		for _, l := range []string{keep, holderLabel} {
			if labels[l] != 1 {
				t.Errorf("scrape %d: netns %s missing", i, l)
			}
			if n := len(nsFind(samples, "timewait_scrape_collector_success", map[string]string{kernel.NetnsLabel: l})); n != len(e.collectors) {
				t.Errorf("scrape %d: netns %s has %d collector_success series, want %d", i, l, n, len(e.collectors))
			}
		}
		if labels[gone] > 0 {
			sawGone++
			if i > deleteAt {
				t.Errorf("scrape %d: netns %s still visited after its deletion", i, gone)
			}
		}
	}
	if sawGone != deleteAt {
		t.Errorf("netns %s visited in %d scrapes, want the %d before its deletion", gone, sawGone, deleteAt)
	}
	t.Logf("churning namespaces visited %d times in %d scrapes; %d skipped as vanished before entry",
		seenChurn, scrapes, strings.Count(logs.String(), "vanished before it could be entered"))
	cancel()
	churn.Wait()
	nsThreadsAllIn(t, own)
	if t.Failed() {
		t.Logf("exporter log:\n%s", logs.String())
	}
}

// A scrape with discovery off is today's: one namespace, no netns label.
func TestNetnsDiscoveryOff(t *testing.T) {
	e, err := New(Options{Options: kernel.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProcPath: "/proc",
		Config: config.Default}})
	if err != nil {
		t.Fatal(err)
	}
	nstest.Require(t)
	for _, s := range nsGather(t, e) {
		if _, ok := s.labels[kernel.NetnsLabel]; ok || strings.HasPrefix(s.name, "timewait_netns_") {
			t.Fatalf("discovery off, but %s%v", s.name, s.labels)
		}
	}
}
