// SPDX-License-Identifier: Apache-2.0

// Tests of network-namespace discovery and per-namespace reading: each
// namespace found once, under its label, with its own counts and sysctls;
// and a scrape with discovery off.

package collector

import (
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
)

// Three named namespaces and one held only by a process, each with its own
// sysctls and TIME_WAIT load: each is found once, under the right label,
// with its own counts and sysctls; the exporter's threads all come back
// to (or die outside of) its own namespace.
func TestNetnsDiscoveryRealNamespaces(t *testing.T) {
	f := newNetnsFixture(t)
	twgen := f.buildTwgen()
	own, err := kreadtest.NetnsInode("/proc/self/ns/net")
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
			lbl := map[string]string{NetnsLabel: w.label}
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
			tw := nsSum(nsFind(samples, "timewait_tcp_sockets", map[string]string{NetnsLabel: w.label, "state": "time_wait"}))
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
		label := ownInfo[0].labels[NetnsLabel]
		s := nsFind(samples, "timewait_scrape_collector_success", map[string]string{NetnsLabel: label, "collector": "netns"})
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
		snaps := e.Snapshots(withDeadline(t))
		if len(snaps) != len(wants)+1 {
			t.Fatalf("%d snapshots, want %d", len(snaps), len(wants)+1)
		}
		for _, w := range wants {
			i := slices.IndexFunc(snaps, func(s *scan.Snapshot) bool { return slices.Equal(s.Labels, []string{w.label}) })
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

// A scrape with discovery off is today's: one namespace, no netns label.
func TestNetnsDiscoveryOff(t *testing.T) {
	e, err := New(Options{Options: scan.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProcPath: "/proc"}, Export: defaultExport()})
	if err != nil {
		t.Fatal(err)
	}
	nstest.Require(t)
	for _, s := range nsGather(t, e) {
		if _, ok := s.labels[NetnsLabel]; ok || strings.HasPrefix(s.name, "timewait_netns_") {
			t.Fatalf("discovery off, but %s%v", s.name, s.labels)
		}
	}
}
