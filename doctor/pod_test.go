// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/netns"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// TestScopeNamesPod: a namespace of a Kubernetes pod is named by its
// netns label and its pod, by namespace/name or else by UID, in the
// report's scopes, its findings and its text.
func TestScopeNamesPod(t *testing.T) {
	sick := narrow().set("net.ipv4.tcp_tw_reuse", 0).outbound("127.0.0.1", "127.0.0.1:7000", 470)
	sick.labels = []string{"inode:4026532317"}
	named := sick.snapshot()
	named.Pod = netns.Pod{UID: "5f2c9d3e-8a41-4b6e-9c0d-1a2b3c4d5e6f", Namespace: "shop", Name: "cart-7d9f"}
	sick.labels = []string{"inode:4026532318"}
	uidOnly := sick.snapshot()
	uidOnly.Pod = netns.Pod{UID: "5f2c9d3e-8a41-4b6e-9c0d-1a2b3c4d5e70"}
	host := newHost().snapshot()
	r := Diagnose([]*scan.Snapshot{host, named, uidOnly}, nil)
	want := []string{"", "inode:4026532317 (pod shop/cart-7d9f)", "inode:4026532318 (pod uid 5f2c9d3e-8a41-4b6e-9c0d-1a2b3c4d5e70)"}
	if got := strings.Join(r.Scopes, ","); got != strings.Join(want, ",") {
		t.Errorf("scopes %q, want %q", got, want)
	}
	if r.Findings[0].Scope != want[1] {
		t.Errorf("worst finding in %q, want %q", r.Findings[0].Scope, want[1])
	}
	if text := textOf(r); !strings.Contains(text, "in network namespace inode:4026532317 (pod shop/cart-7d9f)") {
		t.Errorf("text does not name the pod:\n%s", text)
	}
}
