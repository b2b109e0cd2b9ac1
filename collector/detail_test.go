// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDetailKeeps: which samples an idle namespace keeps, by Detail, and
// that one at full detail keeps all but the host-wide ones.
func TestDetailKeeps(t *testing.T) {
	host := newHostSamples([]string{"sysctl"})
	reuse := Lookup("timewait_sysctl_tcp_tw_reuse").desc(Options{})
	host.record("sysctl", []prometheus.Metric{reuse.metric(nil, 2)})
	ctx := context.Background()
	d := &nsDetail{host: host}
	for _, tc := range []struct {
		name  string
		value float64
		idle  bool // kept by an idle namespace
	}{
		{"timewait_sockstat_tw_sockets", 0, true},                  // Always
		{"timewait_sockstat_tcp_orphan_sockets", 5, false},         // Own
		{"timewait_tcpext_tw_total", 0, false},                     // NonZero at 0
		{"timewait_tcpext_tw_total", 3, true},                      // NonZero
		{"timewait_sysctl_tcp_tw_reuse", 2, false},                 // Differs, equal to the host's
		{"timewait_sysctl_tcp_tw_reuse", 0, true},                  // Differs
		{"timewait_sysctl_tcp_fin_timeout_seconds", 60, true},      // Differs, the host's unknown
		{"timewait_tcp_sockets", 0, false},                         // Full
		{"timewait_ephemeral_port_utilization_max_ratio", 0, true}, // Always
	} {
		m := Lookup(tc.name)
		labels := make([]string, len(m.Labels))
		sm := m.desc(Options{}).metric(nil, tc.value, labels...).(sample)
		if got := d.keeps(ctx, false, sm); got != tc.idle {
			t.Errorf("idle: %s = %v kept %v, want %v", tc.name, tc.value, got, tc.idle)
		}
		if got, want := d.keeps(ctx, true, sm), m.Detail != Own; got != want {
			t.Errorf("full detail: %s kept %v, want %v", tc.name, got, want)
		}
	}
}

// TestFailureMemory: a failure is remembered for failureMemory, and older
// ones are forgotten once per failureMemory.
func TestFailureMemory(t *testing.T) {
	l := newErrorLog(slog.New(slog.DiscardHandler))
	l.remember("sysctl netns=a")
	if !l.failedWithinMemory("sysctl netns=a") || l.failedWithinMemory("sysctl netns=b") {
		t.Fatal("a fresh failure not remembered, or one never seen remembered")
	}
	old := time.Now().Add(-failureMemory - time.Minute)
	l.failedAt["sysctl netns=gone"], l.failedAt["sysctl netns=a"] = old, old
	if l.failedWithinMemory("sysctl netns=a") {
		t.Error("a failure older than failureMemory still remembered")
	}
	l.pruned = old
	l.remember("sockets netns=c")
	if _, ok := l.failedAt["sysctl netns=gone"]; ok || len(l.failedAt) != 1 {
		t.Errorf("old failures not pruned: %v", l.failedAt)
	}
}
