// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

const successHeader = `# HELP timewait_scrape_collector_success 1 if the collector read its source without error during this scrape, 0 if it failed.
# TYPE timewait_scrape_collector_success gauge
`

func successText(failed ...string) string {
	var b strings.Builder
	b.WriteString(successHeader)
	for _, name := range []string{"netstat", "sockets", "sockstat", "sysctl"} {
		v := 1
		for _, f := range failed {
			if f == name {
				v = 0
			}
		}
		fmt.Fprintf(&b, "timewait_scrape_collector_success{collector=%q} %d\n", name, v)
	}
	return b.String()
}

// TestExporterOneSourceBroken runs the whole exporter against a fixture
// procfs tree (sock_diag is the real one of the test's namespace) with one
// source broken: that collector reports success 0, the others 1 and their
// metrics; the failure is logged at error level once, not on every scrape.
func TestExporterOneSourceBroken(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content []byte // nil removes the file
		failed  []string
	}{
		{name: "netstat malformed", file: "net/netstat", content: []byte("TcpExt: TW TWKilled\nTcpExt: 1\n"),
			failed: []string{"netstat"}},
		{name: "netstat missing", file: "net/netstat",
			failed: []string{"netstat"}},
		{name: "snmp truncated", file: "net/snmp", content: []byte("Tcp: ActiveOpens PassiveOpens CurrEstab\n"),
			failed: []string{"netstat"}},
		{name: "sockstat missing", file: "net/sockstat",
			failed: []string{"sockstat"}},
		{name: "sockstat malformed", file: "net/sockstat", content: []byte("TCP: inuse 1 tw\n"),
			failed: []string{"sockstat"}},
		// Without the port sysctls the sockets collector still counts states
		// but cannot compute pressure: it reports failure too.
		{name: "port range missing", file: "sys/net/ipv4/ip_local_port_range",
			failed: []string{"sockets", "sysctl"}},
		// fin_timeout is not one pressure needs: sockets keeps it all.
		{name: "fin_timeout malformed", file: "sys/net/ipv4/tcp_fin_timeout", content: []byte("60abc\n"),
			failed: []string{"sysctl"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, fixtureProc)
			writeFile(t, root, tc.file, tc.content)
			var logs syncBuffer
			e, err := New(Options{Options: scan.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})), ProcPath: root}, Export: defaultExport()})
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry() // the Exporter describes only its scrape metrics
			reg.MustRegister(e)
			for range 2 {
				if err := testutil.GatherAndCompare(reg, strings.NewReader(successText(tc.failed...)), "timewait_scrape_collector_success"); err != nil {
					t.Fatal(err)
				}
			}
			ms := gatherMap(t, reg)
			// The healthy collectors' values come from the fixture; a failed
			// one's are absent, but for partialCollectors only those of the
			// broken file.
			want := []struct {
				collector, file, metric string
				value                   float64
			}{
				{"netstat", "net/netstat", "timewait_tcpext_tw_total", 123456},
				{"netstat", "net/snmp", "timewait_tcp_active_opens_total", 1001},
				{"sockstat", "net/sockstat", "timewait_sockstat_tw_sockets", 4242},
				{"sysctl", "sys/net/ipv4/tcp_fin_timeout", "timewait_sysctl_tcp_fin_timeout_seconds", 37},
				{"sysctl", "sys/net/ipv4/ip_local_port_range", "timewait_ephemeral_ports_usable", 989},
				{"sockets", "", "timewait_ephemeral_port_utilization_max_ratio", -1}, // real sockets: any value
			}
			for _, w := range want {
				got, ok := ms[w.metric]
				lost := w.file == tc.file || contains(tc.failed, w.collector) && !partialCollectors[w.collector]
				switch {
				case lost && ok:
					t.Errorf("%s exported, but %s is broken", w.metric, tc.file)
				case lost:
				case !ok:
					t.Errorf("%s missing", w.metric)
				case w.value >= 0 && got != w.value:
					t.Errorf("%s = %v, want %v", w.metric, got, w.value)
				}
			}
			// State counts come from sock_diag even when pressure cannot.
			if len(series(ms, "timewait_tcp_sockets")) != 24 {
				t.Errorf("want 24 timewait_tcp_sockets series (2 families x 12 states), got %d", len(series(ms, "timewait_tcp_sockets")))
			}
			for _, c := range tc.failed {
				if n := strings.Count(logs.String(), "level=ERROR msg=\"collector failed\" collector="+c); n != 1 {
					t.Errorf("collector %s: %d error lines over 3 gathers, want 1:\n%s", c, n, logs.String())
				}
			}
			// Repairing the file: success again, and the recovery is logged.
			data, err := os.ReadFile(filepath.Join(fixtureProc, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, root, tc.file, data)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(successText()), "timewait_scrape_collector_success"); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), "collector recovered") {
				t.Errorf("recovery not logged:\n%s", logs.String())
			}
		})
	}
}

// TestExporterNoIPv6 is a host with IPv6 disabled (no sockstat6): sockets
// and sockstat still succeed, with IPv4 series only.
func TestExporterNoIPv6(t *testing.T) {
	root := copyTree(t, fixtureProc)
	writeFile(t, root, "net/sockstat6", nil)
	e := newTestExporter(t, root, nil)
	reg := prometheus.NewRegistry() // not pedantic: like node_exporter's, the Exporter describes only its scrape metrics
	reg.MustRegister(e)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(successText()), "timewait_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
	ms := gatherMap(t, reg)
	if n := len(series(ms, "timewait_tcp_sockets")); n != 12 {
		t.Errorf("want 12 ipv4-only timewait_tcp_sockets series, got %d", n)
	}
	for k := range series(ms, "timewait_tcp_sockets") {
		if !strings.Contains(k, `family="ipv4"`) {
			t.Errorf("IPv6 series %s without IPv6", k)
		}
	}
	if _, ok := ms[`timewait_sockstat_tcp_inuse_sockets{family="ipv6"}`]; ok {
		t.Error("sockstat ipv6 series without sockstat6")
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
