// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
)

// TestReadSysctlsWhole reads sysctl files of every length through
// readSysctls on a fixture tree (range 40000-40999): lists past procfs's
// 128 bytes are read whole, and a file the kernel cannot have written (cut
// short, empty, larger than any legal value) fails with an error that says
// so rather than blaming its content.
func TestReadSysctlsWhole(t *testing.T) {
	const ipv4 = "sys/net/ipv4/"
	const lo, hi = 40000, 40999
	usable := func(l kreadtest.ReservedList) int {
		n := 0
		for p := lo; p <= hi; p++ {
			if !l.Ports[p] {
				n++
			}
		}
		return n
	}
	scattered, longest := kreadtest.ScatteredList(), kreadtest.LongestList()
	tests := []struct {
		name       string
		file, data string
		wantUsable int
		wantErr    string
	}{
		{name: "246-byte list", file: "ip_local_reserved_ports", data: scattered.Text + "\n", wantUsable: usable(scattered)},
		{name: "longest legal list", file: "ip_local_reserved_ports", data: longest.Text + "\n", wantUsable: usable(longest)},
		{name: "empty list", file: "ip_local_reserved_ports", data: "\n", wantUsable: hi - lo + 1},
		{name: "list cut inside a number", file: "ip_local_reserved_ports", data: scattered.Text[:128],
			wantErr: "sysctl net.ipv4.ip_local_reserved_ports: 128 bytes without the final newline"},
		{name: "list cut inside a range", file: "ip_local_reserved_ports", data: "1000,40000-4",
			wantErr: "sysctl net.ipv4.ip_local_reserved_ports: 12 bytes without the final newline"},
		{name: "empty file", file: "ip_local_reserved_ports", data: "",
			wantErr: "sysctl net.ipv4.ip_local_reserved_ports: 0 bytes without the final newline"},
		{name: "garbage", file: "ip_local_reserved_ports", data: "\x00\xff\n",
			wantErr: `sysctl net.ipv4.ip_local_reserved_ports: invalid item "\x00\xff"`},
		// Leading zeros (the kernel prints none, but they parse) make a
		// list exactly as long as the first read, then as the cap.
		{name: "exactly the first read", file: "ip_local_reserved_ports",
			data:       strings.Repeat("0", firstRead-1-len(scattered.Text)) + scattered.Text + "\n",
			wantUsable: usable(scattered)},
		{name: "one byte over the first read", file: "ip_local_reserved_ports",
			data:       strings.Repeat("0", firstRead-len(scattered.Text)) + scattered.Text + "\n",
			wantUsable: usable(scattered)},
		{name: "exactly the cap", file: "ip_local_reserved_ports",
			data:       strings.Repeat("0", maxSysctlBytes-1-len(longest.Text)) + longest.Text + "\n",
			wantUsable: usable(longest)},
		{name: "one byte over the cap", file: "ip_local_reserved_ports", data: strings.Repeat("1", maxSysctlBytes) + "\n",
			wantErr: "larger than 262144 bytes"},
		{name: "far over the cap", file: "ip_local_reserved_ports", data: strings.Repeat("80,", 1<<20) + "80\n",
			wantErr: "larger than 262144 bytes"},
		{name: "integer cut short", file: "tcp_max_tw_buckets", data: "2621",
			wantErr: "sysctl net.ipv4.tcp_max_tw_buckets: 4 bytes without the final newline"},
		{name: "integer out of range", file: "tcp_max_tw_buckets", data: "99999999999999999999\n",
			wantErr: `sysctl net.ipv4.tcp_max_tw_buckets: field 1 "99999999999999999999" is not an integer`},
		{name: "port range without newline", file: "ip_local_port_range", data: "40000\t40999",
			wantErr: "sysctl net.ipv4.ip_local_port_range: 11 bytes without the final newline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := kreadtest.CopyTree(t, kreadtest.Proc)
			kreadtest.WriteFile(t, root, filepath.Join(ipv4, tc.file), []byte(tc.data))
			sys, err := ReadSysctls(root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%d bytes: error %v, want one containing %q", len(tc.data), err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%d bytes: %v", len(tc.data), err)
			}
			if got := sys.EphemeralPorts().Len(); got != tc.wantUsable {
				t.Errorf("%d bytes: %d usable ports, want %d", len(tc.data), got, tc.wantUsable)
			}
		})
	}
}
