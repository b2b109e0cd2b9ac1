// Command twgen makes real TIME_WAIT sockets on loopback, for the benchmark
// and end-to-end scripts. Run it inside a throwaway network namespace.
//
//	twgen -n 250000 -ports 50 -base 20000 -side client
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/twgen"
)

func main() {
	n := flag.Int("n", 1000, "connections to open and close")
	ports := flag.Int("ports", 10, "listening ports to spread connections over (connect() slows as one destination's port range fills)")
	base := flag.Int("base", 20000, "first listening port")
	addr := flag.String("addr", "127.0.0.1", "loopback address to listen on and connect to")
	side := flag.String("side", "client", "who closes first and keeps TIME_WAIT: client (outbound) or server (inbound)")
	parallel := flag.Int("parallel", 64, "concurrent connections")
	hold := flag.Duration("hold", 0, "keep the listeners open this long after the run (e.g. for scrapes that must see them)")
	flag.Parse()

	s := twgen.ClientCloses
	if *side == "server" {
		s = twgen.ServerCloses
	}
	ip, err := netip.ParseAddr(*addr)
	if err != nil {
		fail(err)
	}
	srv, err := twgen.Listen(ip, twgen.Ports(uint16(*base), *ports)...)
	if err != nil {
		fail(err)
	}
	start := time.Now()
	done, err := twgen.Dial(context.Background(), srv.Addrs(), *n, *parallel, s)
	fmt.Fprintf(os.Stderr, "twgen: %d connections closed by the %s in %s\n", done, *side, time.Since(start).Round(time.Millisecond))
	time.Sleep(*hold)
	srv.Close()
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "twgen:", err)
	os.Exit(1)
}
