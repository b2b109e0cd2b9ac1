// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultPodLogDir is where the kubelet keeps one directory per pod,
// named <namespace>_<name>_<uid> (--netns.pod-log-dir).
const DefaultPodLogDir = "/var/log/pods"

// Pod is the Kubernetes pod a network namespace belongs to, as the node
// shows it without API credentials: the UID from the cgroup path of the
// namespace's processes, and its namespace and name from the kubelet's
// pod log directories. Empty fields are unknown.
type Pod struct {
	UID, Namespace, Name string
}

// Pod is the pod namespace n belongs to, the zero Pod if none was found.
func (n *Namespace) Pod() Pod { return n.pod }

// String names p for people: "pod <namespace>/<name>", "pod uid <uid>"
// when only the UID is known, "" for no pod.
func (p Pod) String() string {
	switch {
	case p.Name != "":
		return "pod " + p.Namespace + "/" + p.Name
	case p.UID != "":
		return "pod uid " + p.UID
	}
	return ""
}

// readPodUIDs sets the pod UID of each namespace in nss whose lowest
// readable holder runs in a kubelet pod cgroup, read as the host sees it
// where possible (inHostCgroupns). Only the lowest pid is read: every
// process of a pod's namespace is in that pod's cgroup, while a namespace
// holding other processes too (the host's, with hostNetwork pods in it) is
// no pod's, and its lowest pid (init) says so.
func readPodUIDs(procPath string, nss []*Namespace) {
	inHostCgroupns(procPath, func() {
		for _, n := range nss {
			for _, pid := range n.pids {
				b, err := os.ReadFile(filepath.Join(procPath, strconv.Itoa(pid), "cgroup"))
				if err != nil {
					continue // exited: the next one
				}
				n.pod = Pod{UID: PodUIDFromCgroup(b)}
				break
			}
		}
	})
}

// inHostCgroupns runs fn, and waits for it, on a thread in the host's
// cgroup namespace (hostNs): /proc/<pid>/cgroup shows paths relative
// to the cgroup namespace of the task that reads it (proc_cgroup_show
// calls cgroup_path_ns_locked with current's), and from the host's the
// kubelet's pod cgroups are whole. In a container with a cgroup namespace
// of its own (the default on cgroup v2) the paths of other pods start
// with "..". fn runs on the calling thread when the exporter is in the
// host's cgroup namespace already or cannot tell (without hostPID there is
// no host process to enter by); when setns fails (it needs CAP_SYS_ADMIN),
// on the new thread in the exporter's own view. PodUIDFromCgroup reads the
// relative paths too.
func inHostCgroupns(procPath string, fn func()) {
	host, hostKey, errHost := hostNs(procPath, "cgroup")
	own, errOwn := statNs(filepath.Join(procPath, "self", "ns", "cgroup"))
	if errHost != nil || errOwn != nil || own == hostKey {
		fn()
		return
	}
	done := make(chan struct{})
	onThrowawayThread(func() {
		defer close(done)
		if fd, err := unix.Open(host, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			_ = unix.Setns(fd, unix.CLONE_NEWCGROUP) // on failure fn reads the own view
			unix.Close(fd)
		}
		fn()
	})
	<-done
}

// namePods names the pods of nss (their UIDs read) from the pod log
// directories under logDir ("" reads none).
func namePods(logDir string, nss []*Namespace) {
	if logDir == "" || !slices.ContainsFunc(nss, func(n *Namespace) bool { return n.pod.UID != "" }) {
		return
	}
	names := podLogNames(logDir)
	for _, n := range nss {
		if p, ok := names[n.pod.UID]; ok && n.pod.UID != "" {
			n.pod.Namespace, n.pod.Name = p.Namespace, p.Name
		}
	}
}

// podLogNames maps pod UIDs to their pods from the entries of dir, each
// <namespace>_<name>_<uid>: neither a namespace (a DNS label) nor a pod
// name (a DNS subdomain) can contain "_". A missing or unreadable dir maps
// nothing.
func podLogNames(dir string) map[string]Pod {
	entries, _ := os.ReadDir(dir)
	m := make(map[string]Pod, len(entries))
	for _, de := range entries {
		parts := strings.Split(de.Name(), "_")
		if len(parts) != 3 || !de.IsDir() {
			continue
		}
		if uid := normalizeUID(parts[2]); uid != "" {
			m[uid] = Pod{UID: uid, Namespace: parts[0], Name: parts[1]}
		}
	}
	return m
}

// PodUIDFromCgroup returns the pod UID in the contents of a
// /proc/<pid>/cgroup file, "" if the process is in no kubelet pod cgroup.
// Lines are hierarchy-ID:controllers:path, cgroup v1 and v2 (0::path)
// alike. The kubelet's pod cgroup is a path segment
//
//	[<root>-]kubepods[-<qos>]-pod<uid with _ for ->.slice  (systemd driver)
//	pod<uid>, below a kubepods segment           (cgroupfs driver)
//
// with qos burstable or besteffort, and none for guaranteed pods. The
// container's scope or directory below it (cri-containerd-, crio-,
// docker-<id>.scope, or <id>) is not needed. Two more forms are pods too:
//
//   - <pod slice>:<prefix>:<id>, the systemd cgroupsPath that a runtime on
//     the cgroupfs driver took for a directory name (kubelet and runtime
//     disagree on the driver), under the runtime's own cgroup;
//   - a path read from inside a cgroup namespace, relative to its root
//     (the reader's own container): ../[qos/]pod<uid>/<id>, where the
//     kubepods segment lies above the root, so pod<uid> counts when only
//     ".." and QoS segments come before it.
func PodUIDFromCgroup(b []byte) string {
	uid, _ := CgroupPod(b)
	return uid
}

// CgroupPod is PodUIDFromCgroup with the ID of the pod's container the
// process runs in: the segment below the pod's (cri-containerd-<id>.scope,
// crio-<id>.scope, docker-<id>.scope or <id>), or the <id> tail of the
// driver-mismatch form; "" when the process is in the pod's cgroup itself.
func CgroupPod(b []byte) (uid, container string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if _, path, ok := strings.Cut(rest, ":"); ok {
			if uid, container := podFromPath(path); uid != "" {
				return uid, container
			}
		}
	}
	return "", ""
}

func podFromPath(path string) (uid, container string) {
	underKubepods := false // a kubepods segment came before
	aboveRoot := false     // only ".." (at least one) and QoS segments came before
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, seg := range segs {
		if uid, tail, ok := podUIDFromSlice(seg); ok {
			if uid != "" {
				return uid, containerID(tail, segs[i+1:])
			}
			underKubepods = true
			continue
		}
		switch seg {
		case "kubepods":
			underKubepods = true
			continue
		case "..":
			aboveRoot = true
			continue
		case "burstable", "besteffort":
			continue
		}
		if uid, ok := strings.CutPrefix(seg, "pod"); ok && (underKubepods || aboveRoot) {
			return normalizeUID(uid), containerID("", segs[i+1:])
		}
		aboveRoot = false
	}
	return "", ""
}

// containerID is the container of a pod's cgroup: the ":<prefix>:<id>"
// tail of the pod's segment, else the segment below it, without the
// runtime's prefix and ".scope".
func containerID(tail string, below []string) string {
	if _, id, ok := strings.Cut(tail, ":"); ok {
		return id
	}
	if len(below) == 0 {
		return ""
	}
	id := strings.TrimSuffix(below[0], ".scope")
	return id[strings.LastIndex(id, "-")+1:]
}

// podUIDFromSlice reads a systemd driver's segment: ok if seg is a
// kubepods slice (with a ":<prefix>:<id>" tail in the driver-mismatch
// form, returned in tail), with the pod's UID if it is a pod's.
func podUIDFromSlice(seg string) (uid, tail string, ok bool) {
	name, tail, _ := strings.Cut(seg, ":")
	s, ok := strings.CutSuffix(name, ".slice")
	i := strings.Index(s, "kubepods")
	if !ok || i < 0 {
		return "", "", false
	}
	// kubelet-kubepods-…: a kubelet with --cgroup-root (kind)
	if _, u, found := strings.Cut(s[i:], "-pod"); found {
		return normalizeUID(strings.ReplaceAll(u, "_", "-")), tail, true
	}
	return "", "", true
}

// normalizeUID returns uid in lower case if it is a pod UID: 8-4-4-4-12
// hex digits with dashes, or 32 without (static pods' UIDs, a hash, which
// stay so), and "" otherwise.
func normalizeUID(uid string) string {
	hex := strings.ToLower(strings.ReplaceAll(uid, "-", ""))
	if len(hex) != 32 || strings.Trim(hex, "0123456789abcdef") != "" {
		return ""
	}
	if strings.Contains(uid, "-") {
		if len(uid) != 36 || uid[8] != '-' || uid[13] != '-' || uid[18] != '-' || uid[23] != '-' {
			return ""
		}
		return strings.ToLower(uid)
	}
	return hex
}
