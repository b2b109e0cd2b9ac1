// SPDX-License-Identifier: Apache-2.0

package sockdiag_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"golang.org/x/sys/unix"
)

// benchNS makes a private namespace with n real TIME_WAIT sockets and a
// sock_diag connection opened inside it. It skips without the privilege to
// create a namespace.
func benchNS(tb testing.TB, n int) (*sockdiag.Conn, int) {
	tb.Helper()
	ns, tw := nstest.TimeWait(tb, n, n/2000+10)
	var conn *sockdiag.Conn
	var err error
	ns.Do(func() { conn, err = sockdiag.Open() })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn, tw
}

// dumpBoth dumps both families, one request each, counting the states of
// the sockets of each reply, and returns the number of sockets seen.
func dumpBoth(ctx context.Context, conn *sockdiag.Conn, counts *[sockdiag.MaxState + 1]uint64) (int, error) {
	*counts = [sockdiag.MaxState + 1]uint64{}
	n := 0
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		conn.Dump(ctx, fam, sockdiag.AllStates)
		for socks, ok := conn.Next(); ok; socks, ok = conn.Next() {
			for i := range socks {
				counts[socks[i].State]++
			}
			n += len(socks)
		}
		if err := conn.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// BenchmarkDump streams every socket of a namespace holding N TIME_WAIT
// sockets. allocs/op must be the same for every N: the reader allocates
// nothing per socket.
func BenchmarkDump(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			conn, tw := benchNS(b, n)
			ctx := context.Background()
			var counts [sockdiag.MaxState + 1]uint64
			seen := 0
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if seen, err = dumpBoth(ctx, conn, &counts); err != nil {
					b.Fatal(err)
				}
			}
			if seen < tw*99/100 {
				b.Fatalf("dump saw %d sockets, the kernel reports %d TIME_WAIT", seen, tw)
			}
			b.ReportMetric(float64(seen), "sockets/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(seen), "ns/socket")
		})
	}
}

// TestDumpAllocationsDoNotGrowWithSockets is the guard behind the
// benchmark: a dump of 5000 sockets allocates no more than a dump of 500.
func TestDumpAllocationsDoNotGrowWithSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("makes real sockets")
	}
	ctx := context.Background()
	var counts [sockdiag.MaxState + 1]uint64
	allocs := map[int]float64{}
	for _, n := range []int{500, 5000} {
		conn, tw := benchNS(t, n)
		allocs[n] = testing.AllocsPerRun(5, func() {
			seen, err := dumpBoth(ctx, conn, &counts)
			if err != nil {
				t.Fatal(err)
			}
			if seen < tw*99/100 {
				t.Fatalf("dump saw %d sockets, the kernel reports %d TIME_WAIT", seen, tw)
			}
		})
	}
	if allocs[5000] > allocs[500] {
		t.Errorf("allocations per dump grow with sockets: %v", allocs)
	}
	t.Logf("allocations per dump of both families: %v", allocs)
}
