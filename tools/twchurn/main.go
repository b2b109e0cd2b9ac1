// Command twchurn keeps loopback connections churning through TIME_WAIT as
// fast as the machine allows, for the soak test: it listens on -ports
// loopback ports and, from -parallel goroutines, connects and closes
// without a byte of payload, so the client closes first and its side enters
// TIME_WAIT. It uses blocking system calls (no netpoller), which makes a
// connection cost little more than the kernel's own work.
//
//	twchurn -duration 90s -ports 100 -base 20000 -parallel 4
//
// Run it in a throwaway network namespace with net.ipv4.tcp_tw_reuse=0, an
// ephemeral range that excludes the listening ports, and a
// tcp_max_tw_buckets above rate x 60. It prints the connections made and
// the rate; connect() failures (ports exhausted) are counted, not fatal.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long to churn")
	ports := flag.Int("ports", 100, "listening ports (connections spread over them)")
	base := flag.Int("base", 20000, "first listening port")
	parallel := flag.Int("parallel", 4, "connecting goroutines (as many accepting ones)")
	flag.Parse()

	lo := [4]byte{127, 0, 0, 1}
	var lfds []int
	for p := *base; p < *base+*ports; p++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			fail(err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			fail(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: p, Addr: lo}); err != nil {
			fail(fmt.Errorf("bind port %d: %w", p, err))
		}
		if err := unix.Listen(fd, 4096); err != nil {
			fail(err)
		}
		lfds = append(lfds, fd)
	}

	// Accepters: take a connection, wait for the client's FIN (read
	// returns 0), close. SO_RCVTIMEO bounds a lost FIN.
	stop := make(chan struct{})
	var accepters sync.WaitGroup
	for i, lfd := range lfds {
		for j := 0; j < max(*parallel/len(lfds)+1, 1) && (j == 0 || i < *parallel); j++ {
			accepters.Add(1)
			go func() {
				defer accepters.Done()
				buf := make([]byte, 64)
				for {
					fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
					if err != nil {
						select {
						case <-stop:
							return
						default:
						}
						if err == unix.EINTR || err == unix.ECONNABORTED {
							continue
						}
						return
					}
					_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
					for {
						n, err := unix.Read(fd, buf)
						if n <= 0 || err != nil {
							break
						}
					}
					unix.Close(fd)
				}
			}()
		}
	}

	var done, failed atomic.Int64
	deadline := time.Now().Add(*duration)
	start := time.Now()
	var clients sync.WaitGroup
	for w := 0; w < *parallel; w++ {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := w; time.Now().Before(deadline); i += *parallel {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					failed.Add(1)
					continue
				}
				port := *base + i%len(lfds)
				if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: lo}); err != nil {
					failed.Add(1)
				} else {
					done.Add(1)
				}
				unix.Close(fd)
			}
		}()
	}
	clients.Wait()
	elapsed := time.Since(start)
	// Let the accepters see the last FINs, so no connection is reset.
	time.Sleep(200 * time.Millisecond)
	close(stop)
	for _, fd := range lfds {
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
	}
	accepters.Wait()
	fmt.Fprintf(os.Stderr, "twchurn: %d connections in %s = %.0f/s, %d failed\n",
		done.Load(), elapsed.Round(time.Millisecond), float64(done.Load())/elapsed.Seconds(), failed.Load())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "twchurn:", err)
	os.Exit(1)
}
