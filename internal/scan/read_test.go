// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
)

// readAll is every reading of one Read of the own namespace of proc.
func readAll(t *testing.T, r *Reader, timeout time.Duration, req Request) (visit Reading, rds map[string]Reading) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rds = map[string]Reading{}
	for rd := range r.Read(ctx, req) {
		if rd.Source == "" {
			visit = rd
			continue
		}
		if _, dup := rds[rd.Source]; dup {
			t.Fatalf("two readings of %s", rd.Source)
		}
		rds[rd.Source] = rd
	}
	return visit, rds
}

// TestReadOwn: one Read sends the visit with its sources' keys, then one
// reading per requested source and no other (a disabled collector's source
// is not read), each with what it read, its read time and no error.
func TestReadOwn(t *testing.T) {
	for _, sources := range [][]string{
		{"netstat", "sockets", "sockstat", "sysctl"},
		{"sockstat", "sysctl"},
	} {
		r := NewReader(Options{ProcPath: kreadtest.Proc})
		visit, rds := readAll(t, r, 10*time.Second, Request{Sources: sources, SysctlInts: []string{"net.ipv4.tcp_ehash_entries", kread.KeyTwReuse}})
		if !slices.Equal(visit.Keys, sources) || visit.Err != nil {
			t.Errorf("%v: visit keys %v, err %v", sources, visit.Keys, visit.Err)
		}
		if len(rds) != len(sources) {
			t.Errorf("%v: %d readings, want %d", sources, len(rds), len(sources))
		}
		for _, name := range sources {
			rd := rds[name]
			if rd.Err != nil || rd.Took <= 0 || rd.Key != name || rd.Index != visit.Index || len(rd.Labels) != 0 {
				t.Errorf("%s: err %v, took %v, key %q, scope %d %v (the visit's %d)", name, rd.Err, rd.Took, rd.Key, rd.Index, rd.Labels, visit.Index)
			}
		}
		if rd, ok := rds["sysctl"]; ok && (rd.Sysctls == nil || rd.Ints["net.ipv4.tcp_ehash_entries"].Err != nil || !rd.Ints[kread.KeyTwReuse].Value.OK ||
			rd.Ports.Value.Usable == 0) {
			t.Errorf("sysctl reading: set %v, ints %+v, ports %+v", rd.Sysctls != nil, rd.Ints, rd.Ports)
		}
		if rd, ok := rds["sockstat"]; ok && !rd.Sockstat.TimeWait.OK {
			t.Error("sockstat reading without tw")
		}
	}
}

// TestReadBlocked: a source whose read blocks is abandoned at the deadline
// (the other sources' readings arrive), and the next Read does not start it
// again while it blocks.
func TestReadBlocked(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var started atomic.Int32
	r := NewReader(Options{ProcPath: kreadtest.Proc, BeforeRead: func(_ *kread.Scope, source string) error {
		if source == "sockstat" {
			started.Add(1)
			<-release
		}
		return nil
	}})
	req := Request{Sources: []string{"netstat", "sockstat"}}
	for i := 1; i <= 2; i++ {
		start := time.Now()
		_, rds := readAll(t, r, 300*time.Millisecond, req)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("read %d took %v with a 300ms deadline", i, took)
		}
		if err := rds["sockstat"].Err; !StillBlocked(err) {
			t.Errorf("read %d: sockstat err %v, want still blocked", i, err)
		}
		if rd := rds["netstat"]; rd.Err != nil || rd.Netstat == nil {
			t.Errorf("read %d: netstat lost to the blocked sockstat: %v", i, rd.Err)
		}
	}
	if n := started.Load(); n != 1 {
		t.Errorf("the blocked read was started %d times, want 1", n)
	}
}

// TestReadSourceFails: a source that cannot be read says so in its reading.
func TestReadSourceFails(t *testing.T) {
	s := kread.OwnScope(context.Background(), t.TempDir())
	for _, name := range []string{"netstat", "sockstat", "sysctl"} {
		rd, err := ReadSource(s, name, Request{})
		if err == nil || !errors.Is(rd.Err, err) {
			t.Errorf("%s from an empty procfs: err %v, reading's %v", name, err, rd.Err)
		}
	}
}
