// SPDX-License-Identifier: Apache-2.0

package owners

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"golang.org/x/sys/unix"
)

// The likely holders of a socket are the processes of the cgroup it was
// created in. sock_diag names it (INET_DIAG_CGROUP_ID): cgroup_sk_alloc
// (kernel/cgroup/cgroup.c) records the creating task's cgroup v2 in the
// socket, and its id is the inode number of the cgroup's directory in
// every cgroup2 mount (kernfs_node's id; one hierarchy per kernel, so
// every mount shows the same numbers; on a 64-bit kernel, where
// kernfs_id_ino is the whole id: a 32-bit kernel keeps a generation in the
// upper half, no directory matches, and the scan reads on as without
// hints: every process, or until each wanted socket has a holder). The
// processes of a cgroup are in its cgroup.procs.
//
// Finding them by walking the hierarchy costs a directory read per cgroup
// and a cgroup.procs read per wanted one, whatever the number of
// processes; the other way, reading /proc/<pid>/cgroup and stat'ing the
// path it names, costs an open, a read and a stat per process of the
// host. A host has fewer cgroups than processes, so the walk it is:
// BenchmarkCgroupPIDs, 100 cgroups of 20 processes (2,100 processes in
// all), measured 0.19 ms for the walk and 15.9 ms the other way.

// cgroup2Mounts returns the directories where the cgroup2 hierarchy can
// be seen, best first: the host's, seen through the root of procPath's
// pid 1 (the exporter may run in a mount namespace without one, as under
// `ip netns exec`, which mounts its own /sys, or in a container that
// mounted only its own cgroup namespace's part), then the own mount
// namespace's. Any mount will do, since the ids are the hierarchy's: one
// of a part of it finds the cgroups in that part.
func cgroup2Mounts(procPath string) []string {
	var dirs []string
	for _, m := range cgroup2MountPoints(filepath.Join(procPath, "1", "mountinfo")) {
		dirs = append(dirs, filepath.Join(procPath, "1", "root", m))
	}
	return append(dirs, cgroup2MountPoints(filepath.Join(procPath, "self", "mountinfo"))...)
}

// cgroup2MountPoints returns the mount points of the cgroup2 mounts
// listed in the mountinfo file at path (proc(5)):
// "36 35 98:0 /root /mnt rw,noatime master:1 - cgroup2 cgroup2 rw".
func cgroup2MountPoints(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, fsType := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(fsType) > 0 && fsType[0] == "cgroup2" {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupPIDs returns the processes of the cgroups whose ids are in ids,
// from the cgroup2 mounts in view, walked in turn until each id is found;
// nil when ids is empty, no mount is readable or procPath is another pid
// namespace's (the scan then reads on as without hints). An id found in none (a cgroup outside
// the part a container sees, or removed) adds no process.
func cgroupPIDs(ctx context.Context, procPath string, ids map[uint64]bool) map[int]bool {
	if len(ids) == 0 || !ownPidNamespace(procPath) {
		return nil
	}
	var pids map[int]bool
	found := map[uint64]bool{}
	for _, root := range cgroup2Mounts(procPath) {
		var st unix.Stat_t
		if _, err := kread.IgnoringEINTR(func() (int, error) { return 0, unix.Stat(root, &st) }); err != nil {
			continue
		}
		if pids == nil {
			pids = map[int]bool{}
		}
		walkCgroups(ctx, root, st.Ino, ids, found, pids)
		if len(found) == len(ids) || ctx.Err() != nil {
			break
		}
	}
	return pids
}

// ownPidNamespace reports whether procPath numbers processes as this
// process's pid namespace does, in which cgroup.procs lists them
// (cgroup_procs_show prints task_pid_vnr, the reader's view): not so for a
// host's procfs read from a container of its own pid namespace
// (--path.procfs=/host/proc without hostPID), whose "self" is this
// process's pid on the host. A procPath without a "self" link to a pid (a
// copy in a test) counts as the own.
func ownPidNamespace(procPath string) bool {
	self, err := os.Readlink(filepath.Join(procPath, "self"))
	if err != nil {
		return true
	}
	pid, err := strconv.Atoi(self)
	return err != nil || pid == os.Getpid()
}

// walkCgroups adds to pids the processes of the cgroups under dir (dir
// included, its id ino) whose ids are in ids and not yet in found, and
// adds those to found. A directory's inode number is its id; the entries
// of its parent (getdents' d_ino) carry it, so no stat is needed below
// the root. It stops at ctx's end: a host of many thousand cgroups
// takes milliseconds, and the scan's deadline bounds it too.
func walkCgroups(ctx context.Context, dir string, ino uint64, ids, found map[uint64]bool, pids map[int]bool) {
	if len(found) == len(ids) || ctx.Err() != nil {
		return
	}
	if ids[ino] && !found[ino] {
		found[ino] = true
		addProcs(filepath.Join(dir, "cgroup.procs"), pids)
	}
	for _, sub := range subdirs(dir) {
		walkCgroups(ctx, filepath.Join(dir, sub.name), sub.ino, ids, found, pids)
	}
}

type dirent struct {
	name string
	ino  uint64
}

// subdirs returns the directories in dir with their inode numbers, from
// the raw getdents64 records (linux_dirent64: d_ino, d_off, d_reclen,
// d_type, d_name), which os.ReadDir does not expose.
func subdirs(dir string) []dirent {
	fd, err := kread.IgnoringEINTR(func() (int, error) {
		return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var out []dirent
	buf := make([]byte, 8<<10)
	for {
		n, err := kread.IgnoringEINTR(func() (int, error) { return unix.Getdents(fd, buf) })
		if err != nil || n <= 0 {
			return out
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return out
			}
			name, _, _ := bytes.Cut(b[19:reclen], []byte{0})
			if b[18] == unix.DT_DIR && string(name) != "." && string(name) != ".." {
				out = append(out, dirent{name: string(name), ino: binary.NativeEndian.Uint64(b)})
			}
			b = b[reclen:]
		}
	}
}

// addProcs adds the pids listed in a cgroup.procs file to pids.
func addProcs(path string, pids map[int]bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids[pid] = true
		}
	}
}
