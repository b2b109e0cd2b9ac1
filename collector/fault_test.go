// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Fault injection of the proc files and sysctls a scrape reads: empty,
// unreadable and impossible values; and the fault helpers that
// fault_dump_test.go shares.

package collector

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// Fault injection at the collector level: sources that are empty or
// unreadable, a sock_diag dump the kernel keeps interrupting or refuses,
// a namespace that is gone when the scrape wants to enter it. In every case
// the scrape goes on, the affected collector reports success 0 and the
// failure is logged at error level once however many scrapes repeat it.
// (test/harden_faults.sh does the same against the binary as nobody, with
// permission denied and netlink refused by seccomp.)

// faultProc builds a procfs fixture: the four net/ files and the sysctls.
func faultProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	fixtureWrite(t, filepath.Join(root, "net", "sockstat"), []byte(seedSockstat))
	fixtureWrite(t, filepath.Join(root, "net", "sockstat6"), []byte(seedSockstat6))
	fixtureWrite(t, filepath.Join(root, "net", "netstat"), []byte(seedNetstat))
	fixtureWrite(t, filepath.Join(root, "net", "snmp"), []byte(seedSnmp))
	fixtureSysctlTree(t, root)
	return root
}

// faultExporter is an Exporter with every collector, logging at debug
// level so that the test sees what is demoted, not only what is shown.
func faultExporter(t *testing.T, procPath string) (*Exporter, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	o := Options{Options: scan.Options{Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ProcPath: procPath}, Export: defaultExport()}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	// Independent of the flags: exactly the four default collectors.
	e.collectors = map[string]Collector{}
	for _, name := range []string{"netstat", "sockets", "sockstat", "sysctl"} {
		if e.collectors[name], err = factories[name](e.opts); err != nil {
			t.Fatal(err)
		}
	}
	return e, log
}

// faultScrape gathers once and returns the success of each collector and
// the number of series of each metric family.
func faultScrape(t *testing.T, e *Exporter) (success map[string]float64, families map[string]int) {
	t.Helper()
	success, families = map[string]float64{}, map[string]int{}
	for _, mf := range gatherExporter(t, e) {
		families[mf.GetName()] = len(mf.GetMetric())
		if mf.GetName() != "timewait_scrape_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			success[labelValue(m, "collector")] = m.GetGauge().GetValue()
		}
	}
	return success, families
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// ownFamilies are, per collector, metrics it exports only when it succeeds.
var ownFamilies = map[string]string{
	"netstat":  "timewait_tcpext_tw_total",
	"sockstat": "timewait_sockstat_tw_sockets",
	"sysctl":   "timewait_sysctl_tcp_max_tw_buckets",
	"sockets":  "timewait_time_wait_sockets",
}

// partialCollectors keep the series of their other files when one is
// broken (see errMissing), sysctl those of its other sysctls: which of
// their series go depends on the file, so assertFault leaves that to the
// caller.
var partialCollectors = map[string]bool{"netstat": true, "sockstat": true, "sysctl": true}

// assertFault scrapes n times and checks the contract: the failed
// collectors report 0 and lose their own metrics (except partialCollectors),
// the others report 1 and keep theirs, and each failed collector has one
// error line in total.
func assertFault(t *testing.T, e *Exporter, log *syncBuffer, n int, failed ...string) {
	t.Helper()
	for i := 0; i < n; i++ {
		success, families := faultScrape(t, e)
		for name, metric := range ownFamilies {
			isFailed := contains2(failed, name)
			want := 1.0
			if isFailed {
				want = 0
			}
			if got, ok := success[name]; !ok || got != want {
				t.Fatalf("scrape %d: collector %s success %v (reported: %v), want %v", i+1, name, got, ok, want)
			}
			if has := families[metric] > 0; has == isFailed && !(isFailed && partialCollectors[name]) {
				t.Errorf("scrape %d: collector %s failed=%v but %s exported=%v", i+1, name, isFailed, metric, has)
			}
		}
		// The sock_diag state counts need no sysctl: there on every scrape
		// unless the dump itself failed.
		if !contains2(failed, "sockets") && families["timewait_tcp_sockets"] == 0 {
			t.Errorf("scrape %d: no timewait_tcp_sockets", i+1)
		}
	}
	for _, name := range failed {
		if got := log.count(`level=ERROR msg="collector failed" collector=` + name + " "); got != 1 {
			t.Errorf("collector %s: %d error lines over %d scrapes, want 1:\n%s", name, got, n, log)
		}
		if got := log.count(`msg="collector still failing" collector=` + name + " "); got != n-1 {
			t.Errorf("collector %s: %d debug repeats over %d scrapes, want %d", name, got, n, n-1)
		}
	}
	if got := log.count("level=ERROR"); got != len(failed) {
		t.Errorf("%d error lines, want %d:\n%s", got, len(failed), log)
	}
}

func contains2(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFaultProcFiles: empty files and files that cannot be read (a
// directory in their place: EISDIR, as an odd kernel or a broken bind
// mount gives) fail only their collector, and lose only the series that
// come from them.
func TestFaultProcFiles(t *testing.T) {
	for _, tc := range []struct {
		file   string
		failed []string
		lost   string // a family with series from file
		kept   int    // how many of its series remain
	}{
		{"net/sockstat", []string{"sockstat"}, "timewait_sockstat_tw_sockets", 0},
		{"net/sockstat6", []string{"sockstat"}, "timewait_sockstat_tcp_inuse_sockets", 1}, // ipv4's
		{"net/netstat", []string{"netstat"}, "timewait_tcpext_tw_total", 0},
		{"net/snmp", []string{"netstat"}, "timewait_tcp_active_opens_total", 0},
		{"sys/net/ipv4/tcp_tw_reuse", []string{"sockets", "sysctl"}, "timewait_sysctl_tcp_tw_reuse", 0},
		{"sys/net/ipv4/ip_local_port_range", []string{"sockets", "sysctl"}, "timewait_sysctl_ip_local_port_range_start", 0},
		{"sys/net/ipv4/ip_local_reserved_ports", []string{"sockets", "sysctl"}, "timewait_ephemeral_ports_usable", 0},
		// Not one pressure needs: the sockets collector keeps it all.
		{"sys/net/ipv4/tcp_fin_timeout", []string{"sysctl"}, "timewait_sysctl_tcp_fin_timeout_seconds", 0},
	} {
		for _, fault := range []string{"empty", "directory"} {
			t.Run(fault+" "+tc.file, func(t *testing.T) {
				root := faultProc(t)
				path := filepath.Join(root, tc.file)
				switch fault {
				case "empty":
					fixtureWrite(t, path, nil)
				case "directory":
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
					if err := os.Mkdir(path, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				e, log := faultExporter(t, root)
				assertFault(t, e, log, 4, tc.failed...)
				if _, families := faultScrape(t, e); families[tc.lost] != tc.kept {
					t.Errorf("%d series of %s, want %d", families[tc.lost], tc.lost, tc.kept)
				}
			})
		}
	}
}

// TestFaultImpossibleValues: values no kernel prints fail their field's
// collector, which keeps its other fields, and the other collectors keep
// theirs (a bad fin_timeout leaves the pressure model whole).
func TestFaultImpossibleValues(t *testing.T) {
	for _, tc := range []struct {
		file, data string
		failed     string
		lost, kept string // a family now missing, one still there
		inLog      string
	}{
		{"sys/net/ipv4/tcp_fin_timeout", "60abc\n", "sysctl", "timewait_sysctl_tcp_fin_timeout_seconds",
			"timewait_ephemeral_port_utilization_max_ratio", `tcp_fin_timeout: field 1 \"60abc\" is not an integer`},
		{"net/sockstat", "TCP: inuse 5 orphan 0 tw -5 alloc 7 mem 1\n", "sockstat", "timewait_sockstat_tw_sockets",
			"timewait_sockstat_tcp_inuse_sockets", "TCP tw: -5: not a value the kernel prints"},
		{"net/netstat", "TcpExt: TW TWRecycled TWKilled TCPTimeWaitOverflow\nTcpExt: 1 2 3 -3\n", "netstat",
			"timewait_tcpext_tcp_time_wait_overflow_total", "timewait_tcpext_tw_total", "TCPTimeWaitOverflow: -3: not a value the kernel prints"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			root := faultProc(t)
			fixtureWrite(t, filepath.Join(root, tc.file), []byte(tc.data))
			e, log := faultExporter(t, root)
			assertFault(t, e, log, 2, tc.failed)
			_, families := faultScrape(t, e)
			if families[tc.lost] != 0 || families[tc.kept] == 0 {
				t.Errorf("%d series of %s (want 0), %d of %s (want some)", families[tc.lost], tc.lost, families[tc.kept], tc.kept)
			}
			if log.count(tc.inLog) == 0 {
				t.Errorf("log does not say %q:\n%s", tc.inLog, log)
			}
		})
	}
}

// TestFaultEmptyReservedPorts: the kernel's usual empty
// ip_local_reserved_ports, a lone newline, is not a fault (an empty file,
// which the kernel never gives, is: TestFaultProcFiles).
func TestFaultEmptyReservedPorts(t *testing.T) {
	root := faultProc(t)
	fixtureWrite(t, filepath.Join(root, "sys/net/ipv4/ip_local_reserved_ports"), []byte("\n"))
	e, log := faultExporter(t, root)
	assertFault(t, e, log, 2)
}
