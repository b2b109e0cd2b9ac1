// SPDX-License-Identifier: Apache-2.0

// Command stallclient opens -conns connections to an HTTP server, each with
// the smallest receive buffer the kernel allows, and sends -requests
// pipelined GETs of -path on each. With -mode stall it never reads and
// holds the connections for -hold; with -mode abort it waits until the
// server is writing (-hold), then resets each connection (SO_LINGER 0), as
// a client that gives up mid-answer does. For test/harden_slowclients.sh.
//
//	stallclient -addr 127.0.0.1:9966 -conns 45 -requests 300 -hold 10s
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9966", "server address")
	path := flag.String("path", "/metrics", "path to request")
	conns := flag.Int("conns", 45, "connections")
	requests := flag.Int("requests", 300, "pipelined requests per connection")
	mode := flag.String("mode", "stall", "stall (never read) or abort (reset after -hold)")
	hold := flag.Duration("hold", 10*time.Second, "how long to keep the connections")
	flag.Parse()
	if *mode != "stall" && *mode != "abort" {
		fmt.Fprintln(os.Stderr, "stallclient: -mode is stall or abort")
		os.Exit(2)
	}
	dialer := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1) }); cerr != nil {
			return cerr
		}
		return err
	}}
	req := strings.Repeat(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", *path, *addr), *requests)
	var open []*net.TCPConn
	for i := 0; i < *conns; i++ {
		c, err := dialer.Dial("tcp", *addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "stallclient: connection %d: %v\n", i, err)
			os.Exit(1)
		}
		tc := c.(*net.TCPConn)
		open = append(open, tc)
		// The server reads what its buffers take; the rest waits in ours.
		go func() { _, _ = tc.Write([]byte(req)) }()
	}
	fmt.Printf("stallclient: %d connections, %d requests each, mode %s\n", len(open), *requests, *mode)
	time.Sleep(*hold)
	for _, c := range open {
		if *mode == "abort" {
			_ = c.SetLinger(0)
		}
		_ = c.Close()
	}
}
