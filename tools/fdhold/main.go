// SPDX-License-Identifier: Apache-2.0

// Command fdhold fills a host (or a network namespace) with processes that
// hold file descriptors, for the cost benchmark of the doctor's owner
// lookup (bench/owners.sh): -procs processes (sleep, killed with fdhold)
// each holding -fds descriptors, -conns of them TCP connections to -dst
// (the rest unconnected TCP sockets), whose other ends fdhold keeps.
//
//	fdhold -procs 2000 -fds 50 -conns 5 -dst 127.0.0.1:7300
//
// It prints "ready" once every process holds its descriptors, then waits
// for SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	procs := flag.Int("procs", 2000, "processes to start")
	fds := flag.Int("fds", 50, "descriptors each holds (beyond stdin, stdout, stderr)")
	conns := flag.Int("conns", 5, "of them, TCP connections to -dst")
	dst := flag.String("dst", "127.0.0.1:7300", "address fdhold listens on and each process connects to")
	flag.Parse()
	if *conns > *fds {
		fail(fmt.Errorf("-conns %d above -fds %d", *conns, *fds))
	}
	raiseNoFile()
	ln, err := net.Listen("tcp", *dst)
	if err != nil {
		fail(err)
	}
	var servers []net.Conn // the other ends, kept open
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			servers = append(servers, c)
		}
	}()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		fail(err)
	}
	var children []*exec.Cmd
	for range *procs {
		files, err := descriptors(*fds, *conns, *dst)
		if err != nil {
			fail(err)
		}
		cmd := exec.Command(sleep, "infinity")
		cmd.ExtraFiles = files
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		for _, f := range files {
			f.Close()
		}
		children = append(children, cmd)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, c := range children {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
}

// descriptors returns n files: conns connections to dst, the rest
// unconnected TCP sockets.
func descriptors(n, conns int, dst string) ([]*os.File, error) {
	files := make([]*os.File, 0, n)
	for i := range n {
		if i < conns {
			c, err := net.Dial("tcp", dst)
			if err != nil {
				return nil, err
			}
			f, err := c.(*net.TCPConn).File()
			c.Close()
			if err != nil {
				return nil, err
			}
			files = append(files, f)
			continue
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, os.NewFile(uintptr(fd), "socket"))
	}
	return files, nil
}

// raiseNoFile lifts the soft descriptor limit to the hard one: fdhold
// keeps every connection's server end.
func raiseNoFile() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fdhold:", err)
	os.Exit(1)
}
