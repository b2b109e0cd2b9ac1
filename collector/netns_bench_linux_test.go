// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"golang.org/x/sys/unix"
)

// benchIdleNamespaces is how many idle namespaces BenchmarkNetnsIdle
// visits per scrape (test/netns_growth.sh runs the same at 60 and 250).
const benchIdleNamespaces = 100

// BenchmarkNetnsIdle is a whole scrape with --netns.discover over
// benchIdleNamespaces idle named namespaces (loopback up, no sockets), with
// dump: all and dump: busy. Besides the wall time per scrape it reports the
// process's CPU time (user+system, every thread's, getrusage) per idle
// namespace per scrape (the figure issue 20 bounds), the system part of it,
// and its context switches per namespace per scrape. Profile it with
// -cpuprofile to see where a visit goes.
func BenchmarkNetnsIdle(b *testing.B) {
	nstest.Require(b)
	if _, err := exec.LookPath("ip"); err != nil {
		b.Skip("ip not installed")
	}
	prefix := fmt.Sprintf("tw-b-%05d-", unix.Getpid()%100000)
	for i := range benchIdleNamespaces {
		name := prefix + strconv.Itoa(i)
		nsRun(b, "ip", "netns", "add", name)
		b.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
		nsRun(b, "ip", "-n", name, "link", "set", "lo", "up")
	}
	for _, dump := range []string{config.DumpAll, config.DumpBusy} {
		b.Run("dump="+dump, func(b *testing.B) {
			cfg := config.Default()
			cfg.Netns.IncludeRE = regexp.MustCompile("^" + regexp.QuoteMeta(prefix))
			cfg.Netns.Include = cfg.Netns.IncludeRE.String()
			cfg.Netns.Dump = dump
			e, err := New(Options{Options: scan.Options{Logger: slog.New(slog.DiscardHandler), ProcPath: "/proc",
				Netns: cfg.Netns, DiscoverNetns: true}, Export: cfg.Export()})
			if err != nil {
				b.Fatal(err)
			}
			scrape := func() int {
				ch := make(chan prometheus.Metric, 1024)
				go func() { e.CollectContext(context.Background(), ch); close(ch) }()
				n := 0
				for range ch {
					n++
				}
				return n
			}
			scrape() // warm-up
			b.ReportAllocs()
			before := processUsage(b)
			var samples int
			for b.Loop() {
				samples = scrape()
			}
			after := processUsage(b)
			visits := float64(b.N) * benchIdleNamespaces
			user, sys := after.Utime.Nano()-before.Utime.Nano(), after.Stime.Nano()-before.Stime.Nano()
			b.ReportMetric(float64(user+sys)/1e6/visits, "cpu-ms/ns")
			b.ReportMetric(float64(sys)/1e6/visits, "sys-ms/ns")
			b.ReportMetric(float64(after.Nvcsw+after.Nivcsw-before.Nvcsw-before.Nivcsw)/visits, "switches/ns")
			b.ReportMetric(float64(samples), "samples/scrape")
		})
	}
}

// processUsage is the resource usage of every thread of this process, the
// threads that entered a namespace and exited included.
func processUsage(tb testing.TB) unix.Rusage {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru
}
