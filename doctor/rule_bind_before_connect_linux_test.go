// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kernel"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

// TestRealBindBeforeConnect: 300 clients bind(127.0.0.1, 0) and connect()
// to one port, then connect() to another runs until the kernel says
// EADDRNOTAVAIL, after 200 (in a range of its own, 41000-41499, that the
// other tests of the package leave alone). Neither destination is near its
// own limit; the doctor must name bind-before-connect, show the pool full
// and give IP_BIND_ADDRESS_NO_PORT.
func TestRealBindBeforeConnect(t *testing.T) {
	nstest.Require(t)
	for k, v := range map[string]string{"net.ipv4.ip_local_port_range": "41000 41499", "net.ipv4.ip_local_reserved_ports": ""} {
		if err := nstest.SetSysctl(k, v); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = nstest.SetSysctl("net.ipv4.ip_local_port_range", "40000 40499") })
	srv, err := twgen.Listen(netip.MustParseAddr("127.0.0.1"), 7100, 7101)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	target, other := srv.Addrs()[0], srv.Addrs()[1]
	conns := &twgen.Conns{}
	t.Cleanup(conns.Close)
	const bound = 300
	for range bound {
		if err := conns.Connect(other, other.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	made, err := conns.Exhaust(target, 1000, func(int) {})
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("after %d connections to %s: %v, want EADDRNOTAVAIL", made, target, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap := kernel.TakeSnapshot(kernel.OwnScope(ctx, "/proc"))
	if len(snap.Errors) > 0 {
		t.Fatalf("snapshot errors: %v", snap.Errors)
	}
	r := Diagnose([]*kernel.Snapshot{snap}, config.Default())
	t.Logf("kernel: EADDRNOTAVAIL to %s after %d connect() (and %d bound clients); ports in use %d of %d\n%s",
		target, made, bound, snap.Sockets.EphemeralPortsInUse(), snap.Sockets.Usable(), textOf(r))
	if made < 500-bound-2 || made > 500-bound+2 {
		t.Errorf("kernel made %d connections, want about %d", made, 500-bound)
	}
	f := one(t, r, "bind-before-connect", Critical)
	contains(t, f, "100% of the 500 ephemeral ports", "500 of 500 usable", "IP_BIND_ADDRESS_NO_PORT", "bind(ip, 0)", "__inet_hash_connect")
	for _, g := range r.Findings {
		if g.Rule == "ephemeral-ports" && strings.Contains(g.Title, target.String()) {
			t.Errorf("ephemeral-ports blames %s, which holds only %d ports: %s", target, made, g.Title)
		}
	}
}
