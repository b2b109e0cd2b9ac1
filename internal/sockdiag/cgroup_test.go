// SPDX-License-Identifier: Apache-2.0

//go:build linux

package sockdiag

import (
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestCgroupID(t *testing.T) {
	attr := func(typ uint16, val []byte) []byte {
		b := make([]byte, nlmsgAlign(uint32(4+len(val))))
		binary.NativeEndian.PutUint16(b[0:], uint16(4+len(val)))
		binary.NativeEndian.PutUint16(b[2:], typ)
		copy(b[4:], val)
		return b
	}
	id := binary.NativeEndian.AppendUint64(nil, 0x1_0000_2a2a)
	for _, tc := range []struct {
		name  string
		attrs []byte
		want  uint64
	}{
		{"none (a TIME_WAIT socket)", nil, 0},
		{"alone", attr(inetDiagCgroupID, id), 0x1_0000_2a2a},
		{"after an unaligned attribute (INET_DIAG_SHUTDOWN, 1 byte)", cat(attr(8, []byte{3}), attr(inetDiagCgroupID, id)), 0x1_0000_2a2a},
		{"wrong length ignored", attr(inetDiagCgroupID, id[:4]), 0},
		{"other attributes only", cat(attr(8, []byte{0}), attr(5, []byte{1, 2})), 0},
		{"length past the end", cat(attr(8, []byte{0}), []byte{0xff, 0, inetDiagCgroupID, 0}), 0},
		{"length below the header", []byte{2, 0, inetDiagCgroupID, 0, 1, 1, 1, 1}, 0},
		{"truncated header", []byte{12, 0}, 0},
	} {
		if got := cgroupID(tc.attrs); got != tc.want {
			t.Errorf("%s: cgroupID = %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// ownCgroupID is the inode of this process's cgroup v2 directory, 0
// (with a log) where no cgroup2 mount shows it.
func ownCgroupID(t *testing.T) uint64 {
	mounts, err1 := os.ReadFile("/proc/self/mountinfo")
	own, err2 := os.ReadFile("/proc/self/cgroup")
	root, path := "", ""
	for _, l := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(l); len(f) > 9 && f[3] == "/" && slices.Contains(f, "cgroup2") {
			root = f[4]
		}
	}
	for _, l := range strings.Split(string(own), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			path = p
		}
	}
	var st syscall.Stat_t
	if err := errors.Join(err1, err2, syscall.Stat(root+path, &st)); err != nil || root == "" {
		t.Logf("cgroup id not checked: no cgroup2 mount (%v)", err)
		return 0
	}
	return st.Ino
}
