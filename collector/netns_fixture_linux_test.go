// SPDX-License-Identifier: Apache-2.0

// The fixture of the network-namespace tests: real named and
// process-held namespaces made per test, the exporter that discovers them,
// and helpers that gather its samples and read each namespace from the
// kernel (ss, /proc/net/sockstat) to compare.

package collector

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
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
		if c := kreadtest.Comm("/proc", pid); c == f.comm {
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
	return f.exporterWith(func(cfg *config.Config) {
		cfg.Netns.MaxNamespaces = maxNamespaces
		cfg.Netns.Dump = config.DumpAll // every series of every namespace
	})
}

// exporterWith is the fixture's exporter with the default configuration
// as edit leaves it, visiting only the fixture's namespaces.
func (f *netnsFixture) exporterWith(edit func(*config.Config)) (*Exporter, *syncBuffer) {
	f.t.Helper()
	cfg := config.Default()
	cfg.Netns.Include = f.filter.String()
	cfg.Netns.IncludeRE = f.filter
	edit(cfg)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := New(Options{Options: scan.Options{Logger: logger, ProcPath: "/proc", Netns: cfg.Netns,
		DiscoverNetns: true}, Export: cfg.Export()})
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

// nsFind returns the samples of one metric ("": of every one) whose
// labels include want.
func nsFind(samples []nsSample, name string, want map[string]string) []nsSample {
	var out []nsSample
	for _, s := range samples {
		if name != "" && s.name != name {
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
	k, err := kreadtest.NetnsInode(path)
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
func nsThreadsAllIn(t testing.TB, own kreadtest.NsKey) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		var stray []string
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			k, err := kreadtest.NetnsInode(filepath.Join("/proc/self/task", task.Name(), "ns", "net"))
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
