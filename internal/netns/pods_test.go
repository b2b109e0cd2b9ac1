// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testUID  = "5f2c9d3e-8a41-4b6e-9c0d-1a2b3c4d5e6f"
	testUIDu = "5f2c9d3e_8a41_4b6e_9c0d_1a2b3c4d5e6f"
	testCID  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testStat = "0123456789abcdef0123456789abcdef" // a static pod's UID: a hash, no dashes
)

// cgroupLayouts are the cgroup paths of a container as the host sees them,
// with the pod UID each names ("" for none). hostOnly marks paths no
// kubelet or runtime makes that, relative to a root deep enough, read like
// a pod's (../../pod<uid>): the reason the host's view is read first.
var cgroupLayouts = []struct {
	name, path, uid string
	hostOnly        bool
}{
	{"systemd burstable containerd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testUIDu + ".slice/cri-containerd-" + testCID + ".scope", testUID, false},
	{"systemd besteffort crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + testUIDu + ".slice/crio-" + testCID + ".scope", testUID, false},
	{"systemd guaranteed docker", "/kubepods.slice/kubepods-pod" + testUIDu + ".slice/docker-" + testCID + ".scope", testUID, false},
	{"systemd static pod", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testStat + ".slice/cri-containerd-" + testCID + ".scope", testStat, false},
	{"systemd pod slice, no container", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + testUIDu + ".slice", testUID, false},
	{"cgroupfs burstable", "/kubepods/burstable/pod" + testUID + "/" + testCID, testUID, false},
	{"cgroupfs besteffort", "/kubepods/besteffort/pod" + testUID + "/" + testCID, testUID, false},
	{"cgroupfs guaranteed", "/kubepods/pod" + testUID + "/" + testCID, testUID, false},
	{"cgroupfs pause, no container", "/kubepods/besteffort/pod" + testUID, testUID, false},
	{"cgroupfs static pod", "/kubepods/burstable/pod" + testStat + "/" + testCID, testStat, false},
	{"cgroupfs upper-case UID", "/kubepods/pod5F2C9D3E-8A41-4B6E-9C0D-1A2B3C4D5E6F/" + testCID, testUID, false},
	{"kind node (nested)", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + testUIDu + ".slice/cri-containerd-" + testCID + ".scope", testUID, false},
	{"driver mismatch containerd", "/system.slice/containerd.service/kubepods-besteffort-pod" + testUIDu + ".slice:cri-containerd:" + testCID, testUID, false},
	{"driver mismatch static guaranteed", "/system.slice/containerd.service/kubepods-pod" + testStat + ".slice:cri-containerd:" + testCID, testStat, false},
	{"docker cgroupfs", "/docker/" + testCID, "", false},
	{"docker systemd", "/system.slice/docker-" + testCID + ".scope", "", false},
	{"podman", "/machine.slice/libpod-" + testCID + ".scope", "", false},
	{"podman pod", "/machine.slice/machine-libpod_pod_" + testCID + ".slice/libpod-" + testCID + ".scope", "", false},
	{"systemd service", "/system.slice/containerd.service", "", false},
	{"user session", "/user.slice/user-0.slice/session-1.scope", "", false},
	{"containerd k8s.io, no pod", "/k8s.io/" + testCID, "", false},
	{"kubepods QoS slice only", "/kubepods.slice/kubepods-burstable.slice", "", false},
	{"pod segment not under kubepods", "/system.slice/pod" + testUID, "", true},
	{"besteffort outside kubepods", "/besteffort/pod" + testUID, "", true},
	{"not a UID", "/kubepods/burstable/podfoo/" + testCID, "", false},
	{"misplaced dashes", "/kubepods/pod5f2c9d3e8-a41-4b6e-9c0d-1a2b3c4d5e6f/x", "", false},
	{"root", "/", "", false},
}

func TestPodUIDFromCgroup(t *testing.T) {
	for _, l := range cgroupLayouts {
		t.Run("v2 "+l.name, func(t *testing.T) {
			assertPodUID(t, "0::"+l.path+"\n", l.uid)
		})
		t.Run("v1 "+l.name, func(t *testing.T) {
			assertPodUID(t, "12:pids:"+l.path+"\n4:memory:"+l.path+"\n1:name=systemd:"+l.path+"\n0::/\n", l.uid)
		})
	}
	for _, tc := range []struct{ name, cgroup, want string }{
		{"v1 pod only in a later line", "9:name=systemd:/\n4:cpu,cpuacct:/kubepods/pod" + testUID + "/" + testCID + "\n", testUID},
		{"empty", "", ""},
		{"garbage", "no colons here\n::\n", ""},
		{"a line without a path", "0:\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { assertPodUID(t, tc.cgroup, tc.want) })
	}
}

// TestPodUIDFromCgroupNamespace reads every layout as a process in its
// own cgroup namespace rooted at a container of another pod sees it: the
// path relative to that root, as the kernel writes it (cgroup_path_ns).
func TestPodUIDFromCgroupNamespace(t *testing.T) {
	const other = "0a1b2c3d-4e5f-4a6b-8c7d-9e8f7a6b5c4d"
	otherU := strings.ReplaceAll(other, "-", "_")
	viewers := []string{
		"/kubepods/besteffort/pod" + other + "/" + testCID,
		"/kubepods/burstable/pod" + other,
		"/kubepods/pod" + other + "/" + testCID,
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + otherU + ".slice/cri-containerd-" + testCID + ".scope",
		"/kubepods.slice/kubepods-pod" + otherU + ".slice/cri-containerd-" + testCID + ".scope",
		"/system.slice/containerd.service/kubepods-besteffort-pod" + otherU + ".slice:cri-containerd:" + testCID,
	}
	for _, root := range viewers {
		for _, l := range cgroupLayouts {
			if l.hostOnly {
				continue
			}
			rel, err := filepath.Rel(root, l.path)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("/", rel)
			if strings.HasPrefix(rel, "..") {
				path = "/" + rel // Join would clean the ".." away
			}
			t.Run(root+" "+l.name, func(t *testing.T) {
				assertPodUID(t, "0::"+path+"\n", l.uid)
				assertPodUID(t, "4:memory:"+path+"\n0::/\n", l.uid)
			})
		}
	}
	// Below the root (the viewer a QoS or kubepods cgroup, no container):
	// no ".." and no kubepods segment, so not read as a pod.
	assertPodUID(t, "0::/pod"+testUID+"/"+testCID+"\n", "")
}

func assertPodUID(t *testing.T, cgroup, want string) {
	t.Helper()
	if got := PodUIDFromCgroup([]byte(cgroup)); got != want {
		t.Errorf("PodUIDFromCgroup(%q) = %q, want %q", cgroup, got, want)
	}
}

func TestPodLogNames(t *testing.T) {
	dir := t.TempDir()
	const uid = "5f2c9d3e-8a41-4b6e-9c0d-1a2b3c4d5e6f"
	for _, d := range []string{"shop_cart-1_" + uid, "a_b", "x_y_notauid", "a_b_c_" + uid} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := podLogNames(dir)
	if len(got) != 1 || got[uid] != (Pod{UID: uid, Namespace: "shop", Name: "cart-1"}) {
		t.Errorf("podLogNames = %v, want only %s as shop/cart-1", got, uid)
	}
	if got := podLogNames(filepath.Join(dir, "missing")); len(got) != 0 {
		t.Errorf("missing dir: %v, want none", got)
	}
}

// FuzzPodUIDFromCgroup: never panics, and a UID it returns is a
// normalized one whose hex digits are in the input.
func FuzzPodUIDFromCgroup(f *testing.F) {
	for _, l := range cgroupLayouts {
		f.Add([]byte("0::" + l.path + "\n"))
		f.Add([]byte("4:memory:/../.." + l.path + "\n0::/\n"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		uid := PodUIDFromCgroup(data)
		if uid == "" {
			return
		}
		if normalizeUID(uid) != uid {
			t.Fatalf("UID %q is not normalized", uid)
		}
		hex := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(string(data)))
		if !strings.Contains(hex, strings.ReplaceAll(uid, "-", "")) {
			t.Fatalf("UID %q not in %q", uid, data)
		}
	})
}

// The container of every pod layout is read from the same path.
func TestCgroupPodContainer(t *testing.T) {
	for _, l := range cgroupLayouts {
		if l.uid == "" || l.hostOnly {
			continue
		}
		want := testCID
		if strings.Contains(l.name, "no container") {
			want = ""
		}
		uid, container := CgroupPod([]byte("0::" + l.path + "\n"))
		if uid != l.uid || container != want {
			t.Errorf("%s: CgroupPod = %q, %q; want %q, %q", l.name, uid, container, l.uid, want)
		}
	}
}
