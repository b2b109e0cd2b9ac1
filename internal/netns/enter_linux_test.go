// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// testNamespace is a named network namespace (ip netns add) for one test,
// removed at its end; it skips the test without root or ip.
func testNamespace(t *testing.T) *Namespace {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns add")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed")
	}
	name := fmt.Sprintf("tw-t-enter-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	path := filepath.Join("/run/netns", name)
	k, err := statNs(path)
	if err != nil {
		t.Fatal(err)
	}
	return &Namespace{key: k, label: name, name: name, named: path}
}

// visit enters n with procPath and returns the id of the thread fn ran on
// and the namespace that thread was in.
func visit(t *testing.T, procPath string, n *Namespace) (int, nsKey) {
	t.Helper()
	type seen struct {
		tid int
		in  nsKey
	}
	c := make(chan seen, 1)
	err := Enter(context.Background(), procPath, n, func(tid int) {
		in, _ := statNs(filepath.Join("/proc/self/task", strconv.Itoa(tid), "ns", "net"))
		c <- seen{tid, in}
	})
	if err != nil {
		t.Fatal(err)
	}
	s := <-c
	return s.tid, s.in
}

// threadsAllIn waits until every thread of this process is in namespace
// own, and fails the test if one stays elsewhere.
func threadsAllIn(t *testing.T, own nsKey) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		stray := ""
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			if k, err := statNs(filepath.Join("/proc/self/task", task.Name(), "ns", "net")); err == nil && k != own {
				stray += fmt.Sprintf(" tid %s in inode %d", task.Name(), k.ino)
			}
		}
		if stray == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads left in a foreign network namespace:%s", stray)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEnterReusesThreads: the threads that visit a namespace go back to
// the exporter's own afterwards and are reused, not one started per visit;
// none stays in the foreign namespace.
func TestEnterReusesThreads(t *testing.T) {
	n := testNamespace(t)
	own, err := statNs("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	const visits = 40
	tids := map[int]bool{}
	for range visits {
		tid, in := visit(t, "/proc", n)
		if in != n.key {
			t.Fatalf("fn ran in inode %d, not in %s (%d)", in.ino, n.label, n.key.ino)
		}
		tids[tid] = true
	}
	threadsAllIn(t, own)
	// A thread per visit would give 40 ids (Linux does not reuse them so
	// soon); the runtime has a handful of idle threads to lock instead.
	if len(tids) > visits/2 {
		t.Errorf("%d visits ran on %d threads: threads are not reused", visits, len(tids))
	}
}

// TestEnterThreadExitsAwayFromHome: without a way back to the own
// namespace (a procfs that does not show it), the thread that visited
// exits rather than serve other goroutines in the foreign namespace.
func TestEnterThreadExitsAwayFromHome(t *testing.T) {
	n := testNamespace(t)
	tid, _ := visit(t, t.TempDir(), n)
	task := filepath.Join("/proc/self/task", strconv.Itoa(tid))
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %d, which could not go back, still runs", tid)
		}
	}
}
