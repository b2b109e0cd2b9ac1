// SPDX-License-Identifier: Apache-2.0

package netns

import (
	"regexp"
	"slices"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/config"
)

// The pure part of discovery: labels, filters, cap and order (the own
// namespace, then pods', then the rest).
func TestNetnsLabelsAndSelection(t *testing.T) {
	host := nsKey{1, 100}
	mk := func(ino uint64, name string, own bool, comms ...string) *Namespace {
		return &Namespace{key: nsKey{1, ino}, name: name, own: own, comms: comms}
	}
	all := func() []*Namespace {
		return []*Namespace{
			mk(100, "", false, "systemd"),      // host
			mk(200, "", true, "timewait_expo"), // the exporter's own (a pod)
			mk(300, "ci-b", false),
			mk(301, "ci-a", false, "nginx"),
			mk(400, "", false, "pause", "nginx"),
			mk(401, "", false, "pause", "debugger"),
			{key: nsKey{1, 500}, comms: []string{"pause"}, pod: Pod{UID: testUID}},
			{key: nsKey{1, 402}, name: "cni-z", comms: []string{"pause"}, pod: Pod{UID: testStat}},
		}
	}
	labels := func(ns []*Namespace) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.label)
		}
		return out
	}
	re := regexp.MustCompile

	tests := []struct {
		name                     string
		sel                      config.Netns
		want                     []string
		excluded, dropped, found int
	}{
		{name: "all: own first, pods, the rest, each by label", sel: config.Netns{MaxNamespaces: 100},
			want: []string{"inode:200", "cni-z", "inode:500", "ci-a", "ci-b", "host", "inode:400", "inode:401"}, found: 8},
		{name: "the default cap", sel: config.Netns{},
			want: []string{"inode:200", "cni-z", "inode:500", "ci-a", "ci-b", "host", "inode:400", "inode:401"}, found: 8},
		{name: "cap keeps the own namespace and the pods", sel: config.Netns{MaxNamespaces: 3},
			want: []string{"inode:200", "cni-z", "inode:500"}, dropped: 5, found: 8},
		{name: "cap of one", sel: config.Netns{MaxNamespaces: 1},
			want: []string{"inode:200"}, dropped: 7, found: 8},
		{name: "include by name or comm", sel: config.Netns{MaxNamespaces: 100, IncludeRE: re("^ci-a$|nginx")},
			want: []string{"inode:200", "ci-a", "inode:400"}, excluded: 5, found: 8},
		{name: "exclude by any comm wins", sel: config.Netns{MaxNamespaces: 100, IncludeRE: re("pause"), ExcludeRE: re("debug")},
			want: []string{"inode:200", "cni-z", "inode:500", "inode:400"}, excluded: 4, found: 8},
		{name: "the host label is matched too", sel: config.Netns{MaxNamespaces: 100, ExcludeRE: re("^host$|^ci-")},
			want: []string{"inode:200", "cni-z", "inode:500", "inode:400", "inode:401"}, excluded: 3, found: 8},
		{name: "filters then cap", sel: config.Netns{MaxNamespaces: 2, IncludeRE: re("^ci-")},
			want: []string{"inode:200", "ci-a"}, excluded: 5, dropped: 1, found: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := all()
			assignLabels(ns, host)
			d := &Discovery{}
			selectNetns(d, ns, tt.sel)
			if got := labels(d.Visit); !slices.Equal(got, tt.want) {
				t.Errorf("visit = %q, want %q", got, tt.want)
			}
			if d.Excluded != tt.excluded || d.Dropped != tt.dropped || d.Found != tt.found {
				t.Errorf("found/excluded/dropped = %d/%d/%d, want %d/%d/%d", d.Found, d.Excluded, d.Dropped, tt.found, tt.excluded, tt.dropped)
			}
		})
	}

	t.Run("a namespace named host keeps its name", func(t *testing.T) {
		ns := []*Namespace{mk(100, "", false), mk(5, "host", false), mk(6, "", true)}
		assignLabels(ns, host)
		if got := labels(ns); !slices.Equal(got, []string{"inode:100", "host", "inode:6"}) {
			t.Errorf("labels = %q", got)
		}
	})
	t.Run("the own namespace is host when it is", func(t *testing.T) {
		ns := []*Namespace{mk(100, "", true), mk(7, "", false)}
		assignLabels(ns, host)
		if got := labels(ns); !slices.Equal(got, []string{"host", "inode:7"}) {
			t.Errorf("labels = %q", got)
		}
	})
}
