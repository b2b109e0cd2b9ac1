// SPDX-License-Identifier: Apache-2.0

package owners

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSocketInode(t *testing.T) {
	for _, tc := range []struct {
		link string
		ino  uint32
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[4294967295]", 4294967295, true},
		{"socket:[4294967296]", 0, false}, // above 32 bits: not what sock_diag reports
		{"socket:[]", 0, false},
		{"socket:[12a]", 0, false},
		{"socket:[123", 0, false},
		{"pipe:[12345]", 0, false},
		{"anon_inode:[eventpoll]", 0, false},
		{"/dev/null", 0, false},
		{"", 0, false},
	} {
		ino, ok := socketInode([]byte(tc.link))
		if ino != tc.ino || ok != tc.ok {
			t.Errorf("socketInode(%q) = %d, %v; want %d, %v", tc.link, ino, ok, tc.ino, tc.ok)
		}
	}
}

// startHolder starts a sleep process holding a connected TCP socket, which
// this process then closes, and returns it with the socket's inode.
func startHolder(t *testing.T) (*exec.Cmd, uint32) {
	t.Helper()
	return startHolderAs(t, nil)
}

// startHolderAs is startHolder with the process running as cred (nil: as
// this one).
func startHolderAs(t *testing.T, cred *syscall.Credential) (*exec.Cmd, uint32) {
	t.Helper()
	return startHolderFDs(t, cred, 1)
}

// startHolderFDs is startHolderAs with the socket at fds descriptors of
// the process (dup'd, as inetd hands a connection over as stdin and
// stdout).
func startHolderFDs(t *testing.T, cred *syscall.Credential, fds int) (*exec.Cmd, uint32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	for range fds {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, uint32(st.Ino)
}

func ownNetns(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A real process holding a socket is found with its pid, comm, cmdline
// and cgroup, and only in the namespace asked about.
func TestScanRealProcess(t *testing.T) {
	cmd, ino := startHolder(t)
	netns := ownNetns(t)
	wrapped := false
	identify := func(fn func()) { wrapped = true; fn() }
	res := Scan(context.Background(), "/proc", Query{Sockets: Want{netns: {ino: true, 1: true}}}, DefaultLimits, identify)
	if !wrapped {
		t.Error("the holders were not identified through the caller's function")
	}
	if res.Stopped != "" || res.PIDs < 2 || res.FDs < 1 {
		t.Fatalf("scan stopped %q after %d processes, %d descriptors", res.Stopped, res.PIDs, res.FDs)
	}
	if len(res.Procs) != 1 {
		t.Fatalf("found %d holders, want 1: %+v", len(res.Procs), res.Procs)
	}
	p := res.Procs[0]
	if p.PID != cmd.Process.Pid || p.Comm != "sleep" || p.Cmdline != "sleep 60" || !slices.Equal(p.Sockets, []uint32{ino}) {
		t.Errorf("holder %+v, want pid %d, comm sleep, cmdline \"sleep 60\", socket %d", p, cmd.Process.Pid, ino)
	}
	own, _ := os.ReadFile("/proc/self/cgroup") // the child inherited it
	if p.Cgroup != string(own) {
		t.Errorf("cgroup %q, want %q", p.Cgroup, own)
	}
	other := Scan(context.Background(), "/proc", Query{Sockets: Want{netns + 1: {ino: true}}}, DefaultLimits, nil)
	if len(other.Procs) != 0 || other.PIDs != 0 {
		t.Errorf("another namespace's scan read %d processes, found %+v", other.PIDs, other.Procs)
	}
}

// A socket a process holds at two descriptors is one socket it holds:
// the doctor counts each holder's live sockets.
func TestScanDupDescriptors(t *testing.T) {
	cmd, ino := startHolderFDs(t, nil, 2)
	res := Scan(context.Background(), "/proc", Query{Sockets: Want{ownNetns(t): {ino: true}}}, DefaultLimits, nil)
	if len(res.Procs) != 1 {
		t.Fatalf("%d holders, want 1", len(res.Procs))
	}
	if p := res.Procs[0]; p.PID != cmd.Process.Pid || !slices.Equal(p.Sockets, []uint32{ino}) {
		t.Errorf("pid %d holds %v, want pid %d holding socket %d once", p.PID, p.Sockets, cmd.Process.Pid, ino)
	}
}

// Processes that are gone, pids reused, entries that are no process:
// skipped, never an error; the caps and the deadline stop the scan and
// say so.
func TestScanSkipsAndStops(t *testing.T) {
	alive, ino := startHolder(t)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	proc := t.TempDir()
	link := func(name, target string) {
		if err := os.Symlink(target, filepath.Join(proc, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("100", "/proc/"+strconv.Itoa(alive.Process.Pid))
	link("101", "/proc/"+strconv.Itoa(gone.Process.Pid)) // exited
	link("self", "/proc/self")
	if err := os.WriteFile(filepath.Join(proc, "102"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	want := Want{ownNetns(t): {ino: true}}
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		lim     Limits
		found   int
		stopped string
	}{
		{"all", context.Background(), DefaultLimits, 1, ""},
		{"process cap", context.Background(), Limits{MaxPIDs: 0, MaxFDs: 10}, 0, StoppedPIDCap},
		{"descriptor cap", context.Background(), Limits{MaxPIDs: 10, MaxFDs: 0}, 0, StoppedFDCap},
		{"deadline", expired, DefaultLimits, 0, StoppedDeadline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Scan(tc.ctx, proc, Query{Sockets: want}, tc.lim, nil)
			if len(res.Procs) != tc.found || res.Stopped != tc.stopped || res.Denied != 0 {
				t.Errorf("found %d, stopped %q, denied %d; want %d, %q, 0", len(res.Procs), res.Stopped, res.Denied, tc.found, tc.stopped)
			}
			if tc.found == 1 && res.Procs[0].PID != 100 {
				t.Errorf("found pid %d, want 100 (the entry's name)", res.Procs[0].PID)
			}
		})
	}
	// A socket no process holds keeps the walk going to the last entry:
	// nothing is left unread, though two entries were no process to visit.
	never := Want{ownNetns(t): {ino: true, 1: true}}
	if res := Scan(context.Background(), proc, Query{Sockets: never}, DefaultLimits, nil); res.Unread != 0 || res.Visited != 1 || res.Listed != 3 || res.AllFound {
		t.Errorf("a full walk: %d unread, %d of %d visited, all found %v; want 0 unread, 1 of 3 visited", res.Unread, res.Visited, res.Listed, res.AllFound)
	}
	if res := Scan(context.Background(), filepath.Join(proc, "none"), Query{Sockets: want}, DefaultLimits, nil); res.Stopped == "" {
		t.Error("a missing procfs must say the scan did not run")
	}
}

// helperEnv makes the test binary scan as TestMain's helper and print the
// result: the scan without CAP_SYS_PTRACE, as another user.
const helperEnv = "OWNERS_TEST_SCAN"

func TestMain(m *testing.M) {
	if dir := os.Getenv(cgroupHelperEnv); dir != "" {
		os.Exit(cgroupPIDsHelper(dir))
	}
	if spec := os.Getenv(helperEnv); spec != "" {
		var want Want
		if err := json.Unmarshal([]byte(spec), &want); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_ = json.NewEncoder(os.Stdout).Encode(Scan(context.Background(), "/proc", Query{Sockets: want}, DefaultLimits, nil))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Without CAP_SYS_PTRACE, another user's processes are counted as denied,
// not found and not an error.
func TestScanWithoutPtrace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the scan as another user")
	}
	_, ino := startHolder(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "owners-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "owners.test")
	copyFile(t, self, bin)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(Want{ownNetns(t): {ino: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+string(spec))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scan as nobody: %v", err)
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Procs) != 0 || res.Denied == 0 {
		t.Errorf("as nobody: found %+v, denied %d; want nothing found and root's processes denied", res.Procs, res.Denied)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
