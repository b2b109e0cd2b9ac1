// Command twfast makes N outbound TIME_WAIT sockets on loopback in the
// current network namespace, like tools/twgen -side client, with blocking
// system calls on one locked thread per worker instead of Go's net
// package. Several times faster, so a benchmark can measure 250k sockets
// well inside their 60 s lifetime on a busy 2-core machine. Run it in a
// throwaway namespace with tcp_tw_reuse=0.
//
//	twfast -n 250000 -ports 64 -workers 2
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/timewait-exporter/timewait_exporter/bench/netnsload"
)

func main() {
	n := flag.Int("n", 1000, "TIME_WAIT sockets to make")
	ports := flag.Int("ports", 50, "listening ports (destinations), spread over the workers")
	base := flag.Int("base", 20000, "first listening port")
	workers := flag.Int("workers", runtime.NumCPU(), "parallel workers, one OS thread each")
	flag.Parse()
	w := max(*workers, 1)
	per := max(*ports/w, 10)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, w)
	for i := 0; i < w; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			l := netnsload.Load{Base: *base + i*per}
			defer l.Close()
			count := *n / w
			if i < *n%w {
				count++
			}
			errs[i] = l.Make(count, per)
		}()
	}
	wg.Wait()
	fmt.Fprintf(os.Stderr, "twfast: %d connections closed by the client over %d ports in %s\n", *n, per*w, time.Since(start).Round(time.Millisecond))
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "twfast:", err)
			os.Exit(1)
		}
	}
}
