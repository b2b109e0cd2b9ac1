// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"bufio"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// cgroupMount returns the mount point of the first cgroup hierarchy of
// type fstype ("cgroup2", or "cgroup" with option opt), "" if none.
func cgroupMount(t *testing.T, fstype, opt string) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mountpoint ... - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(after) < 3 || after[0] != fstype {
			continue
		}
		if opt == "" || slices.Contains(strings.Split(after[2], ","), opt) {
			return fields[4]
		}
	}
	return ""
}

// placeInCgroup creates the cgroup rel under mount (every directory of
// the path) and moves pid into it. Cleanup moves pid back to the root and
// removes the directories, deepest first.
func placeInCgroup(t *testing.T, mount, rel string, pid int) {
	t.Helper()
	dirs := []string{}
	for p := rel; p != "." && p != "/"; p = filepath.Dir(p) {
		dirs = append(dirs, filepath.Join(mount, p))
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(mount, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
		for _, d := range dirs {
			_ = os.Remove(d) // fails while another test cgroup still uses a parent: that one removes it
		}
	})
	if err := os.MkdirAll(dirs[0], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirs[0], "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("move %d into %s: %v", pid, dirs[0], err)
	}
}

// TestNetnsPodAttribution holds namespaces by processes placed in cgroups
// shaped as the kubelet makes them (systemd and cgroupfs drivers, each QoS
// class, the runc driver-mismatch form, cgroup v2 and, where mounted, v1) and checks timewait_netns_info
// names each one's pod: the UID from the cgroup, the namespace and name
// from a /var/log/pods-shaped directory (which knows all pods but one).
func TestNetnsPodAttribution(t *testing.T) {
	f := newNetnsFixture(t)
	v2 := cgroupMount(t, "cgroup2", "")
	if v2 == "" {
		t.Skip("no cgroup2 mount")
	}
	root := fmt.Sprintf("tw-test-%05d", rand.IntN(100000))
	uid := func(i int) string { return fmt.Sprintf("%08x-1111-4222-8333-%012x", rand.Uint32(), i) }
	const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	type pod struct {
		mount, path string // the cgroup: path under mount, %s for the UID (underscored when systemd)
		uid         string
		ns, name    string // in the log dir; "" when not there
	}
	pods := []pod{
		{v2, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice/cri-containerd-" + cid + ".scope", uid(1), "shop", "cart-7d9f-x2x4z"},
		{v2, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/crio-" + cid + ".scope", uid(2), "kube-system", "coredns-1"},
		{v2, "kubepods.slice/kubepods-pod%s.slice/docker-" + cid + ".scope", uid(3), "db", "postgres-0"},
		{v2, "kubepods/burstable/pod%s/" + cid, uid(4), "shop", "checkout-1"},
		{v2, "kubepods/pod%s/" + cid, uid(5), "", ""}, // no log directory: the UID alone
		{v2, "system.slice/containerd.service/kubepods-besteffort-pod%s.slice:cri-containerd:" + cid, uid(7), "batch", "mismatch-0"},
		{v2, "system.slice/containerd.service", "", "", ""},
	}
	if v1 := cgroupMount(t, "cgroup", "name=systemd"); v1 != "" {
		pods = append(pods, pod{v1, "kubepods/besteffort/pod%s/" + cid, uid(6), "batch", "job-abc"})
	} else {
		t.Log("no cgroup v1 name=systemd hierarchy: v1 lines tested by the parser only")
	}
	logDir := t.TempDir()
	for _, p := range pods {
		if p.name != "" {
			if err := os.Mkdir(filepath.Join(logDir, p.ns+"_"+p.name+"_"+p.uid), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Noise the attribution must ignore: a file, a name of two parts.
	kreadtest.Write(t, filepath.Join(logDir, "notes_a_b"), []byte("x"))
	if err := os.Mkdir(filepath.Join(logDir, "two_parts"), 0o755); err != nil {
		t.Fatal(err)
	}

	pids := make([]int, len(pods))
	for i, p := range pods {
		pids[i] = f.holder("30")
		rel := p.path
		if strings.Contains(rel, "%s") {
			u := p.uid
			if strings.Contains(rel, ".slice") {
				u = strings.ReplaceAll(u, "-", "_")
			}
			rel = fmt.Sprintf(rel, u)
		}
		placeInCgroup(t, p.mount, filepath.Join(root, rel), pids[i])
	}

	cfg := config.Default()
	cfg.Netns.Include = f.filter.String()
	cfg.Netns.IncludeRE = f.filter
	e, err := New(Options{Options: scan.Options{Logger: slog.New(slog.DiscardHandler), ProcPath: "/proc",
		Netns: cfg.Netns, DiscoverNetns: true, PodLogDir: logDir}, Export: cfg.Export()})
	if err != nil {
		t.Fatal(err)
	}
	samples := nsGather(t, e)
	// The doctor's snapshots carry the same pods.
	snapPods := map[string]string{}
	for _, s := range e.Snapshots(withDeadline(t)) {
		snapPods[strings.Join(s.Labels, "/")] = s.Pod.UID + "/" + s.Pod.Namespace + "/" + s.Pod.Name
	}
	for i, p := range pods {
		info := nsFind(samples, "timewait_netns_info", map[string]string{"pid": strconv.Itoa(pids[i])})
		if len(info) != 1 {
			t.Fatalf("%s: %d info series for pid %d, want 1", p.path, len(info), pids[i])
		}
		got := info[0].labels
		if got["pod_uid"] != p.uid || got["pod_namespace"] != p.ns || got["pod_name"] != p.name {
			t.Errorf("%s: info labels %v, want pod_uid=%q pod_namespace=%q pod_name=%q", p.path, got, p.uid, p.ns, p.name)
		}
		if sp, want := snapPods[got["netns"]], p.uid+"/"+p.ns+"/"+p.name; sp != want {
			t.Errorf("%s: snapshot pod %q, want %q", p.path, sp, want)
		}
	}
	// One info series per namespace: the fixture's and the own one.
	if n := len(nsFind(samples, "timewait_netns_info", nil)); n != len(pods)+1 {
		t.Errorf("%d info series, want %d", n, len(pods)+1)
	}
}
