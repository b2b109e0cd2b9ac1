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
//
// It reads the likely holders first, the processes of the cgroups the
// wanted sockets were created in, and the other processes only while a
// wanted socket has no holder yet (see cgroups_linux.go): on a host of
// many services, the walk then reads one service's descriptors, not the
// host's.
package owners

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
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

// Query is what a scan looks for.
type Query struct {
	Sockets Want
	// Cgroups are the cgroup v2 ids of the wanted sockets (sock_diag's
	// INET_DIAG_CGROUP_ID): their processes are read first, all of them.
	Cgroups map[uint64]bool
	// UIDs are the owners of the wanted sockets (sock_diag's idiag_uid,
	// the creating task's fsuid): after the cgroups' processes, those
	// running as one of them are read before the others.
	UIDs map[uint32]bool
	// Live, when set, says which of the inodes of namespace ns are open
	// sockets now (ok false when it cannot tell). It is asked once the
	// cgroups' processes are read (if any), about the sockets still
	// without a holder: one closed since the caller's dump (a client that
	// churns connections) has none to find, and would have the scan read
	// every process in vain. Without cgroups to read first it is not
	// asked (its answer costs a walk of the kernel's established table):
	// the scan reads on while a socket has no holder, as without Live.
	Live func(ns uint64, inodes []uint32) (live map[uint32]bool, ok bool)
}

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
	// Listed counts the processes of procPath, Visited those whose
	// namespace was looked at, First those in the wanted sockets' cgroups,
	// visited before the others.
	Listed, Visited, First int
	// Unread counts the processes listed that the walk did not get to,
	// having stopped early (AllFound, or Stopped); not those that exited
	// before it did, which Listed - Visited counts too.
	Unread int
	// SameUID counts the others that run as an owner of a wanted socket,
	// visited next (when a socket was still without a holder).
	SameUID int
	// Closed counts the wanted sockets Live said were closed.
	Closed int
	// AllFound: every wanted socket has a holder or was closed. The scan
	// stops there once it has read the processes of the wanted sockets'
	// cgroups, so a socket shared with a process outside them (inherited
	// across fork, passed over a unix socket) may be named with its first
	// holders only.
	AllFound bool
	// Stopped says why the scan ended before reading every process it
	// needed ("" when it did not).
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

// maxWorkers bounds the goroutines reading descriptors at once: the cost
// is in the kernel (a dentry per descriptor and a readlink), so more than
// the CPUs only queue.
const maxWorkers = 4

// Scan reads the descriptors of every process under procPath whose network
// namespace is a key of want, and returns the holders of the wanted
// sockets. It returns at ctx's end with what it found so far. The holders'
// comm, cmdline and cgroup are read in identify (nil: directly), on one
// goroutine: the caller may run it on a thread whose cgroup namespace
// shows the paths whole.
func Scan(ctx context.Context, procPath string, q Query, lim Limits, identify func(func())) *Result {
	res := &Result{}
	if len(q.Sockets) == 0 {
		return res
	}
	pids, err := listPIDs(procPath)
	if err != nil {
		res.Stopped = err.Error()
		return res
	}
	first := likelyFirst(pids, cgroupPIDs(ctx, procPath, q.Cgroups))
	shared := &counts{lim: lim, pending: newPending(q.Sockets)}
	found := make([][]holder, min(max(runtime.GOMAXPROCS(0), 1), maxWorkers))
	// The processes of the sockets' cgroups, every one; then, once they
	// are all read, the others while a wanted socket has no holder, those
	// running as a socket's owner first. Each group is read to its end
	// before the next begins, so that no worker goes on to the next while
	// another reads the last holder.
	pending := func() bool { return shared.pending.left.Load() > 0 }
	shared.read(ctx, procPath, q.Sockets, pids[:first], found, func() bool { return true })
	if first > 0 && pending() && q.Live != nil && shared.proceed(ctx) {
		res.Closed = shared.pending.dropClosed(q.Live)
	}
	rest := pids[first:]
	if pending() && len(q.UIDs) > 0 {
		res.SameUID = likelyFirst(rest, uidPIDs(procPath, rest, q.UIDs))
		shared.read(ctx, procPath, q.Sockets, rest[:res.SameUID], found, pending)
		rest = rest[res.SameUID:]
	}
	shared.read(ctx, procPath, q.Sockets, rest, found, pending)
	if identify == nil {
		identify = func(fn func()) { fn() }
	}
	identify(func() {
		buf := make([]byte, maxCgroup) // one for every file read: thousands of holders make no garbage
		for _, hs := range found {
			for _, h := range hs {
				if p := h.identify(buf); p != nil {
					res.Procs = append(res.Procs, p)
				}
			}
		}
	})
	slices.SortFunc(res.Procs, func(a, b *Process) int { return a.PID - b.PID })
	res.PIDs, res.FDs, res.Denied = int(shared.pids.Load()), int(shared.fds.Load()), int(shared.denied.Load())
	res.Listed, res.Visited, res.First = len(pids), int(shared.visited.Load()), first
	res.Unread = len(pids) - int(shared.tried.Load())
	res.AllFound = !pending()
	res.Stopped = shared.stopped()
	return res
}

// counts are a scan's totals, shared by its workers, and its limits.
type counts struct {
	lim                        Limits
	pids, fds, denied, visited atomic.Int64
	tried                      atomic.Int64 // pids the walk got to, exited or not
	stop                       atomic.Pointer[string]
	pending                    *pending
}

// proceed reports whether another process may be read, and records why
// not.
func (c *counts) proceed(ctx context.Context) bool {
	why := ""
	switch {
	case ctx.Err() != nil:
		why = StoppedDeadline
	case c.pids.Load() >= int64(c.lim.MaxPIDs):
		why = StoppedPIDCap
	case c.fds.Load() >= int64(c.lim.MaxFDs):
		why = StoppedFDCap
	default:
		return true
	}
	c.stop.CompareAndSwap(nil, &why)
	return false
}

func (c *counts) stopped() string {
	if why := c.stop.Load(); why != nil {
		return *why
	}
	return ""
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
	*counts
	want Want
	buf  []byte
}

// holder is a process found holding wanted sockets, with its /proc
// directory still open until it is identified.
type holder struct {
	pid, dir int
	sockets  []uint32
}

// process reads one process, through a descriptor of its /proc directory,
// which stays open (in the holder) if it holds a wanted socket.
func (s *scanner) process(procPath string, pid int) (holder, bool) {
	dir, err := openAt(unix.AT_FDCWD, procPath+"/"+strconv.Itoa(pid), unix.O_DIRECTORY)
	if err != nil {
		return holder{}, false // exited
	}
	s.visited.Add(1)
	var st unix.Stat_t
	if _, err := kread.IgnoringEINTR(func() (int, error) { return 0, unix.Fstatat(dir, "ns/net", &st, 0) }); err != nil {
		s.deny(err)
		unix.Close(dir)
		return holder{}, false
	}
	wanted := s.want[st.Ino]
	if wanted == nil {
		unix.Close(dir)
		return holder{}, false
	}
	s.pids.Add(1)
	held := s.sockets(dir, wanted)
	if len(held) == 0 {
		unix.Close(dir)
		return holder{}, false
	}
	s.pending.found(st.Ino, held)
	return holder{pid: pid, dir: dir, sockets: held}, true
}

// identify reads the holder's comm, cmdline and cgroup and closes its
// directory; nil if it exited meanwhile.
func (h holder) identify(buf []byte) *Process {
	defer unix.Close(h.dir)
	p := &Process{PID: h.pid, Sockets: h.sockets}
	p.Comm = strings.TrimSuffix(readAt(h.dir, "comm", buf[:64]), "\n")
	p.Cmdline = strings.TrimRight(strings.ReplaceAll(readAt(h.dir, "cmdline", buf[:maxCmdline]), "\x00", " "), " ")
	p.Cgroup = readAt(h.dir, "cgroup", buf)
	if p.Comm == "" {
		return nil
	}
	return p
}

// sockets returns the wanted socket inodes among the descriptors of the
// process whose /proc directory is dir, each once: a socket at two
// descriptors (dup'd, as inetd hands a connection over as stdin and
// stdout) is one socket the process holds.
func (s *scanner) sockets(dir int, wanted map[uint32]bool) []uint32 {
	fd, err := openAt(dir, "fd", unix.O_DIRECTORY)
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
		if s.fds.Add(1) > int64(s.lim.MaxFDs) {
			why := StoppedFDCap
			s.stop.CompareAndSwap(nil, &why)
			break
		}
		n, err := kread.IgnoringEINTR(func() (int, error) { return unix.Readlinkat(fd, name, s.buf) })
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := socketInode(s.buf[:n]); ok && wanted[ino] {
			held = append(held, ino)
		}
	}
	slices.Sort(held)
	return slices.Compact(held)
}

// deny counts a process whose files could not be read for want of
// privilege; any other error is an exit.
func (s *scanner) deny(err error) {
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		s.denied.Add(1)
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

// readAt reads the file name under dir into buf, at most len(buf) bytes,
// and returns them as a string; "" if it cannot be read.
func readAt(dir int, name string, buf []byte) string {
	fd, err := openAt(dir, name, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	n, err := kread.IgnoringEINTR(func() (int, error) { return unix.Read(fd, buf) })
	if err != nil || n < 0 {
		return ""
	}
	return string(buf[:n])
}

// openAt opens name under dir read-only, with flags added.
func openAt(dir int, name string, flags int) (int, error) {
	return kread.IgnoringEINTR(func() (int, error) { return unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0) })
}
