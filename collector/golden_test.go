// SPDX-License-Identifier: Apache-2.0

//go:build linux

package collector

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenConfig names one destination and one port, and keeps top_n small,
// so the golden exposition shows named, selected and dropped series.
const goldenConfig = `
destinations:
  - name: db
    address: 10.0.0.5:5432
  - name: unseen
    address: "[2001:db8::9]:443"
ports: [8080, 9999]
top_n: 2
`

// goldenSockets are what the fake sock_diag dump answers: listeners first,
// as the kernel dumps them, then connections in several states and
// families, outbound (local port in 40000-40999 minus the reserved ones)
// and inbound TIME_WAIT.
func goldenSockets() []sockdiag.Socket {
	sock := func(fam uint8, state uint8, src, dst string) sockdiag.Socket {
		s := twSocket(fam, src, dst)
		s.State = state
		return s
	}
	var out []sockdiag.Socket
	out = append(out,
		sock(unix.AF_INET, sockdiag.StateListen, "0.0.0.0:8080", "0.0.0.0:0"),
		sock(unix.AF_INET6, sockdiag.StateListen, "[::]:40100", "[::]:0"),
		sock(unix.AF_INET, sockdiag.StateListen, "0.0.0.0:22", "0.0.0.0:0"),
	)
	// Inbound TIME_WAIT on the listening ports.
	for i := range 3 {
		out = append(out, twSocket(unix.AF_INET, "10.0.0.1:8080", "10.9.0."+itoa(i+1)+":51000"))
	}
	out = append(out, twSocket(unix.AF_INET, "10.0.0.1:22", "10.9.0.7:52000"))
	// Outbound: TIME_WAIT and ESTABLISHED towards four destinations.
	dests := []struct {
		dst   string
		tw    int
		estab int
	}{
		{"10.0.0.5:5432", 5, 2},
		{"10.0.0.6:6379", 7, 0},
		{"10.0.0.7:80", 1, 9},
		{"[2001:db8::1]:443", 3, 1},
	}
	port := 40020
	for _, d := range dests {
		fam, src := uint8(unix.AF_INET), "10.0.0.1:"
		if d.dst[0] == '[' {
			fam, src = unix.AF_INET6, "[2001:db8::2]:"
		}
		for range d.tw {
			out = append(out, twSocket(fam, src+itoa(port), d.dst))
			port++
		}
		for range d.estab {
			out = append(out, sock(fam, sockdiag.StateEstablished, src+itoa(port), d.dst))
			port++
		}
	}
	// Neither inbound nor outbound, and a few other states.
	out = append(out,
		twSocket(unix.AF_INET, "10.0.0.1:33000", "10.0.0.8:80"),
		sock(unix.AF_INET, sockdiag.StateSynSent, "10.0.0.1:40900", "10.0.0.9:80"),
		sock(unix.AF_INET, sockdiag.StateFinWait2, "10.0.0.1:40901", "10.0.0.9:80"),
		sock(unix.AF_INET6, sockdiag.StateCloseWait, "[2001:db8::2]:40902", "[2001:db8::1]:443"),
	)
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// durations are the one nondeterministic value of the exposition.
var durations = regexp.MustCompile(`(?m)^(timewait_scrape_collector_duration_seconds\{[^}]*\}) .*$`)

// TestGoldenExposition renders the whole exposition of the four default
// collectors from the procfs fixture and a fake sock_diag dump and compares
// it, HELP texts included, with testdata/golden/metrics.txt (node_exporter's
// e2e-output.txt in unit-test form). A change in a metric's name, labels,
// value or help shows up here; go test ./collector -run Golden -update
// rewrites the file after an intended change.
func TestGoldenExposition(t *testing.T) {
	e, log := goldenExporter(t, copyTree(t, fixtureProc))
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v\n%s", err, log)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	got := durations.ReplaceAll(buf.Bytes(), []byte("$1 <duration>"))
	// The fixture's 7 pages, whatever this machine's page size.
	mem := fmt.Sprintf("timewait_sockstat_tcp_mem_bytes %d\n", 7*os.Getpagesize())
	got = bytes.Replace(got, []byte(mem), []byte("timewait_sockstat_tcp_mem_bytes <7 pages>\n"), 1)

	const golden = "testdata/golden/metrics.txt"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("exposition differs from %s (run with -update if intended):\n%s", golden, lineDiff(string(want), string(got)))
	}
}

// goldenExporter is the exporter of the four default collectors over the
// procfs tree procPath, goldenConfig and the fake dump of goldenSockets.
func goldenExporter(t *testing.T, procPath string) (*Exporter, *syncBuffer) {
	t.Helper()
	cfg, err := config.Parse([]byte(goldenConfig))
	if err != nil {
		t.Fatal(err)
	}
	withDumper(t, &fakeDumper{sockets: goldenSockets()}, nil)
	e, log := faultExporter(t, procPath)
	e.SetExport(cfg.Export())
	return e, log
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	count := map[string]int{}
	for _, l := range bytes.Split([]byte(want), []byte("\n")) {
		count[string(l)]++
	}
	var out bytes.Buffer
	for _, l := range bytes.Split([]byte(got), []byte("\n")) {
		if count[string(l)] > 0 {
			count[string(l)]--
			continue
		}
		out.WriteString("+ " + string(l) + "\n")
	}
	for _, l := range bytes.Split([]byte(want), []byte("\n")) {
		if count[string(l)] > 0 {
			count[string(l)]--
			out.WriteString("- " + string(l) + "\n")
		}
	}
	return out.String()
}
