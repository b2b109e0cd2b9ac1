// SPDX-License-Identifier: Apache-2.0

package model

import "testing"

func TestPortSet(t *testing.T) {
	var p PortSet
	if p.Len() != 0 || p.Has(0) || p.Has(65535) {
		t.Fatal("zero PortSet is not empty")
	}
	p.AddRange(PortRange{1, 65535})
	if p.Len() != 65535 || p.Has(0) || !p.Has(1) || !p.Has(65535) {
		t.Fatalf("full range: Len %d Has(0) %v Has(65535) %v", p.Len(), p.Has(0), p.Has(65535))
	}
	p = PortSet{}
	p.AddRange(PortRange{63, 128}) // crosses two word boundaries
	if p.Len() != 66 || p.Has(62) || !p.Has(63) || !p.Has(64) || !p.Has(127) || !p.Has(128) || p.Has(129) {
		t.Fatalf("63-128: Len %d", p.Len())
	}
	p.RemoveRange(PortRange{64, 127})
	if p.Len() != 2 || !p.Has(63) || p.Has(64) || p.Has(127) || !p.Has(128) {
		t.Fatalf("after removing 64-127: Len %d", p.Len())
	}
	p.RemoveRange(PortRange{1000, 2000}) // outside: no-op
	p.AddRange(PortRange{63, 63})        // already there: no-op
	if p.Len() != 2 {
		t.Fatalf("Len %d, want 2", p.Len())
	}
	p.AddRange(PortRange{65535, 65535}) // the loop must stop at the top port
	if p.Len() != 3 || !p.Has(65535) {
		t.Fatalf("65535: Len %d", p.Len())
	}
}

// TestPortSetWordEdges builds sets a word at a time from ranges that start
// and end on every side of a word's edge, and compares each port with a
// set built port by port.
func TestPortSetWordEdges(t *testing.T) {
	ranges := []PortRange{
		{0, 0}, {0, 63}, {0, 64}, {1, 62}, {63, 64}, {64, 127}, {65, 126}, {100, 100},
		{32768, 60999}, {65472, 65535}, {65535, 65535}, {0, 65535}, {5, 4},
	}
	for _, add := range ranges {
		for _, remove := range ranges {
			var p PortSet
			p.AddRange(add)
			p.RemoveRange(remove)
			n := 0
			for port := 0; port <= 65535; port++ {
				want := port >= int(add.Start) && port <= int(add.End) && (port < int(remove.Start) || port > int(remove.End))
				if want {
					n++
				}
				if p.Has(uint16(port)) != want {
					t.Fatalf("%v minus %v: Has(%d) = %v", add, remove, port, !want)
				}
			}
			if p.Len() != n {
				t.Fatalf("%v minus %v: Len %d, want %d", add, remove, p.Len(), n)
			}
		}
	}
}
