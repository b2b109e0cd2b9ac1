// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
)

// TestScopeSysctlsReadOnce: a scope's sysctls are read once for all its
// sources: a file changed afterwards is not seen by the same scope, but is
// by the next one.
func TestScopeSysctlsReadOnce(t *testing.T) {
	root := kreadtest.CopyTree(t, kreadtest.Proc)
	s := &scope{Scope: kread.OwnScope(context.Background(), root)}
	first, err := s.sysctls()
	if err != nil {
		t.Fatal(err)
	}
	kreadtest.WriteFile(t, root, "sys/net/ipv4/tcp_fin_timeout", []byte("5\n"))
	if again, _ := s.sysctlsIfPrompt(); again != first || again.TCPFinTimeout != 37 {
		t.Errorf("same scope re-read the sysctls")
	}
	next, err := (&scope{Scope: kread.OwnScope(context.Background(), root)}).sysctls()
	if err != nil || next.TCPFinTimeout != 5 {
		t.Errorf("new scope: %v, %v", next, err)
	}
}

// TestWaitBriefly: the wait ends when done is closed, else after patience,
// and never later than half of the time the context has left.
func TestWaitBriefly(t *testing.T) {
	done := make(chan struct{})
	close(done)
	if !WaitBriefly(context.Background(), done, time.Hour) {
		t.Error("a closed channel was not seen")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if WaitBriefly(ctx, make(chan struct{}), time.Hour) {
		t.Error("an open channel was reported closed")
	}
	if took := time.Since(start); took >= 900*time.Millisecond {
		t.Errorf("waited %v with 1s left, want about half of it", took)
	}
}
