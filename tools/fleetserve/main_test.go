// SPDX-License-Identifier: Apache-2.0

package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

const scrape = `timewait_netns_info{netns="cni-f1ee7000-1",pod_uid="f1ee7000-0001-4000-8000-000000000001"} 1
timewait_sockstat_tw_sockets{netns="cni-f1ee7000-1"} 0
go_goroutines 12
`

func TestServe(t *testing.T) {
	f, err := newFleet([]byte(scrape), "f1ee7000", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		node string
		code int
		body string
	}{
		{"node-0042", http.StatusOK, `timewait_netns_info{netns="cni-0000002a-1",pod_uid="0000002a-0001-4000-8000-000000000001"} 1
timewait_sockstat_tw_sockets{netns="cni-0000002a-1"} 0
go_goroutines 12
`},
		{"node-0000", http.StatusOK, `timewait_netns_info{netns="cni-00000000-1",pod_uid="00000000-0001-4000-8000-000000000001"} 1
timewait_sockstat_tw_sockets{netns="cni-00000000-1"} 0
go_goroutines 12
`},
		{"node-0999", http.StatusOK, ""},
		{"node-1000", http.StatusNotFound, "node \"node-1000\": the fleet has 1000 nodes\n"},
		{"node--1", http.StatusNotFound, "node \"node--1\": want node- followed by a number\n"},
		{"host-0001", http.StatusNotFound, "node \"host-0001\": want node- followed by a number\n"},
		{"", http.StatusNotFound, "node \"\": want node- followed by a number\n"},
	} {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics?node="+tc.node, nil))
		if rec.Code != tc.code {
			t.Errorf("%s: HTTP %d, want %d", tc.node, rec.Code, tc.code)
		}
		if tc.body != "" && rec.Body.String() != tc.body {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.node, rec.Body, tc.body)
		}
	}
}

func TestNewFleetRejects(t *testing.T) {
	for _, tc := range []struct {
		mark  string
		nodes int
	}{{"", 10}, {"x", 0}, {"x", -1}} {
		if _, err := newFleet([]byte(scrape), tc.mark, tc.nodes); err == nil {
			t.Errorf("mark %q, %d nodes: accepted", tc.mark, tc.nodes)
		}
	}
}
