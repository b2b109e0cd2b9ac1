// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

// connectIn holds n more established loopback connections in namespace
// name, to a listener on port 20000 there (outside the test's port
// ranges), each from an ephemeral port that connect() chose.
func connectIn(t *testing.T, name string, conns *twgen.Conns, n int) {
	t.Helper()
	target := netip.MustParseAddrPort("127.0.0.1:20000")
	nstest.In(t, "/run/netns/"+name, func() error {
		if conns.Len() == 0 {
			srv, err := twgen.Listen(target.Addr(), target.Port())
			if err != nil {
				return err
			}
			t.Cleanup(srv.Close)
		}
		for range n {
			if err := conns.Connect(target, netip.Addr{}); err != nil {
				return err
			}
		}
		return nil
	})
}

// busyExporter is the fixture's exporter with netns.dump: busy.
func busyExporter(f *netnsFixture) *Exporter {
	e, _ := f.exporter(10)
	x := *e.opts.export()
	x.DumpBusy = true
	e.SetExport(x)
	return e
}

// skipOf is a namespace's timewait_netns_dump_skipped, -1 when absent.
func skipOf(samples []nsSample, netns string) float64 {
	s := nsFind(samples, "timewait_netns_dump_skipped", map[string]string{"netns": netns})
	if len(s) != 1 {
		return -1
	}
	return s[0].value
}

// TestDumpBusyNeverSkipsPressure: with netns.dump: busy, a namespace of
// only 20 ports and 15 established connections (ratio 0.75, above the
// warning 0.7) is dumped and reports its ratio; a quiet namespace with a
// few sockets in a full range is skipped, still reports the series of an
// idle namespace, and exports an upper bound of its ratio; the exporter's
// own namespace is dumped.
func TestDumpBusyNeverSkipsPressure(t *testing.T) {
	f := newNetnsFixture(t)
	narrow := f.add("narrow", "net.ipv4.ip_local_port_range=40000 40019")
	quiet := f.add("quiet", "net.ipv4.ip_local_port_range=32768 60999")
	var nc, qc twgen.Conns
	t.Cleanup(nc.Close)
	t.Cleanup(qc.Close)
	connectIn(t, narrow, &nc, 15)
	connectIn(t, quiet, &qc, 3)

	samples := nsGather(t, busyExporter(f))
	if got := skipOf(samples, narrow); got != 0 {
		t.Errorf("narrow namespace: dump_skipped = %v, want 0 (dumped)", got)
	}
	ratio := nsFind(samples, "timewait_ephemeral_port_utilization_max_ratio", map[string]string{"netns": narrow})
	if len(ratio) != 1 || ratio[0].value != 0.75 {
		t.Errorf("narrow namespace: max ratio %v, want one sample of 15/20 = 0.75", ratio)
	}
	if est := nsSum(nsFind(samples, "timewait_tcp_sockets", map[string]string{"netns": narrow, "state": "established"})); est != 30 {
		t.Errorf("narrow namespace: %v established sockets, want 30 (15 clients, 15 queued server ends)", est)
	}

	if got := skipOf(samples, quiet); got != 1 {
		t.Errorf("quiet namespace: dump_skipped = %v, want 1", got)
	}
	if n := len(nsFind(samples, "timewait_tcp_sockets", map[string]string{"netns": quiet})); n != 0 {
		t.Errorf("quiet namespace: %d per-state series from a skipped dump", n)
	}
	// 3 clients + 3 server ends + 1 listener over 28,232 ports.
	bound := nsFind(samples, "timewait_ephemeral_port_utilization_max_ratio", map[string]string{"netns": quiet})
	if want := 7.0 / 28232; len(bound) != 1 || bound[0].value != want {
		t.Errorf("quiet namespace: max ratio %v, want the bound %v", bound, want)
	}
	// Idle: the series of every namespace, and the non-zero counts.
	for _, name := range []string{"timewait_sockstat_tcp_inuse_sockets", "timewait_sockstat_tw_sockets",
		"timewait_sysctl_tcp_max_tw_buckets", "timewait_tcpext_tcp_time_wait_overflow_total", "timewait_tcp_passive_opens_total"} {
		if len(nsFind(samples, name, map[string]string{"netns": quiet})) == 0 {
			t.Errorf("quiet namespace: %s missing", name)
		}
	}
	for _, s := range nsFind(samples, "timewait_scrape_collector_success", nil) {
		if s.value != 1 {
			t.Errorf("collector failed: %v", s.labels)
		}
	}
	if got := nsSum(nsFind(samples, "timewait_netns_dumps_skipped", nil)); got != 1 {
		t.Errorf("dumps_skipped = %v, want 1", got)
	}
	for _, info := range nsFind(samples, "timewait_netns_info", nil) {
		if own := info.labels["netns"]; own != narrow && own != quiet &&
			(len(nsFind(samples, "timewait_tcp_sockets", map[string]string{"netns": own})) == 0 || skipOf(samples, own) != -1) {
			t.Errorf("the exporter's own namespace %s was not dumped", own)
		}
	}
	if n := len(nsFind(samples, "timewait_netns_info", nil)); n != 3 {
		t.Errorf("%d namespaces visited, want 3 (own, narrow, quiet)", n)
	}
}

// TestDumpBusyCrossing: a namespace skipped on one scrape is dumped on
// the next once its sockets could reach the warning, and its ratio above
// the warning is reported.
func TestDumpBusyCrossing(t *testing.T) {
	f := newNetnsFixture(t)
	name := f.add("cross", "net.ipv4.ip_local_port_range=40000 40019")
	var conns twgen.Conns
	t.Cleanup(conns.Close)
	e := busyExporter(f)

	connectIn(t, name, &conns, 3) // 3 + 3 + 1 listener: at most 7/20
	before := nsGather(t, e)
	if got := skipOf(before, name); got != 1 {
		t.Fatalf("3 connections in 20 ports: dump_skipped = %v, want 1", got)
	}
	connectIn(t, name, &conns, 12) // 15 of 20 ports: 0.75
	after := nsGather(t, e)
	if got := skipOf(after, name); got != 0 {
		t.Fatalf("15 connections in 20 ports: dump_skipped = %v, want 0", got)
	}
	ratio := nsFind(after, "timewait_ephemeral_port_utilization_max_ratio", map[string]string{"netns": name})
	if len(ratio) != 1 || ratio[0].value != 0.75 {
		t.Fatalf("after crossing: max ratio %v, want 0.75", ratio)
	}
}
