// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
	"golang.org/x/sys/unix"
)

// benchSocketCounts are the namespace sizes of the kernel-backed
// benchmarks: allocs/op must not differ between them.
var benchSocketCounts = []int{10_000, 50_000}

// benchNamespace makes a private namespace holding n real outbound TIME_WAIT
// sockets (spread over 50 destinations, the same for every n, so allocs/op compare) and returns it with the
// kernel's TIME_WAIT count. It skips without the privilege to make one.
func benchNamespace(tb testing.TB, n int) (*twgen.NS, int) {
	tb.Helper()
	return nstest.TimeWait(tb, n, 50)
}

func benchPolicy() (*model.PortSet, model.ReusePolicy) {
	var ports model.PortSet
	ports.AddRange(model.PortRange{Start: 32768, End: 60999})
	return &ports, model.ReusePolicy{Mode: 2, Timestamps: true, Delay: 0}
}

// BenchmarkSocketStats is the pressure aggregation over a real dump: both
// families streamed into model.SocketStats.Add, then the per-destination and
// per-port views the collector exports.
func BenchmarkSocketStats(b *testing.B) {
	for _, n := range benchSocketCounts {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			ns, tw := benchNamespace(b, n)
			var conn *sockdiag.Conn
			var err error
			ns.Do(func() { conn, err = sockdiag.Open() })
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			ports, policy := benchPolicy()
			ctx := context.Background()
			var st *model.SocketStats
			b.ReportAllocs()
			for b.Loop() {
				st = model.NewSocketStats(ports, policy)
				for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
					conn.Dump(ctx, fam, sockdiag.AllStates)
					for socks, ok := conn.Next(); ok; socks, ok = conn.Next() {
						for i := range socks {
							st.Add(&socks[i])
						}
					}
					if err := conn.Err(); err != nil {
						b.Fatal(err)
					}
				}
				_ = st.Destinations()
				_ = st.ListeningPorts()
			}
			if got := st.TimeWait.Outbound; got < uint64(tw)*99/100 {
				b.Fatalf("aggregated %d outbound TIME_WAIT, the kernel reports %d", got, tw)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tw), "ns/socket")
		})
	}
}

// BenchmarkSocketsUpdate is the sockets collector's whole Update in a
// namespace: sysctls, open, dump of both families, aggregation, top-N and
// every metric built.
func BenchmarkSocketsUpdate(b *testing.B) {
	for _, n := range benchSocketCounts {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			ns, tw := benchNamespace(b, n)
			c, err := newSocketsCollector(Options{Options: scan.Options{
				Logger:   slog.New(slog.DiscardHandler),
				ProcPath: "/proc",
			}, Export: defaultExport()})
			if err != nil {
				b.Fatal(err)
			}
			ch := make(chan prometheus.Metric, 1024)
			go func() {
				for range ch {
				}
			}()
			defer close(ch)
			b.ReportAllocs()
			for b.Loop() {
				// Update must run on the namespace's thread: it opens its
				// netlink socket and reads /proc/sys/net there.
				ns.Do(func() {
					s := kread.ThreadScope(context.Background(), "/proc", ns.TID())
					var rd scan.Reading
					if rd, err = scan.ReadSource(s, "sockets", scan.Request{States: c.(*socketsCollector).states}); err == nil {
						err = c.Update(&rd, ch)
					}
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tw), "ns/socket")
		})
	}
}
