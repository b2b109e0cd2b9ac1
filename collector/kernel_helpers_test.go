// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
)

// setSysctl sets one sysctl of the test namespace and restores it when the
// test ends.
func setSysctl(t *testing.T, key, value string) {
	t.Helper()
	old, err := kread.ReadSysctl("/proc", key) // whole, whatever its length
	if err != nil {
		t.Fatal(err)
	}
	if err := nstest.SetSysctl(key, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nstest.SetSysctl(key, old); err != nil {
			t.Errorf("restore: %v", err)
		}
	})
}

// kernelSocket is one line of `ss -Htan`.
type kernelSocket struct {
	State       string // ss's name: ESTAB, TIME-WAIT, LISTEN...; "" under a "state X" filter
	Local, Peer netip.AddrPort
}

// ssStateNames maps ss's state column to our state label.
var ssStateNames = map[string]string{
	"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv",
	"FIN-WAIT-1": "fin_wait1", "FIN-WAIT-2": "fin_wait2", "TIME-WAIT": "time_wait",
	"UNCONN": "close", "CLOSE-WAIT": "close_wait", "LAST-ACK": "last_ack",
	"LISTEN": "listen", "CLOSING": "closing",
}

// ss runs `ss -Htan <args>` (args: -4, -6, a filter...) and parses its
// lines: what the kernel reports, independently of our reader.
func ss(t *testing.T, args ...string) []kernelSocket {
	t.Helper()
	out, err := exec.Command("ss", append([]string{"-Htan"}, args...)...).Output()
	if err != nil {
		t.Fatalf("ss %v: %v", args, err)
	}
	var socks []kernelSocket
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch len(f) {
		case 0:
		case 4: // with a single "state X" filter ss leaves the State column out
			socks = append(socks, kernelSocket{Local: parseSSAddr(t, f[2]), Peer: parseSSAddr(t, f[3])})
		case 5:
			socks = append(socks, kernelSocket{State: f[0], Local: parseSSAddr(t, f[3]), Peer: parseSSAddr(t, f[4])})
		default:
			t.Fatalf("ss %v: unexpected line %q", args, line)
		}
	}
	return socks
}

// parseSSAddr parses ss's numeric address: 127.0.0.1:80, [::1]:80, *:80,
// [::ffff:127.0.0.1]:80, 0.0.0.0:*.
func parseSSAddr(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatalf("ss address %q: %v", s, err)
	}
	if host == "*" {
		host = "::"
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	p := 0
	if port != "*" {
		if p, err = strconv.Atoi(port); err != nil {
			t.Fatalf("ss port %q: %v", s, err)
		}
	}
	return netip.AddrPortFrom(netip.MustParseAddr(host), uint16(p))
}

// ssStates counts `ss -Htan -4|-6` lines per state label.
func ssStates(t *testing.T, family string) map[string]int {
	t.Helper()
	flag := "-4"
	if family == "ipv6" {
		flag = "-6"
	}
	counts := map[string]int{}
	for _, s := range ss(t, flag) {
		name, ok := ssStateNames[s.State]
		if !ok {
			t.Fatalf("unknown ss state %q", s.State)
		}
		counts[name]++
	}
	return counts
}

func count(socks []kernelSocket, keep func(kernelSocket) bool) int {
	n := 0
	for _, s := range socks {
		if keep(s) {
			n++
		}
	}
	return n
}

// procNetstat reads one counter from this namespace's /proc/net/netstat or
// snmp with our parser (itself tested against fixtures).
func procNetstat(t *testing.T, file, group, field string) float64 {
	t.Helper()
	n, err := kread.ReadNetstat(kread.OwnScope(context.Background(), "/proc"))
	if err != nil {
		t.Fatal(err)
	}
	v := n.Value(file, group, field)
	if !v.OK {
		t.Fatalf("/proc/net/%s has no %s %s", file, group, field)
	}
	return v.Value
}

// procSockstatTW reads the tw field of /proc/net/sockstat with plain string
// handling (not procfs), for an independent view.
func procSockstatTW(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "TCP:" {
			for i := 1; i+1 < len(f); i += 2 {
				if f[i] == "tw" {
					n, err := strconv.Atoi(f[i+1])
					if err != nil {
						t.Fatal(err)
					}
					return n
				}
			}
		}
	}
	t.Fatal("no TCP tw in /proc/net/sockstat")
	return 0
}

// holdOpen opens n connections to target and keeps them ESTABLISHED until
// the test ends.
func holdOpen(t *testing.T, target netip.AddrPort, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", target.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

func within(got, want, tolerance float64) bool {
	return got >= want-tolerance && got <= want+tolerance
}

// outboundPorts counts the sockets that keep matches (their local port
// ephemeral) and their distinct local ports.
func outboundPorts(socks []kernelSocket, keep func(kernelSocket) bool) (sockets, ports int) {
	seen := map[uint16]bool{}
	for _, s := range socks {
		if keep(s) {
			sockets++
			seen[s.Local.Port()] = true
		}
	}
	return sockets, len(seen)
}
