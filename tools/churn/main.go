// SPDX-License-Identifier: Apache-2.0

// Command churn is the client (and server) of the doctor's owner tests: a
// program that opens and closes connections to one destination at a pace
// the test chooses, closing first so that its side keeps the TIME_WAIT
// socket, while it holds some connections open as a pool would. The test
// runs it under several names (symlinks), so each client has its own
// command (comm).
//
//	churn -serve 127.0.0.1:7101,127.0.0.1:7102    # accept, read to EOF, close
//	churn -dst 127.0.0.1:7101 -rate 50 -hold 2    # steady: 50 closes/s
//	churn -dst 127.0.0.1:7102 -burst 150 -every 4s -hold 2
//	churn -dst 127.0.0.1:7103 -hold 5             # idle connections only
//	churn -dst 127.0.0.1:7104 -rate 20            # connects and closes at once
//
// With -log FILE it appends the time of each close ("<unix ms>"), so the
// test knows the rate it drove.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	serve := flag.String("serve", "", "comma-separated addresses to listen on, instead of being a client")
	dst := flag.String("dst", "", "destination ip:port")
	rate := flag.Float64("rate", 0, "connections opened and closed per second, evenly")
	burst := flag.Int("burst", 0, "connections opened and closed at once, every -every")
	every := flag.Duration("every", 4*time.Second, "time between bursts")
	hold := flag.Int("hold", 0, "connections held open, idle, for the whole run")
	duration := flag.Duration("duration", time.Hour, "how long to run")
	logPath := flag.String("log", "", "append the time of each close (\"<unix ms>\") to this file")
	flag.Parse()
	if *serve != "" {
		for _, a := range strings.Split(*serve, ",") {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				fail(err)
			}
			go accept(ln)
		}
		select {}
	}
	if *dst == "" {
		fail(fmt.Errorf("-dst or -serve is needed"))
	}
	var held []net.Conn // kept referenced: a pool's idle connections
	for range *hold {
		c, err := net.Dial("tcp", *dst)
		if err != nil {
			fail(err)
		}
		held = append(held, c)
	}
	log := newLog(*logPath)
	end := time.Now().Add(*duration)
	switch {
	case *rate > 0:
		t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		for now := range t.C {
			if now.After(end) {
				break
			}
			churn(*dst, 1, log)
		}
	case *burst > 0:
		for time.Now().Before(end) {
			churn(*dst, *burst, log)
			time.Sleep(*every)
		}
	default:
		time.Sleep(time.Until(end))
	}
	for _, c := range held {
		c.Close()
	}
}

// churn opens and closes n connections to dst, closing first, and logs
// each close.
func churn(dst string, n int, log closeLog) {
	for range n {
		c, err := net.Dial("tcp", dst)
		if err != nil {
			fmt.Fprintln(os.Stderr, "churn:", err)
			continue
		}
		c.Close()
		log.closed(time.Now())
	}
}

// accept serves ln: each connection is read to its end (the client's
// close), then closed, so the client keeps TIME_WAIT.
func accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			fail(err)
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

type closeLog struct{ w *bufio.Writer }

func newLog(path string) closeLog {
	if path == "" {
		return closeLog{}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fail(err)
	}
	return closeLog{bufio.NewWriterSize(f, 64)}
}

// closed logs a close at t.
func (l closeLog) closed(t time.Time) {
	if l.w == nil {
		return
	}
	fmt.Fprintf(l.w, "%d\n", t.UnixMilli())
	_ = l.w.Flush()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "churn:", err)
	os.Exit(1)
}
