// SPDX-License-Identifier: Apache-2.0

// Package owners finds the processes that hold given sockets, the way
// `ss -p` does: a socket's inode (sock_diag's idiag_inode) against the
// links of /proc/<pid>/fd, which read "socket:[<inode>]". It reads only
// the processes of the network namespaces asked about (/proc/<pid>/ns/net),
// stops at a deadline and at a cap of processes and descriptors, and keeps
// only the sockets asked for, so its memory is bounded by the question.
//
// Each process is read through a file descriptor of its /proc/<pid>
// directory: once the process exits, reads through it fail (ESRCH) even if
// the pid is reused, so a reused pid is never mistaken for the process
// that was there. A process that exits mid-scan is skipped. A process whose
// descriptors cannot be read (other users' processes without
// CAP_SYS_PTRACE: proc_fd_access_allowed and ptrace_may_access in
// fs/proc/base.c) is counted in Denied.
package owners

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits bound one scan.
type Limits struct {
	MaxPIDs int // processes whose descriptors are read
	MaxFDs  int // descriptors read
}

// DefaultLimits read a host with 100k descriptors in a fraction of a
// second; ten times that is still well inside the doctor's deadline.
var DefaultLimits = Limits{MaxPIDs: 100_000, MaxFDs: 1_000_000}

// Want are the socket inodes asked about, by the inode of the network
// namespace they live in.
type Want map[uint64]map[uint32]bool

// Process is one process found holding wanted sockets.
type Process struct {
	PID     int
	Comm    string
	Cmdline string // arguments joined by spaces, cut at maxCmdline bytes
	// Cgroup is the content of /proc/<pid>/cgroup as the scanning thread
	// sees it (see the caller for the cgroup namespace).
	Cgroup string
	// Sockets are the wanted socket inodes it holds.
	Sockets []uint32
	// Container and Pod are read from Cgroup by the caller, which knows
	// the kubelet's cgroup layout and pod directories; "" when none.
	Container                     string
	PodUID, PodNamespace, PodName string
}

// Result is what one scan found.
type Result struct {
	// Procs hold wanted sockets; a socket shared between processes (a
	// listener inherited across fork) is in each holder's Sockets.
	Procs []*Process
	// PIDs and FDs count what was read; Denied the processes whose
	// namespace or descriptors could not be read (EACCES, EPERM).
	PIDs, FDs, Denied int
	// Stopped says why the scan ended before reading every process
	// ("" when it read them all).
	Stopped string
}

// Reasons a scan stops early.
const (
	StoppedDeadline = "deadline"
	StoppedPIDCap   = "process cap"
	StoppedFDCap    = "descriptor cap"
)

const (
	maxCmdline = 256
	maxCgroup  = 4096
)

// Scan reads the descriptors of every process under procPath whose network
// namespace is a key of want, and returns the holders of the wanted
// sockets. It returns at ctx's end with what it found so far.
func Scan(ctx context.Context, procPath string, want Want, lim Limits) *Result {
	res := &Result{}
	if len(want) == 0 {
		return res
	}
	pids, err := listPIDs(procPath)
	if err != nil {
		res.Stopped = err.Error()
		return res
	}
	s := scanner{res: res, want: want, lim: lim, buf: make([]byte, 64)}
	for _, pid := range pids {
		switch {
		case ctx.Err() != nil:
			res.Stopped = StoppedDeadline
		case res.PIDs >= lim.MaxPIDs:
			res.Stopped = StoppedPIDCap
		case res.FDs >= lim.MaxFDs:
			res.Stopped = StoppedFDCap
		}
		if res.Stopped != "" {
			break
		}
		s.process(procPath, pid)
	}
	return res
}

// listPIDs returns the numeric entries of procPath.
func listPIDs(procPath string) ([]int, error) {
	f, err := os.Open(procPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

type scanner struct {
	res  *Result
	want Want
	lim  Limits
	buf  []byte
}

// process reads one process, through a descriptor of its /proc directory.
func (s *scanner) process(procPath string, pid int) {
	dir, err := unix.Open(procPath+"/"+strconv.Itoa(pid), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // exited
	}
	defer unix.Close(dir)
	var st unix.Stat_t
	if err := unix.Fstatat(dir, "ns/net", &st, 0); err != nil {
		s.deny(err)
		return
	}
	wanted := s.want[st.Ino]
	if wanted == nil {
		return
	}
	s.res.PIDs++
	held := s.sockets(dir, wanted)
	if len(held) == 0 {
		return
	}
	p := &Process{PID: pid, Sockets: held}
	p.Comm = strings.TrimSuffix(readAt(dir, "comm", 64), "\n")
	p.Cmdline = strings.TrimRight(strings.ReplaceAll(readAt(dir, "cmdline", maxCmdline), "\x00", " "), " ")
	p.Cgroup = readAt(dir, "cgroup", maxCgroup)
	if p.Comm == "" {
		return // exited after its descriptors were read
	}
	s.res.Procs = append(s.res.Procs, p)
}

// sockets returns the wanted socket inodes among the descriptors of the
// process whose /proc directory is dir.
func (s *scanner) sockets(dir int, wanted map[uint32]bool) []uint32 {
	fd, err := unix.Openat(dir, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		s.deny(err)
		return nil
	}
	f := os.NewFile(uintptr(fd), "fd")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		s.deny(err)
		return nil
	}
	var held []uint32
	for _, name := range names {
		if s.res.FDs >= s.lim.MaxFDs {
			break
		}
		s.res.FDs++
		n, err := unix.Readlinkat(fd, name, s.buf)
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := socketInode(s.buf[:n]); ok && wanted[ino] {
			held = append(held, ino)
		}
	}
	return held
}

// deny counts a process whose files could not be read for want of
// privilege; any other error is an exit.
func (s *scanner) deny(err error) {
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		s.res.Denied++
	}
}

// socketInode parses a descriptor link "socket:[<inode>]", without
// allocating: it runs once per descriptor of the host.
func socketInode(link []byte) (uint32, bool) {
	digits, ok := bytes.CutPrefix(link, []byte("socket:["))
	if !ok {
		return 0, false
	}
	if digits, ok = bytes.CutSuffix(digits, []byte("]")); !ok || len(digits) == 0 || len(digits) > 10 {
		return 0, false
	}
	var ino uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		ino = ino*10 + uint64(c-'0')
	}
	return uint32(ino), ino <= math.MaxUint32
}

// readAt reads at most limit bytes of the file name under dir; "" if it
// cannot be read.
func readAt(dir int, name string, limit int) string {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	b := make([]byte, limit)
	n, err := unix.Read(fd, b)
	if err != nil || n < 0 {
		return ""
	}
	return string(b[:n])
}
