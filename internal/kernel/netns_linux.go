// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/timewait-exporter/timewait_exporter/config"
	"golang.org/x/sys/unix"
)

// NetnsLabel is the scope label --netns.discover adds to every
// per-namespace metric.
const NetnsLabel = "netns"

// HostNetnsLabel is the netns label of the host's initial network
// namespace, when /run/netns has no name for it. It is found as the
// namespace of the kernel threads (kthreadd, PID 2), or, when --path.procfs
// shows no kthreadd (a container without hostPID), as that of PID 1.
const HostNetnsLabel = "host"

// netnsDirs hold the bind mounts of named namespaces (ip netns, CNI).
// /var/run is usually a symlink to /run; entries are deduplicated by inode.
var netnsDirs = []string{"/run/netns", "/var/run/netns"}

// nsKey identifies a namespace: the nsfs device and inode of its file.
type nsKey struct{ dev, ino uint64 }

// Namespace is one network namespace found by discovery.
type Namespace struct {
	key   nsKey
	label string
	name  string   // from /run/netns; "" if unnamed
	named string   // path of the /run/netns entry, if any
	pids  []int    // processes holding it (thread group leaders), ascending
	comms []string // their comms: the lowest pid's first, then, when filters need them, the others' (deduplicated)
	own   bool     // the exporter's own namespace
	pod   Pod      // the pod it belongs to, see readPodUIDs and namePods
}

// Label is the namespace's netns label.
func (n *Namespace) Label() string { return n.label }

// Inode is the nsfs inode of the namespace (as readlink
// /proc/<pid>/ns/net shows it).
func (n *Namespace) Inode() uint64 { return n.key.ino }

// PID is the lowest pid holding the namespace, 0 if none.
func (n *Namespace) PID() int {
	if len(n.pids) == 0 {
		return 0
	}
	return n.pids[0]
}

// Comm is the comm of the process PID is.
func (n *Namespace) Comm() string {
	if len(n.comms) == 0 {
		return ""
	}
	return n.comms[0]
}

// Discovery is the result of one walk over /run/netns and /proc.
type Discovery struct {
	Visit    []*Namespace // the own namespace first, then by label
	Found    int          // namespaces found, before filters and cap
	Excluded int          // left out by the include/exclude filters
	Dropped  int          // left out because of max_namespaces
	Denied   int          // processes whose namespace could not be read
}

// ErrNetnsVanished marks a namespace that went away between discovery and
// entry: its last process exited or its /run/netns entry was removed.
var ErrNetnsVanished = errors.New("network namespace vanished")

// netnsParallelism bounds how many foreign namespaces are visited at once:
// a visit is mostly kernel work (the sock_diag dump), so more threads than
// CPUs only queue.
func netnsParallelism() int { return min(max(runtime.GOMAXPROCS(0), 1), 8) }

// ForEachForeign calls visit for each namespace, netnsParallelism at a
// time, and returns when all are done. Once ctx has ended, visits still
// waiting for their turn are made at once (they fail before entering).
func (r *Reader) ForEachForeign(ctx context.Context, nss []*Namespace, visit func(*Namespace)) {
	sem := make(chan struct{}, netnsParallelism())
	var wg sync.WaitGroup
	for _, n := range nss {
		wg.Add(1)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			visit(n)
			wg.Done()
			continue
		}
		go func() {
			defer func() { <-sem; wg.Done() }()
			visit(n)
		}()
	}
	wg.Wait()
}

// InNetns starts fn on a fresh OS thread that has entered namespace n,
// and lets that thread exit afterwards. It returns once the thread has
// entered n (or failed to, or ctx ended first), not when fn returns: the
// caller waits for fn's work itself, and can stop waiting at its deadline
// (see batch). fn gets the thread's id, and must do its work on the
// calling goroutine: netlink sockets and /proc/sys resolve against the
// namespace of the thread that uses them. fn is not called once ctx has
// ended.
//
// The thread is locked with runtime.LockOSThread and never unlocked: when
// the goroutine returns, the Go runtime terminates the thread rather than
// give it back to the scheduler in a foreign namespace. New threads the
// runtime needs meanwhile are cloned from its template thread, not from
// this one (Go 1.10+), so the namespace cannot leak to them either.
func (r *Reader) InNetns(ctx context.Context, n *Namespace, fn func(tid int)) error {
	return inNetns(ctx, r.opts.ProcPath, n, fn)
}

func inNetns(ctx context.Context, procPath string, n *Namespace, fn func(tid int)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", n.label, err)
	}
	errc := make(chan error, 1)
	onThrowawayThread(func() { enterAndRun(ctx, procPath, n, fn, errc) })
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("enter network namespace %s: still blocked: %w", n.label, ctx.Err())
	}
}

// enterAndRun enters n on this thread (one of onThrowawayThread), sends
// the outcome to entered, then runs fn.
func enterAndRun(ctx context.Context, procPath string, n *Namespace, fn func(tid int), entered chan<- error) {
	fd, err := openNetns(procPath, n)
	if err != nil {
		entered <- err
		return
	}
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	unix.Close(fd)
	if err != nil {
		entered <- fmt.Errorf("setns into network namespace %s: %w", n.label, err)
		return
	}
	entered <- nil
	if ctx.Err() == nil {
		fn(unix.Gettid())
	}
}

// openNetns opens a file of namespace n: its /run/netns entry, or else
// /proc/<pid>/ns/net of the first holder still alive. The open file keeps
// the namespace alive even if it is deleted or its processes exit right
// after. A file that is now another namespace (the pid was reused, the
// name re-created) counts as vanished.
func openNetns(procPath string, n *Namespace) (int, error) {
	paths := make([]string, 0, len(n.pids)+1)
	if n.named != "" {
		paths = append(paths, n.named)
	}
	for _, pid := range n.pids {
		paths = append(paths, filepath.Join(procPath, strconv.Itoa(pid), "ns", "net"))
	}
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", p, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("stat %s: %w", p, err)
		}
		if (nsKey{st.Dev, st.Ino}) != n.key {
			unix.Close(fd)
			continue
		}
		return fd, nil
	}
	return -1, fmt.Errorf("%w: none of %s is namespace inode %d any more", ErrNetnsVanished, strings.Join(paths, ", "), n.key.ino)
}

// discoverNetns finds every network namespace: the exporter's own, the
// named ones of netnsDirs and those of the processes under procPath. It
// labels them, reads their pods' UIDs, applies the filters and the cap of
// sel, and returns the own namespace first. Even on error, visit holds the
// own namespace.
func discoverNetns(procPath string, sel config.Netns) (*Discovery, error) {
	own, err := statNs(filepath.Join(procPath, "self", "ns", "net"))
	if err != nil {
		d := &Discovery{Visit: []*Namespace{{label: HostNetnsLabel, own: true}}, Found: 1}
		return d, fmt.Errorf("find the exporter's own network namespace: %w", err)
	}
	_, host, hostErr := hostNs(procPath, "net")
	byKey := map[nsKey]*Namespace{own: {key: own, own: true}}
	get := func(k nsKey) *Namespace {
		n := byKey[k]
		if n == nil {
			n = &Namespace{key: k}
			byKey[k] = n
		}
		return n
	}

	for _, dir := range netnsDirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // no named namespaces (or no /run/netns mounted in)
		}
		for _, de := range entries {
			p := filepath.Join(dir, de.Name())
			k, err := statNs(p)
			// An entry that is not an nsfs bind mount (a leftover of a
			// failed `ip netns add`) has another device: skip it.
			if err != nil || k.dev != own.dev {
				continue
			}
			if n := get(k); n.name == "" {
				n.name, n.named = de.Name(), p
			}
		}
	}

	wantComms := sel.IncludeRE != nil || sel.ExcludeRE != nil
	d := &Discovery{}
	procs, err := os.ReadDir(procPath)
	if err != nil {
		err = fmt.Errorf("list processes: %w", err)
	}
	for _, de := range procs {
		pid, convErr := strconv.Atoi(de.Name())
		if convErr != nil || pid <= 0 {
			continue
		}
		k, err := statNs(filepath.Join(procPath, de.Name(), "ns", "net"))
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH):
			continue // exited
		case err != nil:
			d.Denied++
			continue
		}
		n := get(k)
		n.pids = append(n.pids, pid)
	}
	for _, n := range byKey {
		slices.Sort(n.pids)
		for i, pid := range n.pids {
			if i > 0 && !wantComms {
				break
			}
			c, ok := readComm(procPath, pid)
			if i == 0 || ok && !slices.Contains(n.comms, c) {
				n.comms = append(n.comms, c)
			}
		}
	}
	all := make([]*Namespace, 0, len(byKey))
	for _, n := range byKey {
		all = append(all, n)
	}
	hostKey := nsKey{}
	if hostErr == nil {
		hostKey = host
	}
	assignLabels(all, hostKey)
	readPodUIDs(procPath, all)
	selectNetns(d, all, sel)
	return d, err
}

// assignLabels gives each namespace its netns label: its /run/netns name;
// else "host" for the namespace of PID 1; else "inode:<inode>", which is
// stable for the namespace's lifetime. Names are unique within a directory;
// should "host" also be the name of another namespace, the name wins.
func assignLabels(all []*Namespace, host nsKey) {
	taken := map[string]bool{}
	for _, n := range all {
		if n.name != "" {
			n.label = n.name
			taken[n.name] = true
		}
	}
	for _, n := range all {
		if n.label != "" {
			continue
		}
		if n.key == host && !taken[HostNetnsLabel] {
			n.label = HostNetnsLabel
			continue
		}
		n.label = "inode:" + strconv.FormatUint(n.key.ino, 10)
	}
}

// selectNetns fills d.Visit with the own namespace (always visited) and the
// others that pass the filters, up to sel.MaxNamespaces in all; it counts
// what it leaves out. Pods' namespaces come before the rest, each in label
// order, so the cap drops the others first and which ones it drops stays
// the same as long as the set of namespaces does.
func selectNetns(d *Discovery, all []*Namespace, sel config.Netns) {
	d.Found = len(all)
	rank := func(n *Namespace) int {
		switch {
		case n.own:
			return 0
		case n.pod.UID != "":
			return 1
		}
		return 2
	}
	slices.SortFunc(all, func(a, b *Namespace) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.label, b.label))
	})
	limit := sel.MaxNamespaces
	if limit < 1 {
		limit = config.DefaultMaxNamespaces
	}
	for _, n := range all {
		switch {
		case n.own:
		case !sel.Selects(append([]string{n.label}, n.comms...)...):
			d.Excluded++
			continue
		case len(d.Visit) >= limit:
			d.Dropped++
			continue
		}
		d.Visit = append(d.Visit, n)
	}
}

// hostNs finds the initial namespace of type kind ("net", "cgroup"): that
// of kthreadd (PID 2 in the initial PID namespace) when readable, else that
// of PID 1. It returns the namespace's file and its key.
func hostNs(procPath, kind string) (string, nsKey, error) {
	if comm, _ := readComm(procPath, 2); comm == "kthreadd" {
		p := filepath.Join(procPath, "2", "ns", kind)
		if k, err := statNs(p); err == nil {
			return p, k, nil
		}
	}
	p := filepath.Join(procPath, "1", "ns", kind)
	k, err := statNs(p)
	return p, k, err
}

func statNs(path string) (nsKey, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsKey{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return nsKey{st.Dev, st.Ino}, nil
}

func readComm(procPath string, pid int) (string, bool) {
	b, err := os.ReadFile(filepath.Join(procPath, strconv.Itoa(pid), "comm"))
	if err != nil {
		return "", false
	}
	return strings.TrimSuffix(string(b), "\n"), true
}
