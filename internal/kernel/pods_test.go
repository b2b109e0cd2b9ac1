// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPodUIDFromCgroup(t *testing.T) {
	const (
		uid  = "5f2c9d3e-8a41-4b6e-9c0d-1a2b3c4d5e6f"
		us   = "5f2c9d3e_8a41_4b6e_9c0d_1a2b3c4d5e6f"
		cid  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		stat = "0123456789abcdef0123456789abcdef" // a static pod's UID: a hash, no dashes
	)
	for _, tc := range []struct {
		name, cgroup, want string
	}{
		{"v2 systemd burstable containerd", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + us + ".slice/cri-containerd-" + cid + ".scope\n", uid},
		{"v2 systemd besteffort crio", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + us + ".slice/crio-" + cid + ".scope\n", uid},
		{"v2 systemd guaranteed docker", "0::/kubepods.slice/kubepods-pod" + us + ".slice/docker-" + cid + ".scope\n", uid},
		{"v2 cgroupfs burstable", "0::/kubepods/burstable/pod" + uid + "/" + cid + "\n", uid},
		{"v2 cgroupfs guaranteed", "0::/kubepods/pod" + uid + "/" + cid + "\n", uid},
		{"v2 cgroupfs pause, no container", "0::/kubepods/besteffort/pod" + uid + "\n", uid},
		{"v2 upper-case UID", "0::/kubepods/pod5F2C9D3E-8A41-4B6E-9C0D-1A2B3C4D5E6F/" + cid + "\n", uid},
		{"v2 static pod", "0::/kubepods/burstable/pod" + stat + "/" + cid + "\n", stat},
		{"v2 kind node (nested)", "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + us + ".slice/cri-containerd-" + cid + ".scope\n", uid},
		{"v1 hybrid, pod in memory and name=systemd",
			"12:memory:/kubepods/burstable/pod" + uid + "/" + cid + "\n" +
				"1:name=systemd:/kubepods/burstable/pod" + uid + "/" + cid + "\n0::/\n", uid},
		{"v1 systemd driver", "4:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + us + ".slice/cri-containerd-" + cid + ".scope\n", uid},
		{"v1 pod only in a later line", "9:name=systemd:/\n4:cpu,cpuacct:/kubepods/pod" + uid + "/" + cid + "\n", uid},
		{"host process, v2", "0::/system.slice/containerd.service\n", ""},
		{"host process, v1", "1:name=systemd:/user.slice/user-0.slice/session-1.scope\n0::/\n", ""},
		{"kubepods QoS slice only", "0::/kubepods.slice/kubepods-burstable.slice\n", ""},
		{"pod segment not under kubepods", "0::/system.slice/pod" + uid + "\n", ""},
		{"not a UID", "0::/kubepods/burstable/podfoo/" + cid + "\n", ""},
		{"misplaced dashes", "0::/kubepods/pod5f2c9d3e8-a41-4b6e-9c0d-1a2b3c4d5e6f/x\n", ""},
		{"empty", "", ""},
		{"garbage", "no colons here\n::\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodUIDFromCgroup([]byte(tc.cgroup)); got != tc.want {
				t.Errorf("PodUIDFromCgroup(%q) = %q, want %q", tc.cgroup, got, tc.want)
			}
		})
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
