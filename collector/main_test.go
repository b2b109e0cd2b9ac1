// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"os"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
)

// testPortRange is the namespace's default ephemeral range. Tests that
// narrow the range pick one above it (testPortRange ends at 45999), so the
// TIME_WAIT sockets other tests leave behind (they live 60 s) fall outside
// it and cannot be mistaken for outbound load.
const testPortRange = "32768 45999"

// TestMain runs the package's tests in a throwaway network namespace (as
// root; otherwise the integration tests skip) with TIME_WAIT counts that do
// not drift: no loopback reuse, room for every socket the tests make.
func TestMain(m *testing.M) {
	// The collectors' --[no-]collector.* flags only take their defaults
	// when parsed; New reads them.
	if _, err := kingpin.CommandLine.Parse(nil); err != nil {
		panic(err)
	}
	os.Exit(nstest.Main(m, map[string]string{
		"net.ipv4.tcp_tw_reuse":        "0",
		"net.ipv4.tcp_max_tw_buckets":  "262144",
		"net.ipv4.ip_local_port_range": testPortRange,
	}))
}
