// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/config"
	"golang.org/x/sys/unix"
)

// HostLabel is the netns label of the host's initial network
// namespace, when /run/netns has no name for it. It is found as the
// namespace of the kernel threads (kthreadd, PID 2), or, when --path.procfs
// shows no kthreadd (a container without hostPID), as that of PID 1.
const HostLabel = "host"

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

// OwnOnly is a discovery that found only the exporter's own namespace,
// labelled label: what a scrape visits when discovery fails.
func OwnOnly(label string) *Discovery {
	return &Discovery{Visit: []*Namespace{{label: label, own: true}}, Found: 1}
}

// ErrVanished marks a namespace that went away between discovery and
// entry: its last process exited or its /run/netns entry was removed.
var ErrVanished = errors.New("network namespace vanished")

// Discover finds every network namespace: the exporter's own, the named
// ones of netnsDirs and those of the processes under procPath. It labels
// them, reads their pods (see readPodUIDs and namePods, from the pod log
// directories under podLogDir), applies the filters and the cap of sel,
// and returns the own namespace first. Even on error, Visit holds the own
// namespace.
func Discover(procPath string, sel config.Netns, podLogDir string) (*Discovery, error) {
	d, err := discover(procPath, sel)
	namePods(podLogDir, d.Visit)
	return d, err
}

func discover(procPath string, sel config.Netns) (*Discovery, error) {
	own, err := statNs(filepath.Join(procPath, "self", "ns", "net"))
	if err != nil {
		return OwnOnly(HostLabel), fmt.Errorf("find the exporter's own network namespace: %w", err)
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
		if n.key == host && !taken[HostLabel] {
			n.label = HostLabel
			continue
		}
		n.label = "inode:" + strconv.FormatUint(n.key.ino, 10)
	}
}

// selects reports whether a namespace known by any of names (its
// /run/netns name, the comms of processes holding it) passes the include
// and exclude filters of sel. Exclude wins, so one unwanted holder is
// enough to skip it.
func selects(sel config.Netns, names ...string) bool {
	included := sel.IncludeRE == nil
	for _, name := range names {
		if sel.ExcludeRE != nil && sel.ExcludeRE.MatchString(name) {
			return false
		}
		if sel.IncludeRE != nil && sel.IncludeRE.MatchString(name) {
			included = true
		}
	}
	return included
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
		case !selects(sel, append([]string{n.label}, n.comms...)...):
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
