// SPDX-License-Identifier: Apache-2.0

package kernel

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/kernel/kerneltest"
)

func TestParseNetstat(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(kerneltest.Proc, "net", "netstat"))
	if err != nil {
		t.Fatal(err)
	}
	snmp, err := os.ReadFile(filepath.Join(kerneltest.Proc, "net", "snmp"))
	if err != nil {
		t.Fatal(err)
	}
	type groups = map[string]map[string]float64
	tests := []struct {
		name    string
		data    string
		want    groups   // these fields must be there, with these values
		kept    []string // if set, exactly these groups are returned
		wantErr string   // "-": any error
	}{
		{name: "kernel netstat", data: string(good), want: groups{
			"TcpExt": {"TW": 123456, "TWRecycled": 789, "TWKilled": 12, "TCPTimeWaitOverflow": 3456},
			"IpExt":  {"InNoRoutes": 0},
		}, kept: []string{"IpExt", "MPTcpExt", "TcpExt"}},
		{name: "kernel snmp with negative MaxConn", data: string(snmp), want: groups{
			"Tcp": {"ActiveOpens": 1001, "PassiveOpens": 2002, "CurrEstab": 33, "MaxConn": -1},
		}},
		{name: "unknown extra TcpExt field is kept",
			data: "TcpExt: TW TWRecycled TCPFutureField2099 TCPTimeWaitOverflow\nTcpExt: 5 6 7 8\n",
			want: groups{"TcpExt": {"TW": 5, "TWRecycled": 6, "TCPFutureField2099": 7, "TCPTimeWaitOverflow": 8}}},
		{name: "no trailing newline", data: "TcpExt: TW\nTcpExt: 9",
			want: groups{"TcpExt": {"TW": 9}}},
		{name: "big counter", data: "TcpExt: TW\nTcpExt: 18446744073709551615\n",
			want: groups{"TcpExt": {"TW": 18446744073709551615}}},
		// Broken files: what comes before the break, or outside the broken
		// pair, is kept.
		{name: "truncated after a header (odd lines)", data: "TcpExt: TW TWKilled\nTcpExt: 1 2\nIpExt: InNoRoutes\n",
			want: groups{"TcpExt": {"TW": 1, "TWKilled": 2}}, kept: []string{"TcpExt"},
			wantErr: "line 3: IpExt: header without values: file truncated"},
		{name: "kernel file cut in the middle", data: string(good[:len(good)/2]), wantErr: "-"},
		{name: "empty file", data: "", kept: []string{}, wantErr: "empty file"},
		{name: "more names than values, then a good pair", data: "TcpExt: TW TWKilled TWRecycled\nTcpExt: 1 2\nIpExt: InNoRoutes\nIpExt: 7\n",
			want: groups{"IpExt": {"InNoRoutes": 7}}, kept: []string{"IpExt"},
			wantErr: "line 2: 3 TcpExt names but 2 values"},
		{name: "more values than names", data: "TcpExt: TW\nTcpExt: 1 2\n", kept: []string{},
			wantErr: "line 2: 1 TcpExt names but 2 values"},
		{name: "non-numeric value loses only its field", data: "TcpExt: TW TWKilled TWRecycled\nTcpExt: 1 x2 3\n",
			want:    groups{"TcpExt": {"TW": 1, "TWRecycled": 3}},
			wantErr: `line 2: TcpExt TWKilled: strconv.ParseFloat: parsing "x2"`},
		{name: "negative counter loses only its field", data: "TcpExt: TW TCPTimeWaitOverflow\nTcpExt: 1 -3\n",
			want:    groups{"TcpExt": {"TW": 1}},
			wantErr: "line 2: TcpExt TCPTimeWaitOverflow: -3: not a value the kernel prints"},
		{name: "values of another group", data: "TcpExt: TW\nIpExt: 1\n", kept: []string{},
			wantErr: "line 2: values do not follow their TcpExt: header"},
		{name: "pairs swapped across groups", data: "TcpExt: TW\nTcpExt: 1\nIpExt: InNoRoutes\nTcpExt: 2\n",
			want: groups{"TcpExt": {"TW": 1}}, kept: []string{"TcpExt"},
			wantErr: "line 4: values do not follow their IpExt: header"},
		{name: "header without colon", data: "TcpExt TW\nTcpExt 1\n", kept: []string{},
			wantErr: `line 1: want a "Group:" header`},
		{name: "empty values line", data: "TcpExt: TW\n\nIpExt: InNoRoutes\nIpExt: 0\n", kept: []string{},
			wantErr: "line 2: values do not follow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseNetstat([]byte(tc.data))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("want error %q, got none (%v)", tc.wantErr, got)
			case tc.wantErr != "" && tc.wantErr != "-" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
			for group, fields := range tc.want {
				if len(got[group]) != len(fields) && tc.wantErr != "" {
					t.Errorf("%s: %d fields kept, want %d", group, len(got[group]), len(fields))
				}
				for field, want := range fields {
					v, ok := got[group][field]
					if !ok || v != want {
						t.Errorf("%s %s = %v (present %v), want %v", group, field, v, ok, want)
					}
				}
			}
			if tc.kept != nil {
				if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, tc.kept) {
					t.Errorf("groups %q, want %q", names, tc.kept)
				}
			}
		})
	}
}

func TestParseReservedPorts(t *testing.T) {
	tests := []struct {
		in      string
		want    []PortRange
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "\n", want: nil},
		{in: "8080", want: []PortRange{{8080, 8080}}},
		{in: "8080,9000-9010\n", want: []PortRange{{8080, 8080}, {9000, 9010}}},
		{in: "1-65535", want: []PortRange{{1, 65535}}},
		{in: "0", want: []PortRange{{0, 0}}},
		{in: "9010-9000", wantErr: true},
		{in: "65536", wantErr: true},
		{in: "80,,443", wantErr: true},
		{in: "80,", wantErr: true},
		{in: "a-b", wantErr: true},
		{in: "1-2-3", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "80 443", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseReservedPorts(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseReservedPorts(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseReservedPorts(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestPortRangeFromInts(t *testing.T) {
	tests := []struct {
		in      []int64
		want    PortRange
		wantErr bool
	}{
		{in: []int64{32768, 60999}, want: PortRange{32768, 60999}},
		{in: []int64{1, 65535}, want: PortRange{1, 65535}},
		{in: []int64{5000, 5000}, want: PortRange{5000, 5000}},
		{in: []int64{0, 100}, wantErr: true},
		{in: []int64{100, 65536}, wantErr: true},
		{in: []int64{2000, 1000}, wantErr: true},
		{in: []int64{1000}, wantErr: true},
		{in: []int64{1000, 2000, 3000}, wantErr: true},
		{in: nil, wantErr: true},
	}
	for _, tc := range tests {
		got, err := portRangeFromInts(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("portRangeFromInts(%v) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestPortSet(t *testing.T) {
	var p PortSet
	if p.Len() != 0 || p.Has(0) || p.Has(65535) {
		t.Fatal("zero PortSet is not empty")
	}
	p.AddRange(PortRange{1, 65535})
	if p.Len() != 65535 || p.Has(0) || !p.Has(1) || !p.Has(65535) {
		t.Fatalf("full range: Len %d Has(0) %v Has(65535) %v", p.Len(), p.Has(0), p.Has(65535))
	}
	p = PortSet{}
	p.AddRange(PortRange{63, 128}) // crosses two word boundaries
	if p.Len() != 66 || p.Has(62) || !p.Has(63) || !p.Has(64) || !p.Has(127) || !p.Has(128) || p.Has(129) {
		t.Fatalf("63-128: Len %d", p.Len())
	}
	p.RemoveRange(PortRange{64, 127})
	if p.Len() != 2 || !p.Has(63) || p.Has(64) || p.Has(127) || !p.Has(128) {
		t.Fatalf("after removing 64-127: Len %d", p.Len())
	}
	p.RemoveRange(PortRange{1000, 2000}) // outside: no-op
	p.AddRange(PortRange{63, 63})        // already there: no-op
	if p.Len() != 2 {
		t.Fatalf("Len %d, want 2", p.Len())
	}
	p.AddRange(PortRange{65535, 65535}) // the loop must stop at the top port
	if p.Len() != 3 || !p.Has(65535) {
		t.Fatalf("65535: Len %d", p.Len())
	}

	// EphemeralPorts: range minus the reserved ports inside it; reserved
	// ports outside the range change nothing.
	s := &Sysctls{PortRange: PortRange{40000, 40999}, Reserved: []PortRange{{40010, 40019}, {40500, 40500}, {50000, 50100}, {1, 39999}}}
	if n := s.EphemeralPorts().Len(); n != 989 {
		t.Fatalf("EphemeralPorts().Len() = %d, want 989", n)
	}
	s.Reserved = append(s.Reserved, PortRange{40995, 41005}) // straddles the end
	if n := s.EphemeralPorts().Len(); n != 984 {
		t.Fatalf("EphemeralPorts().Len() = %d, want 984", n)
	}
}

// TestReadSysctlsFixture reads a fixture tree.
func TestReadSysctlsFixture(t *testing.T) {
	sys, err := ReadSysctls(kerneltest.Proc)
	if err != nil {
		t.Fatal(err)
	}
	want := Sysctls{
		TCPTwReuse: 0, TCPTwReuseDelay: Optional{250, true}, TCPFinTimeout: 37,
		TCPMaxTwBuckets: 54321, TCPTimestamps: 1, TCPRFC1337: 1,
		TCPMaxOrphans: Optional{8192, true},
		PortRange:     sys.PortRange, Reserved: sys.Reserved, // checked below
	}
	if !reflect.DeepEqual(*sys, want) {
		t.Errorf("Sysctls = %+v, want %+v", *sys, want)
	}
	if sys.PortRange != (PortRange{40000, 40999}) {
		t.Errorf("PortRange = %v", sys.PortRange)
	}
	if want := []PortRange{{40010, 40019}, {40500, 40500}, {50000, 50100}}; !reflect.DeepEqual(sys.Reserved, want) {
		t.Errorf("Reserved = %v, want %v", sys.Reserved, want)
	}
	p := reusePolicyOf(sys)
	if p.Mode != 0 || !p.Timestamps || p.Delay.Milliseconds() != 250 {
		t.Errorf("reusePolicyOf = %+v", p)
	}
}

// TestScopeFixturePaths checks the Scope plumbing the collectors rely on:
// the own namespace reads <procPath>/net, a thread's reads its task dir.
func TestScopeFixturePaths(t *testing.T) {
	s := OwnScope(context.Background(), kerneltest.Proc)
	if got := s.NetFile("sockstat"); got != filepath.Join(kerneltest.Proc, "net", "sockstat") {
		t.Errorf("own scope netFile = %s", got)
	}
	ts := ThreadScope(context.Background(), "/proc", 1234, "ns1")
	if got, want := ts.NetFile("snmp"), filepath.Join("/proc", strconv.Itoa(os.Getpid()), "task", "1234", "net", "snmp"); got != want {
		t.Errorf("thread scope netFile = %s, want %s", got, want)
	}
	// Sysctls are read once per scope: a file changed afterwards is not
	// seen by the same scope, but is by the next one.
	root := kerneltest.CopyTree(t, kerneltest.Proc)
	s = OwnScope(context.Background(), root)
	first, err := s.Sysctls()
	if err != nil {
		t.Fatal(err)
	}
	kerneltest.WriteFile(t, root, "sys/net/ipv4/tcp_fin_timeout", []byte("5\n"))
	again, _ := s.Sysctls()
	if again != first || again.TCPFinTimeout != 37 {
		t.Errorf("same scope re-read the sysctls")
	}
	next, err := OwnScope(context.Background(), root).Sysctls()
	if err != nil || next.TCPFinTimeout != 5 {
		t.Errorf("new scope: %v, %v", next, err)
	}
}
