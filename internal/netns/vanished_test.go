// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestFaultNetnsVanished: a namespace that went away between discovery and
// entry (its /run/netns entry removed, its processes gone, or the pid
// reused by a process of another namespace) is reported as vanished — the
// scrape skips it at debug level — and nothing runs in it.
func TestFaultNetnsVanished(t *testing.T) {
	own, err := statNs("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no nsfs: %v", err)
	}
	for _, n := range []*Namespace{
		{key: nsKey{own.dev, own.ino + 1}, label: "gone-named", named: filepath.Join(t.TempDir(), "gone")},
		{key: nsKey{own.dev, own.ino + 1}, label: "gone-pid", pids: []int{1 << 22}},
		// pid reused: the file exists but is another namespace.
		{key: nsKey{own.dev, own.ino + 1}, label: "reused-pid", pids: []int{os.Getpid()}},
	} {
		ran := false
		err := Enter(context.Background(), "/proc", n, func(int) { ran = true })
		if !errors.Is(err, ErrVanished) {
			t.Errorf("%s: %v, want ErrVanished", n.label, err)
		}
		if ran {
			t.Errorf("%s: ran in a vanished namespace", n.label)
		}
	}
}
