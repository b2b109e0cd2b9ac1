// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"strconv"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"golang.org/x/sys/unix"
)

// readSysctlRaw reads a /proc/sys file with one read() into a buffer far
// larger than any sysctl: an independent view of what the kernel holds.
func readSysctlRaw(t *testing.T, key string) string {
	t.Helper()
	fd, err := unix.Open("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 1<<20)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestReservedPortsLongList writes reserved lists longer than 128 bytes to
// the namespace's real ip_local_reserved_ports and checks the exporter's
// usable count against one computed from the written ports and the range,
// then checks the list is restored for the tests that follow.
func TestReservedPortsLongList(t *testing.T) {
	nstest.Require(t)
	const lo, hi = 32768, 60999 // the kernel's default range
	before := readSysctlRaw(t, "net.ipv4.ip_local_reserved_ports")
	for _, tc := range []struct {
		name string
		list kreadtest.ReservedList
	}{
		{"41 scattered ports", kreadtest.ScatteredList()},
		{"longest legal list", kreadtest.LongestList()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setSysctl(t, "net.ipv4.ip_local_port_range", strconv.Itoa(lo)+" "+strconv.Itoa(hi))
			setSysctl(t, "net.ipv4.ip_local_reserved_ports", tc.list.Text)
			if back := readSysctlRaw(t, "net.ipv4.ip_local_reserved_ports"); back != tc.list.Text+"\n" {
				t.Fatalf("setup: the kernel holds a %d-byte list, not the %d bytes written", len(back), len(tc.list.Text)+1)
			}
			want := 0
			for p := lo; p <= hi; p++ {
				if !tc.list.Ports[p] {
					want++
				}
			}
			ms := scrape(t, newTestExporter(t, "/proc", nil))
			if got := mustValue(t, ms, `timewait_scrape_collector_success{collector="sysctl"}`); got != 1 {
				t.Fatalf("sysctl collector failed with a %d-byte reserved list", len(tc.list.Text)+1)
			}
			got := mustValue(t, ms, "timewait_ephemeral_ports_usable")
			t.Logf("%d-byte list, %d reserved ports: usable %v, want %d", len(tc.list.Text)+1, len(tc.list.Ports), got, want)
			if got != float64(want) {
				t.Errorf("timewait_ephemeral_ports_usable %v, want %d", got, want)
			}
		})
	}
	if after := readSysctlRaw(t, "net.ipv4.ip_local_reserved_ports"); after != before {
		t.Errorf("ip_local_reserved_ports not restored: %d bytes, was %q", len(after), before)
	}
}
