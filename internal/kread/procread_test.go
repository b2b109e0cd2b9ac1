// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
)

// TestReadProcFile reads files shorter and longer than the pooled buffer
// whole, and a missing one with the error os.ReadFile would give.
func TestReadProcFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, procBufSize - 1, procBufSize, procBufSize + 1, 5*procBufSize + 7} {
		want := bytes.Repeat([]byte("0123456789abcdef\n"), size/17+1)[:size]
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := readProcFile(path, func(data []byte) error { got = bytes.Clone(data); return nil }); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: read %d bytes, not the file", size, len(got))
		}
	}
	err := readProcFile(filepath.Join(dir, "missing"), func([]byte) error { t.Fatal("use called"); return nil })
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" || !strings.HasSuffix(pe.Path, "missing") {
		t.Fatalf("missing file: %v, want open's *fs.PathError", err)
	}
}

// TestSysctlDir: the sysctls under net.ipv4 are read through the open
// directory, any other key by its path, and without the directory every
// read fails naming its file.
func TestSysctlDir(t *testing.T) {
	root := kreadtest.CopyTree(t, kreadtest.Proc)
	if err := os.MkdirAll(filepath.Join(root, "sys", "net", "core"), 0o755); err != nil {
		t.Fatal(err)
	}
	kreadtest.WriteFile(t, root, "sys/net/core/somaxconn", []byte("4096\n"))
	d := openSysctlDir(root)
	defer d.close()
	if d.fd < 0 {
		t.Fatal("net/ipv4 not opened")
	}
	for key, want := range map[string]string{KeyMaxTwBuckets: "54321", "net.core.somaxconn": "4096"} {
		if got, err := d.read(key); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", key, got, err, want)
		}
	}
	if err := os.RemoveAll(filepath.Join(root, "sys", "net", "ipv4")); err != nil {
		t.Fatal(err)
	}
	// The directory opened before keeps its files only as long as they
	// exist: a read after their removal fails, naming the whole path.
	_, err := d.read(KeyMaxTwBuckets)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(root, "sys/net/ipv4/tcp_max_tw_buckets")) {
		t.Errorf("removed file: %v", err)
	}
	gone := openSysctlDir(root)
	defer gone.close()
	_, err = gone.read(KeyMaxTwBuckets)
	if gone.fd >= 0 || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "sys/net/ipv4/tcp_max_tw_buckets") {
		t.Errorf("no net/ipv4: fd %d, %v", gone.fd, err)
	}
}
