// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/twgen"
)

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

// listen starts a twgen server that the test closes (after every
// connection has finished) when it ends.
func listen(t *testing.T, addr netip.Addr, ports ...uint16) []netip.AddrPort {
	t.Helper()
	srv, err := twgen.Listen(addr, ports...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv.Addrs()
}

// dial makes count connections closed by side and returns how many
// completed.
func dial(t *testing.T, targets []netip.AddrPort, count int, side twgen.Side) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done, err := twgen.Dial(ctx, targets, count, 16, side)
	if err != nil {
		t.Fatalf("dial %d to %v: %v (after %d)", count, targets, err, done)
	}
	return done
}

// TestSocketStatesMatchKernel makes N client-closed IPv4 and M IPv6
// TIME_WAIT sockets plus established and listening ones, and compares the
// exporter's timewait_tcp_sockets with ss (the kernel's own view through
// the same sock_diag interface, parsed by iproute2) taken just before and
// just after the scrape: every state exact except time_wait, which may
// lose the few sockets that expire in between. sockstat tw and CurrEstab
// are compared with the proc files.
func TestSocketStatesMatchKernel(t *testing.T) {
	nstest.Require(t)
	const n4, n6, est4, est6 = 600, 400, 7, 5
	v4 := listen(t, lo4, twgen.Ports(21000, 5)...)
	v6 := listen(t, lo6, twgen.Ports(21100, 5)...)
	dial(t, v4, n4, twgen.ClientCloses)
	dial(t, v6, n6, twgen.ClientCloses)
	holdOpen(t, v4[0], est4)
	holdOpen(t, v6[0], est6)
	time.Sleep(100 * time.Millisecond) // let the last FINs and ACKs land

	e := newTestExporter(t, "/proc", nil)
	before := map[string]map[string]int{"ipv4": ssStates(t, "ipv4"), "ipv6": ssStates(t, "ipv6")}
	twBefore := procSockstatTW(t)
	estabBefore := procNetstat(t, "snmp", "Tcp", "CurrEstab")
	ms := scrape(t, e)
	after := map[string]map[string]int{"ipv4": ssStates(t, "ipv4"), "ipv6": ssStates(t, "ipv6")}
	twAfter := procSockstatTW(t)

	for fam, ours := range map[string]int{"ipv4": n4, "ipv6": n6} {
		if got := before[fam]["time_wait"]; got < ours*98/100 {
			t.Fatalf("setup: ss sees %d %s TIME_WAIT sockets, made %d", got, fam, ours)
		}
	}
	if before["ipv4"]["listen"] < 5 || before["ipv6"]["listen"] < 5 || before["ipv4"]["established"] < 2*est4 || before["ipv6"]["established"] < 2*est6 {
		t.Fatalf("setup: ss sees %v", before)
	}
	t.Logf("ss before %v", before)
	t.Logf("ss after  %v", after)
	for _, fam := range []string{"ipv4", "ipv6"} {
		for state := 1; state <= int(sockdiag.StateNewSynRecv); state++ {
			name := stateNames[state]
			got := mustValue(t, ms, fmt.Sprintf(`timewait_tcp_sockets{family=%q,state=%q}`, fam, name))
			lo, hi := min(before[fam][name], after[fam][name]), max(before[fam][name], after[fam][name])
			if name == "time_wait" {
				lo -= 2 // expiring between the reads
			}
			if got < float64(lo) || got > float64(hi) {
				t.Errorf("%s %s: exporter %v, ss before %d after %d", fam, name, got, before[fam][name], after[fam][name])
			}
		}
	}
	t.Logf("exporter time_wait ipv4 %v ipv6 %v; sockstat tw before %d after %d",
		ms[`timewait_tcp_sockets{family="ipv4",state="time_wait"}`], ms[`timewait_tcp_sockets{family="ipv6",state="time_wait"}`], twBefore, twAfter)

	// sockstat tw covers both families (and FIN_WAIT2 mini-sockets, none
	// here): it equals the sum of the two families' TIME_WAIT.
	tw := mustValue(t, ms, "timewait_sockstat_tw_sockets")
	if tw < float64(min(twBefore, twAfter)-2) || tw > float64(max(twBefore, twAfter)) {
		t.Errorf("timewait_sockstat_tw_sockets %v, /proc/net/sockstat tw before %d after %d", tw, twBefore, twAfter)
	}
	sum := ms[`timewait_tcp_sockets{family="ipv4",state="time_wait"}`] + ms[`timewait_tcp_sockets{family="ipv6",state="time_wait"}`] +
		ms[`timewait_tcp_sockets{family="ipv4",state="fin_wait2"}`] + ms[`timewait_tcp_sockets{family="ipv6",state="fin_wait2"}`]
	if !within(sum, tw, 2) {
		t.Errorf("sock_diag time_wait+fin_wait2 %v vs sockstat tw %v", sum, tw)
	}
	// CurrEstab counts ESTABLISHED and CLOSE_WAIT of both families.
	if got := mustValue(t, ms, "timewait_tcp_current_established"); got != estabBefore {
		t.Errorf("timewait_tcp_current_established %v, /proc/net/snmp %v", got, estabBefore)
	}
	wantEstab := before["ipv4"]["established"] + before["ipv4"]["close_wait"] + before["ipv6"]["established"] + before["ipv6"]["close_wait"]
	if estabBefore != float64(wantEstab) {
		t.Errorf("CurrEstab %v, ss established+close_wait %d", estabBefore, wantEstab)
	}
	// Every collector succeeded.
	for _, c := range []string{"netstat", "sockets", "sockstat", "sysctl"} {
		if got := ms[fmt.Sprintf(`timewait_scrape_collector_success{collector=%q}`, c)]; got != 1 {
			t.Errorf("collector %s success %v", c, got)
		}
	}
}

// TestSysctlsMatchKernel sets distinctive values in the namespace and
// checks each is exported with its unit (ms -> s) and that usable ports
// are the range minus the reserved ports inside it.
func TestSysctlsMatchKernel(t *testing.T) {
	nstest.Require(t)
	set := map[string]string{
		"net.ipv4.tcp_fin_timeout":         "23",
		"net.ipv4.tcp_max_tw_buckets":      "77777",
		"net.ipv4.tcp_rfc1337":             "1",
		"net.ipv4.tcp_timestamps":          "2",
		"net.ipv4.tcp_tw_reuse":            "1",
		"net.ipv4.ip_local_port_range":     "46001\t46999",
		"net.ipv4.ip_local_reserved_ports": "1000-1010,46100-46109,46500,46990-47100",
	}
	want := map[string]float64{
		"timewait_sysctl_tcp_fin_timeout_seconds":   23,
		"timewait_sysctl_tcp_max_tw_buckets":        77777,
		"timewait_sysctl_tcp_rfc1337":               1,
		"timewait_sysctl_tcp_timestamps":            2,
		"timewait_sysctl_tcp_tw_reuse":              1,
		"timewait_sysctl_ip_local_port_range_start": 46001,
		"timewait_sysctl_ip_local_port_range_end":   46999,
		// 999 ports, minus 46100-46109 (10), 46500 (1), 46990-46999 (10);
		// 1000-1010 and 47000-47100 are outside the range.
		"timewait_ephemeral_ports_usable": 999 - 21,
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/tcp_tw_reuse_delay"); err == nil {
		set["net.ipv4.tcp_tw_reuse_delay"] = "1234"
		want["timewait_sysctl_tcp_tw_reuse_delay_seconds"] = 1.234
	}
	for k, v := range set {
		setSysctl(t, k, v)
	}
	ms := scrape(t, newTestExporter(t, "/proc", nil))
	for k, v := range want {
		if got := mustValue(t, ms, k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	// What the kernel shows for the reserved list (it normalises it).
	reserved, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_reserved_ports")
	t.Logf("kernel ip_local_reserved_ports = %q", strings.TrimSpace(string(reserved)))
	// tcp_max_orphans is host-wide and only visible in the initial
	// namespace: exported exactly when the file exists.
	_, err := os.Stat("/proc/sys/net/ipv4/tcp_max_orphans")
	if _, ok := ms["timewait_sysctl_tcp_max_orphans"]; ok != (err == nil) {
		t.Errorf("timewait_sysctl_tcp_max_orphans exported %v, file exists %v", ok, err == nil)
	}
	if _, ok := ms["timewait_sysctl_tcp_tw_recycle"]; ok {
		t.Error("tcp_tw_recycle exported on a kernel without it")
	}
}

// TestTimeWaitOverflow lowers tcp_max_tw_buckets to 100 above the TIME_WAIT
// sockets already there, makes 300 more client-closed connections, and
// checks the overflow counter rose by what the kernel counted and by the
// number of connections that did not get a TIME_WAIT socket.
func TestTimeWaitOverflow(t *testing.T) {
	nstest.Require(t)
	const extra, room = 300, 100
	targets := listen(t, lo4, twgen.Ports(22000, 10)...)
	e := newTestExporter(t, "/proc", nil)

	existing := procSockstatTW(t)
	limit := existing + room
	setSysctl(t, "net.ipv4.tcp_max_tw_buckets", fmt.Sprint(limit))
	procBefore := procNetstat(t, "netstat", "TcpExt", "TCPTimeWaitOverflow")
	expBefore := mustValue(t, scrape(t, e), "timewait_tcpext_tcp_time_wait_overflow_total")

	dial(t, targets, extra, twgen.ClientCloses)
	time.Sleep(100 * time.Millisecond)

	procAfter := procNetstat(t, "netstat", "TcpExt", "TCPTimeWaitOverflow")
	ms := scrape(t, e)
	expAfter := mustValue(t, ms, "timewait_tcpext_tcp_time_wait_overflow_total")
	entered := count(ss(t, "state", "time-wait", "( dport >= :22000 and dport <= :22009 )"), func(kernelSocket) bool { return true })
	notEntered := extra - entered
	t.Logf("limit %d (%d already in TIME_WAIT): %d of %d connections entered TIME_WAIT; overflow counter /proc %v -> %v, exporter %v -> %v",
		limit, existing, entered, extra, procBefore, procAfter, expBefore, expAfter)

	if expBefore != procBefore || expAfter != procAfter {
		t.Errorf("exporter overflow %v -> %v, /proc/net/netstat %v -> %v", expBefore, expAfter, procBefore, procAfter)
	}
	if expAfter-expBefore != procAfter-procBefore {
		t.Errorf("exporter rose by %v, kernel by %v", expAfter-expBefore, procAfter-procBefore)
	}
	if !within(expAfter-expBefore, float64(notEntered), 3) {
		t.Errorf("overflow rose by %v, but %d connections did not enter TIME_WAIT", expAfter-expBefore, notEntered)
	}
	// Room for 100 more; a few more fit if older TIME_WAIT sockets of other
	// tests expire meanwhile, but most of the 300 must overflow.
	if entered < room-3 || notEntered < extra/2 {
		t.Errorf("%d entered TIME_WAIT with room for %d", entered, room)
	}
	// The kernel's limit check is not atomic with the allocation (two CPUs
	// can both pass it), so it may overshoot by a socket or two.
	if got := mustValue(t, ms, "timewait_sockstat_tw_sockets"); got > float64(limit+2) {
		t.Errorf("sockstat tw %v above tcp_max_tw_buckets %d", got, limit)
	}
	if got := mustValue(t, ms, "timewait_sysctl_tcp_max_tw_buckets"); got != float64(limit) {
		t.Errorf("timewait_sysctl_tcp_max_tw_buckets %v, set %d", got, limit)
	}
}
