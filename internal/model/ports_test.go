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
