// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// attributePods sets the pod of each namespace in nss whose lowest
// readable holder runs in a kubelet pod cgroup, and names it from the pod
// log directories under logDir ("" reads none). Only the lowest pid is
// read: every process of a pod's namespace is in that pod's cgroup, while
// a namespace holding other processes too (the host's, with hostNetwork
// pods in it) is no pod's, and its lowest pid (init) says so.
func attributePods(procPath, logDir string, nss []*Namespace) {
	found := false
	for _, n := range nss {
		for _, pid := range n.pids {
			b, err := os.ReadFile(filepath.Join(procPath, strconv.Itoa(pid), "cgroup"))
			if err != nil {
				continue // exited: the next one
			}
			n.pod = Pod{UID: PodUIDFromCgroup(b)}
			found = found || n.pod.UID != ""
			break
		}
	}
	if !found || logDir == "" {
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
// docker-<id>.scope, or <id>) is not needed.
func PodUIDFromCgroup(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if _, path, ok := strings.Cut(rest, ":"); ok {
			if uid := podUIDFromPath(path); uid != "" {
				return uid
			}
		}
	}
	return ""
}

func podUIDFromPath(path string) string {
	underKubepods := false
	for seg := range strings.SplitSeq(path, "/") {
		if s, ok := strings.CutSuffix(seg, ".slice"); ok && strings.Contains(s, "kubepods") {
			// kubelet-kubepods-…: a kubelet with --cgroup-root (kind)
			if _, uid, ok := strings.Cut(s[strings.Index(s, "kubepods"):], "-pod"); ok {
				return normalizeUID(strings.ReplaceAll(uid, "_", "-"))
			}
			underKubepods = true
			continue
		}
		if seg == "kubepods" {
			underKubepods = true
			continue
		}
		if uid, ok := strings.CutPrefix(seg, "pod"); ok && underKubepods {
			return normalizeUID(uid)
		}
	}
	return ""
}

// normalizeUID returns uid in its dashed form (8-4-4-4-12 lower-case hex)
// if it is one, dashed or not (static pods' UIDs are 32 hex digits), and
// "" otherwise.
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
