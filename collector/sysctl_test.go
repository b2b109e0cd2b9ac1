// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fixtureSysctls are the values the sysctl collector should export from
// the fixture: each "sysctl <key>" row's file as it is, times its scale
// (so a new row needs only its fixture file), and the port rows.
func fixtureSysctls(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{
		"timewait_sysctl_ip_local_port_range_start": 40000,
		"timewait_sysctl_ip_local_port_range_end":   40999,
		"timewait_ephemeral_ports_usable":           989,
	}
	for _, m := range rowsOf("sysctl") {
		f := m.sourceFields("sysctl")
		if f == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(fixtureProc, "sys", strings.ReplaceAll(f[1], ".", "/")))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		if err != nil {
			t.Fatalf("fixture of %s: %v", m.Name, err)
		}
		out[m.Name] = v * m.scale()
	}
	return out
}

func TestSysctlCollectorFixture(t *testing.T) {
	const dir = "sys/net/ipv4/"
	base := fixtureSysctls(t)
	with := func(changes map[string]float64, drop ...string) map[string]float64 {
		out := map[string]float64{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		for _, k := range drop {
			delete(out, k)
		}
		return out
	}
	portSeries := []string{"timewait_sysctl_ip_local_port_range_start", "timewait_sysctl_ip_local_port_range_end", "timewait_ephemeral_ports_usable"}
	tests := []struct {
		name    string
		files   map[string]string // rel path -> content; "" removes the file
		want    map[string]float64
		wantErr string
	}{
		{name: "fixture", want: base},
		{name: "old kernel: no tcp_tw_reuse_delay, has tcp_tw_recycle",
			files: map[string]string{dir + "tcp_tw_reuse_delay": "", dir + "tcp_tw_recycle": "0\n"},
			want:  with(map[string]float64{"timewait_sysctl_tcp_tw_recycle": 0}, "timewait_sysctl_tcp_tw_reuse_delay_seconds")},
		{name: "non-initial namespace: no tcp_max_orphans",
			files: map[string]string{dir + "tcp_max_orphans": ""},
			want:  with(nil, "timewait_sysctl_tcp_max_orphans")},
		{name: "no reserved ports", files: map[string]string{dir + "ip_local_reserved_ports": "\n"},
			want: with(map[string]float64{"timewait_ephemeral_ports_usable": 1000})},
		{name: "whole range reserved", files: map[string]string{dir + "ip_local_reserved_ports": "1-65535\n"},
			want: with(map[string]float64{"timewait_ephemeral_ports_usable": 0})},
		// A sysctl that cannot be read fails alone: the others are exported.
		{name: "required sysctl missing", files: map[string]string{dir + "tcp_fin_timeout": ""},
			want: with(nil, "timewait_sysctl_tcp_fin_timeout_seconds"), wantErr: "read sysctl net.ipv4.tcp_fin_timeout"},
		{name: "non-integer sysctl", files: map[string]string{dir + "tcp_max_tw_buckets": "lots\n"},
			want: with(nil, "timewait_sysctl_tcp_max_tw_buckets"), wantErr: "read sysctl net.ipv4.tcp_max_tw_buckets"},
		{name: "two values where one is expected", files: map[string]string{dir + "tcp_tw_reuse": "1 2\n"},
			want: with(nil, "timewait_sysctl_tcp_tw_reuse"), wantErr: "sysctl net.ipv4.tcp_tw_reuse: want one integer, got 2"},
		{name: "inverted port range", files: map[string]string{dir + "ip_local_port_range": "5000\t4000\n"},
			want: with(nil, portSeries...), wantErr: "invalid range 5000-4000"},
		{name: "one-value port range", files: map[string]string{dir + "ip_local_port_range": "5000\n"},
			want: with(nil, portSeries...), wantErr: "want two ports, got 1 values"},
		{name: "bad reserved ports", files: map[string]string{dir + "ip_local_reserved_ports": "80-\n"},
			want: with(nil, portSeries...), wantErr: "sysctl net.ipv4.ip_local_reserved_ports: invalid item"},
		{name: "no procfs at all", files: map[string]string{"sys": ""},
			want: map[string]float64{}, wantErr: "read sysctl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, fixtureProc)
			for rel, content := range tc.files {
				if content == "" {
					if err := os.RemoveAll(filepath.Join(root, rel)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				writeFile(t, root, rel, []byte(content))
			}
			got, err := runOne(t, newSysctlCollector, Options{}, root)
			checkRun(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func without(m map[string]float64, keys ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// TestSysctlOptionalRowsNeverFail: a kernel without an optional sysctl
// (each row declared Optional, its file removed) exports the others and
// reports no error.
func TestSysctlOptionalRowsNeverFail(t *testing.T) {
	for _, m := range rowsOf("sysctl") {
		f := m.sourceFields("sysctl")
		if !m.Optional || f == nil {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			root := copyTree(t, fixtureProc)
			if err := os.RemoveAll(filepath.Join(root, "sys", strings.ReplaceAll(f[1], ".", "/"))); err != nil {
				t.Fatal(err)
			}
			got, err := runOne(t, newSysctlCollector, Options{}, root)
			checkRun(t, got, err, without(fixtureSysctls(t), m.Name), "")
		})
	}
}
