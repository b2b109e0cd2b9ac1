// SPDX-License-Identifier: Apache-2.0

package owners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

func TestCgroup2MountPoints(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo string
		want            []string
	}{
		{"hybrid: the unified mount among v1 ones", `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`, []string{"/sys/fs/cgroup/unified"}},
		{"unified, with optional fields", `30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate`, []string{"/sys/fs/cgroup"}},
		{"a part of the hierarchy", `50 23 0:26 /kubepods.slice /mnt/kp rw - cgroup2 cgroup2 rw`, []string{"/mnt/kp"}},
		{"a private cgroup namespace's view of the host's mount", `41 31 0:38 /.. /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw`, []string{"/sys/fs/cgroup/unified"}},
		{"escaped space", `50 23 0:26 / /mnt/my\040cgroup rw - cgroup2 cgroup2 rw`, []string{"/mnt/my cgroup"}},
		{"v1 only", `32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu`, nil},
		{"garbage", "x\n\n - \n1 2 3 - cgroup2", nil},
	} {
		path := filepath.Join(t.TempDir(), "mountinfo")
		if err := os.WriteFile(path, []byte(tc.mountinfo), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := cgroup2MountPoints(path); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := cgroup2MountPoints("/nonexistent"); got != nil {
		t.Errorf("missing file: %q", got)
	}
}

func TestLikelyFirst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pids   []int
		likely map[int]bool
		first  []int // the front, in any order
	}{
		{"none", []int{1, 2, 3}, nil, nil},
		{"some", []int{1, 2, 3, 4, 5}, map[int]bool{4: true, 2: true, 99: true}, []int{2, 4}},
		{"all", []int{7, 8}, map[int]bool{7: true, 8: true}, []int{7, 8}},
	} {
		pids := slices.Clone(tc.pids)
		n := likelyFirst(pids, tc.likely)
		front := slices.Sorted(slices.Values(pids[:n]))
		if !slices.Equal(front, tc.first) || !slices.Equal(slices.Sorted(slices.Values(pids)), tc.pids) {
			t.Errorf("%s: %v with %d first; want %v first and every pid kept", tc.name, pids, n, tc.first)
		}
	}
}

// testCgroup makes the cgroup name (made unique by this process's pid)
// under the cgroup2 mount, removed at cleanup, and returns its directory
// and id; the test is skipped without one. Processes moved into it must be
// started after it, so that they are killed before it is removed.
func testCgroup(t testing.TB, name string) (string, uint64) {
	t.Helper()
	mounts := cgroup2MountPoints("/proc/self/mountinfo")
	if len(mounts) == 0 || os.Geteuid() != 0 {
		t.Skip("needs root and a cgroup2 mount")
	}
	dir := filepath.Join(mounts[0], strings.ReplaceAll(name, "PID", strconv.Itoa(os.Getpid())))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup: %v", err)
	}
	t.Cleanup(func() {
		for range 50 { // the killed processes leave as they are reaped
			if os.Remove(dir) == nil || os.IsNotExist(os.Remove(dir)) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	return dir, st.Ino
}

// moveTo moves pid into the cgroup dir.
func moveTo(t testing.TB, pid int, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startSleep(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// The ids of real cgroups map to their processes, nested ones too; an id
// that is no cgroup maps to none, and no id reads nothing.
func TestCgroupPIDs(t *testing.T) {
	a, idA := testCgroup(t, "owners-a-PID")
	b, idB := testCgroup(t, "owners-a-PID/b") // nested in a
	c, idC := testCgroup(t, "owners-c-PID")
	pa, pb, pc := startSleep(t), startSleep(t), startSleep(t)
	moveTo(t, pa, a)
	moveTo(t, pb, b)
	moveTo(t, pc, c)
	for _, tc := range []struct {
		name string
		ids  map[uint64]bool
		want []int
	}{
		{"one", map[uint64]bool{idA: true}, []int{pa}},
		{"nested", map[uint64]bool{idB: true}, []int{pb}},
		{"two", map[uint64]bool{idB: true, idC: true}, []int{pb, pc}},
		{"an id that is no cgroup", map[uint64]bool{1 << 62: true}, nil},
		{"none", nil, nil},
	} {
		got := slices.Sorted(maps.Keys(cgroupPIDs(context.Background(), "/proc", tc.ids)))
		if !slices.Equal(got, slices.Sorted(slices.Values(tc.want))) {
			t.Errorf("%s: pids %v, want %v", tc.name, got, tc.want)
		}
	}
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	if got := cgroupPIDs(expired, "/proc", map[uint64]bool{idA: true}); len(got) != 0 {
		t.Errorf("past the deadline: pids %v, want none", got)
	}
	// Where the only mount in view is of a part of the hierarchy (a
	// container's cgroup namespace), the cgroups in that part are found.
	proc := t.TempDir()
	if err := os.Mkdir(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "self", "mountinfo"), []byte("50 23 0:26 / "+a+" rw - cgroup2 cgroup2 rw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := slices.Collect(maps.Keys(cgroupPIDs(context.Background(), proc, map[uint64]bool{idB: true, idC: true}))); !slices.Equal(got, []int{pb}) {
		t.Errorf("a mount of %s: pids %v, want only %d (c is outside)", a, got, pb)
	}
}

// cgroupHelperEnv makes the test binary move itself into the cgroup
// directory it names, map that cgroup's id to processes of /proc and print
// them (see TestCgroupPIDsOtherPidNamespace).
const cgroupHelperEnv = "OWNERS_TEST_CGROUP_PIDS"

func cgroupPIDsHelper(dir string) int {
	var st unix.Stat_t
	if err := errors.Join(os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0o600), unix.Stat(dir, &st)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_ = json.NewEncoder(os.Stdout).Encode(slices.Sorted(maps.Keys(cgroupPIDs(context.Background(), "/proc", map[uint64]bool{st.Ino: true}))))
	return 0
}

// cgroup.procs lists pids as the reader's pid namespace numbers them: an
// exporter in a pid namespace of its own (a container without hostPID)
// reading the host's procfs (--path.procfs=/host/proc) must not take them
// for the host's pids, which name other processes. Here the reader is pid
// 1 of a new pid namespace, with the host's /proc still mounted.
func TestCgroupPIDsOtherPidNamespace(t *testing.T) {
	dir, _ := testCgroup(t, "owners-pidns-PID")
	cmd := exec.Command("unshare", "--pid", "--fork", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cgroupHelperEnv+"="+dir)
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 2: // the helper's own failure
		t.Fatalf("helper: %s", exit.Stderr)
	case err != nil:
		t.Skipf("unshare --pid: %v", err)
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		t.Fatalf("helper printed %q: %v", out, err)
	}
	for _, pid := range pids { // each must be a process of dir as /proc shows it
		cg, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
		if !strings.Contains(string(cg), "::/"+filepath.Base(dir)+"\n") {
			t.Errorf("pid %d, whose /proc/%d/cgroup is %q, taken for a process of %s", pid, pid, cg, dir)
		}
	}
}

// A scan told the holder's cgroup reads it first and stops when every
// wanted socket has a holder; told a cgroup the holder left (it moved
// after creating its socket), it still finds it, by reading on.
func TestScanCgroupFirst(t *testing.T) {
	dir, id := testCgroup(t, "owners-first-PID")
	_, left := testCgroup(t, "owners-left-PID")
	for range 20 { // other processes, with lower pids than the holder
		startSleep(t)
	}
	holder, ino := startHolder(t)
	moveTo(t, holder.Process.Pid, dir)
	want := Want{ownNetns(t): {ino: true}}
	for _, tc := range []struct {
		name    string
		cgroups map[uint64]bool
		first   int
	}{
		{"the holder's cgroup", map[uint64]bool{id: true}, 1},
		{"a cgroup the holder left", map[uint64]bool{left: true}, 0},
		{"no hint", nil, 0},
	} {
		res := Scan(context.Background(), "/proc", Query{Sockets: want, Cgroups: tc.cgroups}, DefaultLimits, nil)
		if len(res.Procs) != 1 || res.Procs[0].PID != holder.Process.Pid || !res.AllFound || res.Stopped != "" {
			t.Fatalf("%s: found %+v, all found %v, stopped %q; want pid %d", tc.name, res.Procs, res.AllFound, res.Stopped, holder.Process.Pid)
		}
		if !strings.Contains(res.Procs[0].Cgroup, "/owners-first-") {
			t.Errorf("%s: holder's cgroup %q", tc.name, res.Procs[0].Cgroup)
		}
		// With the hint, the holder comes first and the scan stops at
		// once (give or take the processes other workers had begun);
		// without, it reads on in pid order, past the 20 sleeps.
		hinted := res.Visited <= tc.first+maxWorkers
		if res.First != tc.first || hinted != (tc.first > 0) || res.Visited > res.Listed || hinted && res.Unread < 20-maxWorkers {
			t.Errorf("%s: visited %d of %d (%d unread), %d first; want %d first", tc.name, res.Visited, res.Listed, res.Unread, res.First, tc.first)
		}
	}
}

// The two ways to find the processes of a cgroup id, on a host of 100
// cgroups of 20 processes each (the shape of bench/owners.sh): the walk of
// the hierarchy cgroupPIDs makes, against reading every process's
// /proc/<pid>/cgroup and stat'ing the directory it names.
func BenchmarkCgroupPIDs(b *testing.B) {
	parent, _ := testCgroup(b, "owners-bench-PID")
	var ids []uint64
	for g := range 100 {
		dir, id := testCgroup(b, filepath.Base(parent)+"/g"+strconv.Itoa(g))
		ids = append(ids, id)
		for range 20 {
			moveTo(b, startSleep(b), dir)
		}
	}
	want := map[uint64]bool{ids[42]: true}
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if n := len(cgroupPIDs(context.Background(), "/proc", want)); n != 20 {
				b.Fatalf("%d processes, want 20", n)
			}
		}
	})
	b.Run("per-process", func(b *testing.B) {
		root := cgroup2MountPoints("/proc/self/mountinfo")[0]
		for b.Loop() {
			if n := len(perProcessCgroupPIDs(root, want)); n != 20 {
				b.Fatalf("%d processes, want 20", n)
			}
		}
	})
}

// perProcessCgroupPIDs is the way not taken, for the benchmark.
func perProcessCgroupPIDs(root string, ids map[uint64]bool) map[int]bool {
	pids, _ := listPIDs("/proc")
	out := map[int]bool{}
	buf := make([]byte, maxCgroup)
	for _, pid := range pids {
		dir, err := openAt(unix.AT_FDCWD, "/proc/"+strconv.Itoa(pid), unix.O_DIRECTORY)
		if err != nil {
			continue
		}
		_, path, ok := strings.Cut(readAt(dir, "cgroup", buf), "0::")
		unix.Close(dir)
		var st unix.Stat_t
		if ok && unix.Stat(root+strings.TrimSpace(path), &st) == nil && ids[st.Ino] {
			out[pid] = true
		}
	}
	return out
}

// A wanted socket closed since the caller's dump has no holder: told so
// by Live (here a real sock_diag dump), the scan stops after the holder's
// cgroup as if it had been found; without Live, it reads every process.
func TestScanClosedSocket(t *testing.T) {
	dir, id := testCgroup(t, "owners-closed-PID")
	for range 20 {
		startSleep(t)
	}
	holder, held := startHolder(t)
	moveTo(t, holder.Process.Pid, dir)
	gone, closed := startHolder(t)
	_ = gone.Process.Kill() // its only descriptor of the socket goes
	_ = gone.Wait()
	q := Query{Sockets: Want{ownNetns(t): {held: true, closed: true}}, Cgroups: map[uint64]bool{id: true}}
	res := Scan(context.Background(), "/proc", q, DefaultLimits, nil)
	if res.AllFound || res.Closed != 0 || res.Visited < 20 {
		t.Errorf("without Live: all found %v, %d closed, %d processes visited; want a full scan", res.AllFound, res.Closed, res.Visited)
	}
	asked := 0
	q.Live = func(ns uint64, inodes []uint32) (map[uint32]bool, bool) {
		asked++
		if !slices.Equal(inodes, []uint32{closed}) {
			t.Errorf("Live asked about %v, want only the socket without a holder, %d", inodes, closed)
		}
		return openSockets(t, inodes), true
	}
	res = Scan(context.Background(), "/proc", q, DefaultLimits, nil)
	if !res.AllFound || res.Closed != 1 || res.Visited != 1 || asked != 1 || len(res.Procs) != 1 || res.Procs[0].PID != holder.Process.Pid {
		t.Errorf("with Live: all found %v, %d closed, %d visited, Live asked %d times, holders %+v; want the holder alone, 1 closed",
			res.AllFound, res.Closed, res.Visited, asked, res.Procs)
	}
}

// openSockets are those of inodes that a sock_diag dump of this namespace
// shows open now (a closed socket has no inode; TIME_WAIT ones none).
func openSockets(t *testing.T, inodes []uint32) map[uint32]bool {
	conn, err := sockdiag.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	open := map[uint32]bool{}
	conn.Dump(context.Background(), unix.AF_UNSPEC, sockdiag.AllStates)
	for socks, ok := conn.Next(); ok; socks, ok = conn.Next() {
		for i := range socks {
			if slices.Contains(inodes, socks[i].Inode) {
				open[socks[i].Inode] = true
			}
		}
	}
	if err := conn.Err(); err != nil {
		t.Fatal(err)
	}
	return open
}

// Without a cgroup to read first, the processes running as an owner of a
// wanted socket are read before the others: a holder running as nobody is
// found before the 20 sleeps of lower pids.
func TestScanSameUIDNext(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	for range 20 {
		startSleep(t)
	}
	holder, ino := startHolderAs(t, &syscall.Credential{Uid: 65534, Gid: 65534})
	q := Query{Sockets: Want{ownNetns(t): {ino: true}}, UIDs: map[uint32]bool{65534: true}}
	res := Scan(context.Background(), "/proc", q, DefaultLimits, nil)
	if len(res.Procs) != 1 || res.Procs[0].PID != holder.Process.Pid || res.SameUID < 1 || res.Visited > res.SameUID+maxWorkers {
		t.Errorf("holders %+v, %d processes of uid 65534 of %d visited; want pid %d found among the first",
			res.Procs, res.SameUID, res.Visited, holder.Process.Pid)
	}
	q.UIDs = nil
	if res := Scan(context.Background(), "/proc", q, DefaultLimits, nil); res.SameUID != 0 || res.Visited < 20 {
		t.Errorf("without UIDs: %d first by uid, %d visited; want the sleeps visited first", res.SameUID, res.Visited)
	}
}
