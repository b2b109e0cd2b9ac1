// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

// As root the doctor tests run in a throwaway network namespace with
// tcp_tw_reuse off and 500 usable ephemeral ports; the fabricated-snapshot
// tests do not care, the integration test needs it.
func TestMain(m *testing.M) {
	os.Exit(nstest.Main(m, map[string]string{
		"net.ipv4.tcp_tw_reuse":            "0",
		"net.ipv4.ip_local_port_range":     "40000 40499",
		"net.ipv4.ip_local_reserved_ports": "",
	}))
}

// TestRealPressure fills 94 % of the ephemeral ports towards one loopback
// destination with client-closed connections (real TIME_WAIT sockets), takes
// a real snapshot with the collectors' readers and checks the verdict.
func TestRealPressure(t *testing.T) {
	nstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := twgen.Listen(netip.MustParseAddr("127.0.0.1"), 7000)
	if err != nil {
		t.Fatal(err)
	}
	const conns = 470
	start := time.Now()
	n, err := twgen.Dial(ctx, srv.Addrs(), conns, 8, twgen.ClientCloses)
	srv.Close()
	if err != nil || n != conns {
		t.Fatalf("made %d of %d connections: %v", n, conns, err)
	}
	t.Logf("%d client-closed connections in %s", n, time.Since(start).Round(time.Millisecond))

	// What the kernel holds right now, to assert against (a few loopback
	// connections may end in RST instead of TIME_WAIT).
	out, err := exec.Command("ss", "-Htan", "state", "time-wait", "dst", "127.0.0.1:7000").Output()
	if err != nil {
		t.Fatal(err)
	}
	tw := strings.Count(string(out), "\n")
	snap := scan.TakeSnapshot(kread.OwnScope(ctx, "/proc"))
	if len(snap.Errors) > 0 {
		t.Fatalf("snapshot errors: %v", snap.Errors)
	}
	r := Diagnose([]*scan.Snapshot{snap}, config.Default())
	t.Logf("ss: %d TIME_WAIT towards 127.0.0.1:7000\n%s", tw, textOf(r))
	if tw < 450 {
		t.Fatalf("setup: only %d TIME_WAIT sockets towards 127.0.0.1:7000", tw)
	}

	f := one(t, r, "ephemeral-ports", Critical)
	if len(f.Subjects) != 1 || f.Subjects[0] != "127.0.0.1:7000" {
		t.Errorf("subjects %v, want [127.0.0.1:7000]", f.Subjects)
	}
	contains(t, f, "127.0.0.1:7000", "of the 500 ports connect() can use", "tcp_tw_reuse=0", "EADDRNOTAVAIL")
	if !strings.HasPrefix(f.Title, "Ephemeral ports towards 127.0.0.1:7000 are 9") || !strings.HasSuffix(f.Title, " of 500)") {
		t.Errorf("title %q", f.Title)
	}
	inOrder(t, f, "keep-alive", "more destination IPs", "ip_local_port_range=\"10240 65535\"", "sysctl -w net.ipv4.tcp_tw_reuse=1")
	g := one(t, r, "tw-reuse", Warning)
	contains(t, g, "127.0.0.1:7000")
	if r.ExitCode != 2 || r.Worst != Critical {
		t.Errorf("worst %s exit %d, want critical 2", r.Worst, r.ExitCode)
	}
	if r.Findings[0].Rule != "ephemeral-ports" {
		t.Errorf("first finding is %s, want ephemeral-ports", r.Findings[0].Rule)
	}
}

// TestRealRemotePressure: a non-loopback destination (an address on lo
// that is not 127/8, so the kernel's tcp_tw_reuse=2 check treats it as
// remote) at 80 % with the default tcp_tw_reuse=2: a warning naming it, and
// the tw-reuse rule suggesting 1.
func TestRealRemotePressure(t *testing.T) {
	nstest.Require(t)
	if out, err := exec.Command("ip", "addr", "add", "10.0.0.5/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	if err := nstest.SetSysctl("net.ipv4.tcp_tw_reuse", "2"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nstest.SetSysctl("net.ipv4.tcp_tw_reuse", "0") })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := twgen.Listen(netip.MustParseAddr("10.0.0.5"), 7001)
	if err != nil {
		t.Fatal(err)
	}
	n, err := twgen.Dial(ctx, srv.Addrs(), 400, 8, twgen.ClientCloses)
	srv.Close()
	if err != nil || n != 400 {
		t.Fatalf("made %d of 400 connections: %v", n, err)
	}
	out, err := exec.Command("ss", "-Htan", "state", "time-wait", "dst", "10.0.0.5:7001").Output()
	if err != nil {
		t.Fatal(err)
	}
	tw := strings.Count(string(out), "\n")
	if tw < 380 {
		t.Fatalf("setup: only %d TIME_WAIT sockets towards 10.0.0.5:7001", tw)
	}
	r := Diagnose([]*scan.Snapshot{scan.TakeSnapshot(kread.OwnScope(ctx, "/proc"))}, config.Default())
	t.Logf("ss: %d TIME_WAIT towards 10.0.0.5:7001\n%s", tw, textOf(r))
	var eph, reuse *Finding
	for i, f := range r.Findings {
		switch {
		case f.Rule == "ephemeral-ports" && slices.Contains(f.Subjects, "10.0.0.5:7001"):
			eph = &r.Findings[i]
		case f.Rule == "tw-reuse":
			reuse = &r.Findings[i]
		}
	}
	if eph == nil || reuse == nil {
		t.Fatalf("want an ephemeral-ports finding naming 10.0.0.5:7001 and a tw-reuse finding:\n%s", textOf(r))
	}
	// One ephemeral-ports finding per namespace: if TestRealPressure ran
	// first, 127.0.0.1:7000 (critical) heads it and 10.0.0.5:7001 is listed.
	contains(t, *eph, "10.0.0.5:7001: source 10.0.0.5 holds 400 of the 500 ports connect() can use (80%)")
	if strings.HasPrefix(eph.Title, "Ephemeral ports towards 10.0.0.5:7001") {
		if eph.Severity != Warning {
			t.Errorf("ephemeral-ports severity %s, want warning", eph.Severity)
		}
		contains(t, *eph, "sysctl -w net.ipv4.tcp_tw_reuse=1")
	}
	if reuse.Severity != Warning {
		t.Errorf("tw-reuse severity %s, want warning", reuse.Severity)
	}
	contains(t, *reuse, "tcp_tw_reuse=2: connections to 10.0.0.5:7001 cannot reuse TIME_WAIT", "sysctl -w net.ipv4.tcp_tw_reuse=1")
}

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
	snap := scan.TakeSnapshot(kread.OwnScope(ctx, "/proc"))
	if len(snap.Errors) > 0 {
		t.Fatalf("snapshot errors: %v", snap.Errors)
	}
	r := Diagnose([]*scan.Snapshot{snap}, config.Default())
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
