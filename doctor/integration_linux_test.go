package doctor

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/collector"
	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/twgen"
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
	snap := collector.TakeSnapshot(collector.OwnScope(ctx, "/proc"))
	if len(snap.Errors) > 0 {
		t.Fatalf("snapshot errors: %v", snap.Errors)
	}
	r := Diagnose([]*collector.Snapshot{snap}, config.Default())
	t.Logf("ss: %d TIME_WAIT towards 127.0.0.1:7000\n%s", tw, textOf(r))
	if tw < 450 {
		t.Fatalf("setup: only %d TIME_WAIT sockets towards 127.0.0.1:7000", tw)
	}

	f := one(t, r, "ephemeral-ports", Critical)
	if len(f.Subjects) != 1 || f.Subjects[0] != "127.0.0.1:7000" {
		t.Errorf("subjects %v, want [127.0.0.1:7000]", f.Subjects)
	}
	contains(t, f, "127.0.0.1:7000", "of 500 usable ports", "tcp_tw_reuse=0", "EADDRNOTAVAIL")
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
