// SPDX-License-Identifier: Apache-2.0

package kread

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

	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

func TestParseNetstat(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(kreadtest.Proc, "net", "netstat"))
	if err != nil {
		t.Fatal(err)
	}
	snmp, err := os.ReadFile(filepath.Join(kreadtest.Proc, "net", "snmp"))
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
		want    []model.PortRange
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "\n", want: nil},
		{in: "8080", want: []model.PortRange{{Start: 8080, End: 8080}}},
		{in: "8080,9000-9010\n", want: []model.PortRange{{Start: 8080, End: 8080}, {Start: 9000, End: 9010}}},
		{in: "1-65535", want: []model.PortRange{{Start: 1, End: 65535}}},
		{in: "0", want: []model.PortRange{{Start: 0, End: 0}}},
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
		want    model.PortRange
		wantErr bool
	}{
		{in: []int64{32768, 60999}, want: model.PortRange{Start: 32768, End: 60999}},
		{in: []int64{1, 65535}, want: model.PortRange{Start: 1, End: 65535}},
		{in: []int64{5000, 5000}, want: model.PortRange{Start: 5000, End: 5000}},
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

func TestEphemeralPorts(t *testing.T) {
	// EphemeralPorts: range minus the reserved ports inside it; reserved
	// ports outside the range change nothing.
	s := &Sysctls{PortRange: model.PortRange{Start: 40000, End: 40999}, Reserved: []model.PortRange{{Start: 40010, End: 40019}, {Start: 40500, End: 40500}, {Start: 50000, End: 50100}, {Start: 1, End: 39999}}}
	if n := s.EphemeralPorts().Len(); n != 989 {
		t.Fatalf("EphemeralPorts().Len() = %d, want 989", n)
	}
	s.Reserved = append(s.Reserved, model.PortRange{Start: 40995, End: 41005}) // straddles the end
	if n := s.EphemeralPorts().Len(); n != 984 {
		t.Fatalf("EphemeralPorts().Len() = %d, want 984", n)
	}
}

// TestReadSysctlsFixture reads a fixture tree.
func TestReadSysctlsFixture(t *testing.T) {
	sys, err := ReadSysctls(kreadtest.Proc)
	if err != nil {
		t.Fatal(err)
	}
	want := Sysctls{
		TCPTwReuse: 0, TCPTwReuseDelay: Some[int64](250), TCPFinTimeout: 37,
		TCPMaxTwBuckets: 54321, TCPTimestamps: 1, TCPRFC1337: 1,
		TCPMaxOrphans: Some[int64](8192), TCPEhashEntries: Some[int64](262144),
		PortRange: sys.PortRange, Reserved: sys.Reserved, // checked below
	}
	if !reflect.DeepEqual(*sys, want) {
		t.Errorf("Sysctls = %+v, want %+v", *sys, want)
	}
	if sys.PortRange != (model.PortRange{Start: 40000, End: 40999}) {
		t.Errorf("model.PortRange = %v", sys.PortRange)
	}
	if want := []model.PortRange{{Start: 40010, End: 40019}, {Start: 40500, End: 40500}, {Start: 50000, End: 50100}}; !reflect.DeepEqual(sys.Reserved, want) {
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
	s := OwnScope(context.Background(), kreadtest.Proc)
	if got := s.NetFile("sockstat"); got != filepath.Join(kreadtest.Proc, "net", "sockstat") {
		t.Errorf("own scope netFile = %s", got)
	}
	ts := ThreadScope(context.Background(), "/proc", 1234, "ns1")
	if got, want := ts.NetFile("snmp"), filepath.Join("/proc", strconv.Itoa(os.Getpid()), "task", "1234", "net", "snmp"); got != want {
		t.Errorf("thread scope netFile = %s, want %s", got, want)
	}
}
