// SPDX-License-Identifier: Apache-2.0

package model

import "math/bits"

// PortRange is an inclusive range of ports.
type PortRange struct{ Start, End uint16 }

// PortSet is a bitmap of the 65536 ports: 8 KiB, cheap to build per scrape
// and a constant-time test per socket.
type PortSet [65536 / 64]uint64

// AddRange adds every port of r.
func (p *PortSet) AddRange(r PortRange) {
	for port := int(r.Start); port <= int(r.End); port++ {
		p[port/64] |= 1 << (port % 64)
	}
}

// RemoveRange removes every port of r.
func (p *PortSet) RemoveRange(r PortRange) {
	for port := int(r.Start); port <= int(r.End); port++ {
		p[port/64] &^= 1 << (port % 64)
	}
}

// Has reports whether port is in the set.
func (p *PortSet) Has(port uint16) bool { return p[port/64]&(1<<(port%64)) != 0 }

// Len counts the ports in the set.
func (p *PortSet) Len() int {
	n := 0
	for _, w := range p {
		n += bits.OnesCount64(w)
	}
	return n
}

// EphemeralPorts returns the set of ports connect() may pick: the local
// port range rng without the reserved ports.
func EphemeralPorts(rng PortRange, reserved []PortRange) *PortSet {
	var set PortSet
	set.AddRange(rng)
	for _, r := range reserved {
		set.RemoveRange(r)
	}
	return &set
}
