package collector

import (
	"strconv"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/nstest"
	"golang.org/x/sys/unix"
)

// reservedList is a reserved-port list in the kernel's own form (runs in
// ascending order, "a" or "a-b", none adjacent), with its ports.
type reservedList struct {
	text  string
	ports map[int]bool
}

// runsList builds a reservedList from inclusive runs.
func runsList(runs [][2]int) reservedList {
	l := reservedList{ports: map[int]bool{}}
	items := make([]string, 0, len(runs))
	for _, r := range runs {
		item := strconv.Itoa(r[0])
		if r[1] != r[0] {
			item += "-" + strconv.Itoa(r[1])
		}
		items = append(items, item)
		for p := r[0]; p <= r[1]; p++ {
			l.ports[p] = true
		}
	}
	l.text = strings.Join(items, ",")
	return l
}

// scatteredList is `seq -s, 40001 2 40081`: 41 ports, 246 bytes as the
// kernel prints them, each its own entry.
func scatteredList() reservedList {
	var runs [][2]int
	for p := 40001; p <= 40081; p += 2 {
		runs = append(runs, [2]int{p, p})
	}
	return runsList(runs)
}

// longestList is the longest list the kernel can print: every port but
// those ≡ 1 (mod 3), i.e. "0,2-3,5-6,…,65534-65535", two-port runs with
// one-port gaps (maxSysctlBytes explains why no list is longer).
func longestList() reservedList {
	runs := [][2]int{{0, 0}}
	for p := 2; p < 65536; p += 3 {
		runs = append(runs, [2]int{p, p + 1})
	}
	return runsList(runs)
}

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
		list reservedList
	}{
		{"41 scattered ports", scatteredList()},
		{"longest legal list", longestList()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setSysctl(t, "net.ipv4.ip_local_port_range", strconv.Itoa(lo)+" "+strconv.Itoa(hi))
			setSysctl(t, "net.ipv4.ip_local_reserved_ports", tc.list.text)
			if back := readSysctlRaw(t, "net.ipv4.ip_local_reserved_ports"); back != tc.list.text+"\n" {
				t.Fatalf("setup: the kernel holds a %d-byte list, not the %d bytes written", len(back), len(tc.list.text)+1)
			}
			want := 0
			for p := lo; p <= hi; p++ {
				if !tc.list.ports[p] {
					want++
				}
			}
			ms := scrape(t, newTestExporter(t, "/proc", nil))
			if got := mustValue(t, ms, `timewait_scrape_collector_success{collector="sysctl"}`); got != 1 {
				t.Fatalf("sysctl collector failed with a %d-byte reserved list", len(tc.list.text)+1)
			}
			got := mustValue(t, ms, "timewait_ephemeral_ports_usable")
			t.Logf("%d-byte list, %d reserved ports: usable %v, want %d", len(tc.list.text)+1, len(tc.list.ports), got, want)
			if got != float64(want) {
				t.Errorf("timewait_ephemeral_ports_usable %v, want %d", got, want)
			}
		})
	}
	if after := readSysctlRaw(t, "net.ipv4.ip_local_reserved_ports"); after != before {
		t.Errorf("ip_local_reserved_ports not restored: %d bytes, was %q", len(after), before)
	}
}
