// SPDX-License-Identifier: Apache-2.0

// Package kreadtest holds the procfs fixtures the tests of package kread
// and of the collectors share. It is imported by tests only.
package kreadtest

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The seeds are /proc/net files of a real 6.18 kernel.
const (
	SeedNetstat = "TcpExt: SyncookiesSent SyncookiesRecv TW TWRecycled TWKilled TCPTimeWaitOverflow\n" +
		"TcpExt: 0 0 1234 5 0 7\n" +
		"IpExt: InNoRoutes InOctets\n" +
		"IpExt: 0 123456789012\n"
	SeedSnmp = "Ip: Forwarding DefaultTTL InReceives\n" +
		"Ip: 2 64 15122\n" +
		"Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab\n" +
		"Tcp: 1 200 120000 -1 100 50 0 0 3\n"
	SeedSockstat = "sockets: used 16\n" +
		"TCP: inuse 1 orphan 0 tw 123 alloc 1 mem 104\n" +
		"UDP: inuse 0 mem 0\n" +
		"UDPLITE: inuse 0\n" +
		"RAW: inuse 0\n" +
		"FRAG: inuse 0 memory 0\n"
	SeedSockstat6 = "TCP6: inuse 2\nUDP6: inuse 0\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n"
)

// Proc is a complete procfs tree with distinctive values (see the
// files under internal/kread/testdata/proc).
var Proc = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "proc")
}()

// CopyTree copies the fixture tree src to a temporary directory, so a test
// can break one file and leave the rest intact.
func CopyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// WriteFile replaces (or with content nil, removes) one file of a tree.
func WriteFile(t testing.TB, root, rel string, content []byte) {
	t.Helper()
	path := filepath.Join(root, rel)
	if content == nil {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Sysctls is a kernel's /proc/sys/net/ipv4 for the files the sysctl
// collector reads.
var Sysctls = map[string]string{
	"tcp_tw_reuse":            "2\n",
	"tcp_tw_reuse_delay":      "1000\n",
	"tcp_fin_timeout":         "60\n",
	"tcp_max_tw_buckets":      "262144\n",
	"tcp_timestamps":          "1\n",
	"tcp_rfc1337":             "0\n",
	"tcp_max_orphans":         "65536\n",
	"ip_local_port_range":     "32768\t60999\n",
	"ip_local_reserved_ports": "\n",
}

// SysctlTree writes a kernel's sysctls under root/sys/net/ipv4.
func SysctlTree(tb testing.TB, root string) {
	tb.Helper()
	ipv4 := filepath.Join(root, "sys", "net", "ipv4")
	if err := os.MkdirAll(ipv4, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, v := range Sysctls {
		Write(tb, filepath.Join(ipv4, name), []byte(v))
	}
}

// Write writes data at path or fails tb.
func Write(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// NsKey identifies a namespace: the nsfs device and inode of its file.
type NsKey struct{ Dev, Ino uint64 }

// NetnsInode stats a namespace file (/proc/<pid>/ns/net, a /run/netns
// entry).
func NetnsInode(path string) (NsKey, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return NsKey{}, err
	}
	return NsKey{st.Dev, st.Ino}, nil
}

// Comm is the comm of process pid under procPath, "" if unreadable.
func Comm(procPath string, pid int) string {
	b, _ := os.ReadFile(filepath.Join(procPath, strconv.Itoa(pid), "comm"))
	return strings.TrimSuffix(string(b), "\n")
}
