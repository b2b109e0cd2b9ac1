// SPDX-License-Identifier: Apache-2.0

package nstest

import (
	"os"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

// TimeWait makes a private namespace held by one thread (twgen.NS, closed
// when tb ends) holding n real outbound TIME_WAIT sockets spread over ports
// destinations, and returns it with the kernel's TIME_WAIT count. Unlike
// Main it needs no TestMain, so benchmarks can use it anywhere. It skips
// without the privilege to make a namespace.
func TimeWait(tb testing.TB, n, ports int) (*twgen.NS, int) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create a network namespace")
	}
	ns, err := twgen.New()
	if err != nil {
		tb.Skip("cannot create a network namespace: ", err)
	}
	tb.Cleanup(ns.Close)
	tw, err := ns.MakeTimeWait(n, ports)
	if err != nil {
		tb.Fatal(err)
	}
	return ns, tw
}
