// SPDX-License-Identifier: Apache-2.0

// Package twgen makes real TIME_WAIT sockets for tests, benchmarks and
// tools/twgen: it runs listeners and opens and closes connections to them,
// with blocking system calls on loopback, so that the chosen side closes
// first and keeps the TIME_WAIT socket. Server and Dial serve tests in a
// namespace of their own; Load, Run and NS serve tools/twgen and
// benchmarks.
package twgen

// Side is who closes first, and so who holds the TIME_WAIT socket.
type Side int

const (
	// ClientCloses leaves TIME_WAIT on the client: outbound, local port
	// ephemeral, the kind that exhausts ports towards a destination.
	ClientCloses Side = iota
	// ServerCloses leaves TIME_WAIT on the server: inbound, local port is
	// the listening port.
	ServerCloses
)

// Ports returns n consecutive ports starting at base.
func Ports(base uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = base + uint16(i)
	}
	return out
}
