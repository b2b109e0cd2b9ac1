// SPDX-License-Identifier: Apache-2.0

package netns

import "path/filepath"

// What the doctor's owner lookup (package scan) needs to name the pods of
// processes as discovery names those of namespaces.

// InHostCgroupns runs fn, and waits for it, on a thread in the host's
// cgroup namespace where it can enter it (see inHostCgroupns), so that
// /proc/<pid>/cgroup shows whole paths.
func InHostCgroupns(procPath string, fn func()) { inHostCgroupns(procPath, fn) }

// PodNames maps pod UIDs to their pods from the kubelet's pod directories
// under dir (see podLogNames).
func PodNames(dir string) map[string]Pod { return podLogNames(dir) }

// OwnInode is the inode of the network namespace of the process reading
// procPath, 0 if it cannot be read.
func OwnInode(procPath string) uint64 {
	k, err := statNs(filepath.Join(procPath, "self", "ns", "net"))
	if err != nil {
		return 0
	}
	return k.ino
}
