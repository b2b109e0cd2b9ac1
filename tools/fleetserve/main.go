// SPDX-License-Identifier: Apache-2.0

// Command fleetserve serves one real scrape of the exporter as the scrapes
// of a fleet of nodes, for test/fleet_series.sh: GET /metrics?node=node-0042
// answers the captured exposition with every occurrence of a mark (a string
// the test put in what differs between nodes: pod UIDs, pod and namespace
// names) replaced by the node's number as 8 hex digits, so that each node's
// pods are its own, as on a real fleet. Nothing else is rewritten; the
// instance label comes from Prometheus' relabelling of the node parameter.
// Standard library only; runs inside the test's network namespace.
//
//	fleetserve -listen 127.0.0.1:9967 -in scrape.prom -nodes 1000 -mark f1ee7000
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// nodePrefix starts every node's name, node-0000 to node-NNNN.
const nodePrefix = "node-"

// fleet is the exposition cut at its marks: the node's hex number goes
// between any two parts.
type fleet struct {
	parts [][]byte
	nodes int
}

func newFleet(exposition []byte, mark string, nodes int) (*fleet, error) {
	if mark == "" {
		return nil, fmt.Errorf("empty mark")
	}
	if nodes < 1 {
		return nil, fmt.Errorf("-nodes %d: want at least 1", nodes)
	}
	return &fleet{parts: bytes.Split(exposition, []byte(mark)), nodes: nodes}, nil
}

// node returns the number of a node's name (node-0042: 42), or an error
// for a name that is none of the fleet's.
func (f *fleet) node(name string) (int, error) {
	digits, ok := strings.CutPrefix(name, nodePrefix)
	n, err := strconv.Atoi(digits)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("node %q: want %s followed by a number", name, nodePrefix)
	}
	if n >= f.nodes {
		return 0, fmt.Errorf("node %q: the fleet has %d nodes", name, f.nodes)
	}
	return n, nil
}

// exposition is node n's scrape.
func (f *fleet) exposition(n int) []byte {
	return bytes.Join(f.parts, []byte(fmt.Sprintf("%08x", n)))
}

func (f *fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := f.node(r.URL.Query().Get("node"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(f.exposition(n))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9967", "listen address")
	in := flag.String("in", "", "the captured exposition (a scrape of the exporter's /metrics)")
	mark := flag.String("mark", "f1ee7000", "the text replaced by each node's number (8 hex digits)")
	nodes := flag.Int("nodes", 1000, "nodes in the fleet: node-0000 up to this, exclusive")
	flag.Parse()
	exposition, err := os.ReadFile(*in)
	if err != nil {
		fatal(err)
	}
	f, err := newFleet(exposition, *mark, *nodes)
	if err != nil {
		fatal(err)
	}
	http.Handle("/metrics", f)
	fatal(http.ListenAndServe(*listen, nil))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "fleetserve:", err)
	os.Exit(1)
}
