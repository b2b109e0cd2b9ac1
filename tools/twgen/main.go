// SPDX-License-Identifier: Apache-2.0

// Command twgen makes real TIME_WAIT sockets on loopback, for the benchmark,
// the soak and the end-to-end scripts, with blocking system calls on one
// locked thread per worker (internal/testenv/twgen.Run): fast enough for 250k
// sockets well inside their 60 s lifetime on a busy 2-core machine. Run it
// in a throwaway network namespace with net.ipv4.tcp_tw_reuse=0.
//
//	twgen -n 250000 -ports 64 -parallel 2           # 250k outbound TIME_WAIT
//	twgen -side server -n 200 -ports 1 -base 27000  # inbound
//	twgen -duration 90s -ports 100 -parallel 8      # churn for 90 s
//	twgen -bind -n 190 -ports 10                    # bind() before connect()
//
// For a churn (-duration), give the namespace an ephemeral range that
// excludes the listening ports and a tcp_max_tw_buckets above rate x 60.
// connect() failures (ports exhausted) are then counted, not fatal, and
// each pauses its thread 50 ms: a churn into a narrow ephemeral range keeps
// it full, as a TIME_WAIT storm does (test/alerts_e2e.sh).
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

func main() {
	n := flag.Int("n", 1000, "connections to open and close")
	duration := flag.Duration("duration", 0, "churn for this long instead of making -n connections")
	rate := flag.Float64("rate", 0, "with -duration: at most this many connections per second (0: as fast as the workers go)")
	ports := flag.Int("ports", 10, "listening ports to spread connections over (connect() slows as one destination's port range fills)")
	base := flag.Int("base", 20000, "first listening port")
	addr := flag.String("addr", "127.0.0.1", "loopback address to listen on and connect to")
	side := flag.String("side", "client", "who closes first and keeps TIME_WAIT: client (outbound) or server (inbound)")
	parallel := flag.Int("parallel", runtime.NumCPU(), "parallel workers, one OS thread each")
	hold := flag.Duration("hold", 0, "keep the listeners open this long after the run (e.g. for scrapes that must see them)")
	bindFirst := flag.Bool("bind", false, "clients bind() to (-addr, 0) before connect(): each takes a port no other connect() may share")
	flag.Parse()

	r := twgen.Run{Ports: max(*ports, 1), Threads: *parallel, Count: *n, Time: *duration, Rate: *rate}
	r.Base = *base
	r.BindFirst = *bindFirst
	switch *side {
	case "client":
	case "server":
		r.Side = twgen.ServerCloses
	default:
		fail(fmt.Errorf("-side %q: want client or server", *side))
	}
	var err error
	if r.Addr, err = netip.ParseAddr(*addr); err != nil {
		fail(err)
	}
	if err := r.Listen(r.Ports); err != nil {
		fail(err)
	}
	res, err := r.Start()
	fmt.Fprintf(os.Stderr, "twgen: %d connections closed by the %s over %d ports in %s = %.0f/s, %d failed\n",
		res.Done, *side, *ports, res.Elapsed.Round(time.Millisecond), float64(res.Done)/max(res.Elapsed.Seconds(), 1e-9), res.Failed)
	time.Sleep(*hold)
	r.Close()
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "twgen:", err)
	os.Exit(1)
}
