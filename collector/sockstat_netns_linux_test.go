// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
)

// With --netns.discover and real namespaces: the host-wide sockstat series
// (orphan, alloc, mem) appear exactly once, under the exporter's own
// namespace, while tw and inuse appear once for every namespace visited.
func TestNetnsSockstatHostWideOnce(t *testing.T) {
	f := newNetnsFixture(t)
	named := []string{f.add("a"), f.add("b")}
	holder := f.holder("300")
	held := fmt.Sprintf("inode:%d", nsInode(t, fmt.Sprintf("/proc/%d/ns/net", holder)))
	own, err := kreadtest.NetnsInode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	// The kernel does print the host-wide fields inside every namespace:
	// that is what made them repeat.
	hostWide := regexp.MustCompile(`TCP: inuse \d+ orphan \d+ tw \d+ alloc \d+ mem \d+`)
	if out := nsRun(t, "ip", "netns", "exec", named[0], "cat", "/proc/net/sockstat"); !hostWide.MatchString(out) {
		t.Fatalf("sockstat in %s has not every TCP field:\n%s", named[0], out)
	}

	e, logs := f.exporter(config.DefaultMaxNamespaces)
	samples := nsGather(t, e)
	ownInfo := nsFind(samples, "timewait_netns_info", map[string]string{"inode": strconv.FormatUint(own.Ino, 10)})
	if len(ownInfo) != 1 {
		t.Fatalf("own namespace: %d info series, want 1", len(ownInfo))
	}
	ownLabel := ownInfo[0].labels[NetnsLabel]
	visited := []string{ownLabel, named[0], named[1], held}
	var infoLabels []string
	for _, s := range nsFind(samples, "timewait_netns_info", nil) {
		infoLabels = append(infoLabels, s.labels[NetnsLabel])
	}
	if slices.Sort(infoLabels); !slices.Equal(infoLabels, slices.Sorted(slices.Values(visited))) {
		t.Fatalf("visited %q, want %q", infoLabels, visited)
	}

	for _, s := range nsFind(samples, "timewait_scrape_collector_success", map[string]string{"collector": "sockstat"}) {
		if s.value != 1 {
			t.Errorf("sockstat collector failed in %s", s.labels[NetnsLabel])
		}
	}
	for _, metric := range []string{"timewait_sockstat_tcp_orphan_sockets", "timewait_sockstat_tcp_alloc_sockets", "timewait_sockstat_tcp_mem_bytes"} {
		got := nsFind(samples, metric, nil)
		if len(got) != 1 || got[0].labels[NetnsLabel] != ownLabel {
			t.Errorf("%s: %d series %v, want one, with netns=%q", metric, len(got), got, ownLabel)
		}
	}
	perNetns := []struct {
		metric string
		labels map[string]string
	}{
		{"timewait_sockstat_tw_sockets", nil},
		{"timewait_sockstat_tcp_inuse_sockets", map[string]string{"family": "ipv4"}},
	}
	for _, p := range perNetns {
		for _, l := range visited {
			want := map[string]string{NetnsLabel: l}
			for k, v := range p.labels {
				want[k] = v
			}
			if n := len(nsFind(samples, p.metric, want)); n != 1 {
				t.Errorf("%s%v: %d series, want 1", p.metric, want, n)
			}
		}
		if n := len(nsFind(samples, p.metric, p.labels)); n != len(visited) {
			t.Errorf("%s%v: %d series, want %d (one per namespace)", p.metric, p.labels, n, len(visited))
		}
	}
	if t.Failed() {
		t.Logf("exporter log:\n%s", logs.String())
	}
}
