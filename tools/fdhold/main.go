// SPDX-License-Identifier: Apache-2.0

// Command fdhold fills a host (or a network namespace) with processes that
// hold file descriptors, for the cost benchmark of the doctor's owner
// lookup (bench/owners.sh): -procs processes (sleep, killed with fdhold)
// each holding -fds descriptors, whose connections' other ends fdhold
// keeps.
//
// By default every process holds -conns TCP connections to -dst and
// unconnected TCP sockets for the rest, all made in fdhold's own cgroup:
// the worst case of the lookup, which must read every descriptor.
//
// With -groups G and -cgroup DIR, the processes are spread over G cgroup
// v2 groups DIR/g000, DIR/g001, … (made by fdhold, DIR removed by the
// caller), each process's sockets made in its group, as a service's
// processes make theirs: the -holders first processes (in g000 when
// -holders is at most -procs/G) hold -fds connections to -dst each; the
// others hold -other-conns connections to their group's own destination
// (-dst's port + 1 + the group's index), 5 pipes (both ends), 10 files
// and unconnected sockets for the rest: an SRE's host, where one service
// talks to the destination nearest exhaustion.
//
//	fdhold -procs 2000 -fds 50 -conns 5 -dst 127.0.0.1:7300
//	fdhold -procs 2000 -fds 50 -groups 100 -holders 20 -cgroup /sys/fs/cgroup/bench -dst 127.0.0.1:7300
//
// It prints "ready" once every process holds its descriptors, then waits
// for SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

type plan struct {
	procs, fds, conns, holders, otherConns, groups int
	dst                                            netip.AddrPort
	cgroup                                         string
}

func main() {
	var p plan
	var dst string
	flag.IntVar(&p.procs, "procs", 2000, "processes to start")
	flag.IntVar(&p.fds, "fds", 50, "descriptors each holds (beyond stdin, stdout, stderr)")
	flag.IntVar(&p.conns, "conns", 5, "without -groups: of them, TCP connections to -dst")
	flag.StringVar(&dst, "dst", "127.0.0.1:7300", "address fdhold listens on and the holders connect to")
	flag.IntVar(&p.groups, "groups", 1, "cgroups to spread the processes over (with -cgroup)")
	flag.StringVar(&p.cgroup, "cgroup", "", "cgroup v2 directory to make the groups in")
	flag.IntVar(&p.holders, "holders", 0, "with -groups: processes holding -fds connections to -dst each")
	flag.IntVar(&p.otherConns, "other-conns", 5, "with -groups: connections each other process holds to its group's destination")
	flag.Parse()
	var err error
	if p.dst, err = netip.ParseAddrPort(dst); err != nil {
		fail(err)
	}
	if err := p.check(); err != nil {
		fail(err)
	}
	raiseNoFile()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		fail(err)
	}
	var children []*exec.Cmd
	for g := range p.groups {
		if err := p.enter(g); err != nil {
			fail(err)
		}
		for i := g * p.procs / p.groups; i < (g+1)*p.procs/p.groups; i++ {
			files, err := p.descriptors(i, g)
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

func (p *plan) check() error {
	switch {
	case p.groups < 1 || p.groups > p.procs:
		return fmt.Errorf("-groups %d: want 1 to -procs", p.groups)
	case p.groups > 1 && p.cgroup == "":
		return fmt.Errorf("-groups %d needs -cgroup", p.groups)
	case p.groups == 1 && p.conns > p.fds:
		return fmt.Errorf("-conns %d above -fds %d", p.conns, p.fds)
	case p.groups > 1 && p.otherConns+20 > p.fds:
		return fmt.Errorf("-fds %d below -other-conns %d + 10 pipe ends + 10 files", p.fds, p.otherConns)
	}
	if p.groups == 1 {
		p.holders = p.procs
	}
	return nil
}

// enter moves fdhold into group g's cgroup, where the sockets it makes
// next and the processes it starts belong (cgroup_sk_alloc takes the
// creating task's cgroup); a no-op without -cgroup.
func (p *plan) enter(g int) error {
	if p.cgroup == "" {
		return nil
	}
	dir := filepath.Join(p.cgroup, fmt.Sprintf("g%03d", g))
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// descriptors returns the files process i of group g holds.
func (p *plan) descriptors(i, g int) ([]*os.File, error) {
	switch {
	case p.groups == 1:
		return open(p.fds, p.conns, p.dst, 0, 0)
	case i < p.holders:
		return open(p.fds, p.fds, p.dst, 0, 0)
	}
	return open(p.fds, p.otherConns, netip.AddrPortFrom(p.dst.Addr(), p.dst.Port()+1+uint16(g)), 5, 10)
}

// servers keep the other ends of the connections, by listening address.
var servers = struct {
	sync.Mutex
	listening map[netip.AddrPort]bool
	conns     []net.Conn
}{listening: map[netip.AddrPort]bool{}}

// listen accepts connections on addr, once, keeping their server ends.
func listen(addr netip.AddrPort) error {
	servers.Lock()
	defer servers.Unlock()
	if servers.listening[addr] {
		return nil
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return err
	}
	servers.listening[addr] = true
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			servers.Lock()
			servers.conns = append(servers.conns, c)
			servers.Unlock()
		}
	}()
	return nil
}

// open returns n files: conns connections to dst, pipes pipes (both
// ends), files opens of /dev/null, the rest unconnected TCP sockets.
func open(n, conns int, dst netip.AddrPort, pipes, files int) ([]*os.File, error) {
	if err := listen(dst); err != nil {
		return nil, err
	}
	out := make([]*os.File, 0, n)
	for range conns {
		c, err := net.Dial("tcp", dst.String())
		if err != nil {
			return nil, err
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	for range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		out = append(out, r, w)
	}
	for range files {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	for len(out) < n {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, os.NewFile(uintptr(fd), "socket"))
	}
	return out, nil
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
