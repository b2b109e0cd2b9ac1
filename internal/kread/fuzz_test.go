// SPDX-License-Identifier: Apache-2.0

//go:build linux

package kread

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/kread/kreadtest"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// Fuzz targets for every proc-file parser of the collectors. Seeds live in
// testdata/fuzz/<Target>; they are the files of a real 6.18 kernel and the
// odd shapes an old, hardened or truncated /proc can give.

// FuzzParseNetstat: never panics; what it returns, with or without an
// error, survives a round trip through the kernel's format.
func FuzzParseNetstat(f *testing.F) {
	for _, s := range []string{kreadtest.SeedNetstat, kreadtest.SeedSnmp, "", "\n", "TcpExt: TW\n", "TcpExt: TW\nTcpExt: 1 2\n",
		"TcpExt: TW\nIpExt: 1\n", "TcpExt TW\nTcpExt 1\n", "TcpExt: TW TW\nTcpExt: 1 2\n", "TcpExt: TW\nTcpExt: x\n",
		"TcpExt: TW\nTcpExt: 18446744073709551615\n", "TcpExt: TW\r\nTcpExt: 1\r\n", kreadtest.SeedNetstat[:len(kreadtest.SeedNetstat)-20]} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// With an error too: what is returned are the well-formed pairs.
		groups, _ := parseNetstat(data)
		if len(groups) == 0 {
			return
		}
		if lines := strings.Count(string(data), "\n") + 1; len(groups) > lines/2 {
			t.Fatalf("%d groups from %d lines", len(groups), lines)
		}
		var b strings.Builder
		names := make([]string, 0, len(groups))
		for g := range groups {
			names = append(names, g)
		}
		sort.Strings(names)
		for _, g := range names {
			if strings.ContainsAny(g, " \t\n\v\f\r") {
				t.Fatalf("group %q contains white space", g)
			}
			var fields []string
			for k := range groups[g] {
				fields = append(fields, k)
			}
			sort.Strings(fields)
			b.WriteString(g + ":")
			for _, k := range fields {
				b.WriteString(" " + k)
			}
			b.WriteString("\n" + g + ":")
			for _, k := range fields {
				b.WriteString(" " + strconv.FormatFloat(groups[g][k], 'g', -1, 64))
			}
			b.WriteString("\n")
		}
		again, err := parseNetstat([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if !equalNetstat(groups, again) {
			t.Fatalf("round trip changed %v into %v", groups, again)
		}
	})
}

func equalNetstat(a, b map[string]map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for g, fa := range a {
		fb, ok := b[g]
		if !ok || len(fa) != len(fb) {
			return false
		}
		for k, va := range fa {
			vb, ok := fb[k]
			if !ok || (va != vb && !(math.IsNaN(va) && math.IsNaN(vb))) {
				return false
			}
		}
	}
	return true
}

// FuzzParseReservedPorts: never panics; accepted lists have ordered ranges,
// stay bounded by the input and survive a round trip; the ephemeral set
// built from them never exceeds the port range.
func FuzzParseReservedPorts(f *testing.F) {
	for _, s := range []string{"", "\n", "8080", "8080,9000-9010\n", "0-65535", "65535-0", "1-2-3", ",", "80,,90",
		"99999", "-", "-5", "5-", " 80 ", "80, 90", "0080", "+80", "32768-60999", "1,2,3,4,5,6,7,8,9,10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := parseReservedPorts(s)
		if err != nil {
			if rs != nil {
				t.Fatal("ranges returned with an error")
			}
			return
		}
		if len(rs) > len(s)/2+1 {
			t.Fatalf("%d ranges from %d bytes", len(rs), len(s))
		}
		items := make([]string, len(rs))
		for i, r := range rs {
			if r.Start > r.End {
				t.Fatalf("range %d-%d accepted", r.Start, r.End)
			}
			items[i] = fmt.Sprintf("%d-%d", r.Start, r.End)
		}
		again, err := parseReservedPorts(strings.Join(items, ","))
		if err != nil || !reflect.DeepEqual(again, rs) {
			t.Fatalf("round trip of %v: %v, %v", rs, again, err)
		}
		sys := &Sysctls{PortRange: model.PortRange{Start: 32768, End: 60999}, Reserved: rs}
		if n := sys.EphemeralPorts().Len(); n < 0 || n > 60999-32768+1 {
			t.Fatalf("%d usable ports", n)
		}
	})
}

// FuzzReadSockstat runs the sockstat path on fixture files: whatever
// /proc/net/sockstat and sockstat6 hold, readSockstat never panics and
// returns the fields the files hold; without an error, all of them.
func FuzzReadSockstat(f *testing.F) {
	f.Add([]byte(kreadtest.SeedSockstat), []byte(kreadtest.SeedSockstat6), true)
	f.Add([]byte(kreadtest.SeedSockstat), []byte(nil), false)
	f.Add([]byte(kreadtest.SeedSockstat), []byte(""), true)
	f.Add([]byte(""), []byte(kreadtest.SeedSockstat6), true)
	f.Add([]byte("TCP: inuse 1 orphan 0 alloc 1 mem 104\n"), []byte(nil), false) // no tw
	f.Add([]byte("TCP: inuse 1 orphan 0 tw\n"), []byte(nil), false)              // truncated
	f.Add([]byte("TCP: inuse 1 orphan 0 tw x\n"), []byte(nil), false)
	f.Add([]byte("TCP: tw 5\n"), []byte("TCP6:\n"), true)
	f.Add([]byte("TCP: inuse -1 tw -3\n"), []byte("TCP6: inuse 99999999999999999999\n"), true)
	f.Add([]byte("TCP inuse 1 tw 2\n"), []byte(nil), false)
	f.Add([]byte("sockets: used\nTCP: tw 1 tw 2\n"), []byte(nil), false)
	dir := f.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v4, v6 []byte, hasV6 bool) {
		kreadtest.Write(t, filepath.Join(dir, "net", "sockstat"), v4)
		v6path := filepath.Join(dir, "net", "sockstat6")
		if hasV6 {
			kreadtest.Write(t, v6path, v6)
		} else if err := os.Remove(v6path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		st, err := ReadSockstat(OwnScope(context.Background(), dir))
		v4Fields := map[string]Optional[int]{"inuse": st.InUse, "orphan": st.Orphan, "tw": st.TimeWait, "alloc": st.Alloc, "mem": st.MemPages}
		for key, v := range v4Fields {
			if v.OK && !strings.Contains(string(v4), key) {
				t.Fatalf("TCP %s = %d, but the file has no %q", key, v.Value, key)
			}
			if !v.OK && err == nil {
				t.Fatalf("no TCP %s and no error", key)
			}
		}
		if !hasV6 && st.InUse6.OK {
			t.Fatal("IPv6 count without sockstat6")
		}
		if hasV6 && !st.InUse6.OK && err == nil {
			t.Fatal("sockstat6 without TCP6 inuse, and no error")
		}
	})
}

// FuzzReadSysctls feeds the port sysctls, the two files the exporter
// parses beyond single integers, through ReadSysctls on a fixture tree:
// what the pressure model gets (ForPressure) is whole and consistent.
func FuzzReadSysctls(f *testing.F) {
	f.Add("32768\t60999\n", "\n", "2\n")
	f.Add("1024 65535\n", "8080,9000-9010\n", "1\n")
	f.Add("60999 32768\n", "", "0")
	f.Add("0 0\n", "0-65535", "-1")
	f.Add("32768\n", "1-2-3", "x")
	f.Add("", "65536", "")
	f.Add("1 2 3\n", "80,,90", "99999999999999999999")
	dir := f.TempDir()
	kreadtest.SysctlTree(f, dir)
	f.Fuzz(func(t *testing.T, portRange, reserved, twReuse string) {
		ipv4 := filepath.Join(dir, "sys", "net", "ipv4")
		kreadtest.Write(t, filepath.Join(ipv4, "ip_local_port_range"), []byte(portRange))
		kreadtest.Write(t, filepath.Join(ipv4, "ip_local_reserved_ports"), []byte(reserved))
		kreadtest.Write(t, filepath.Join(ipv4, "tcp_tw_reuse"), []byte(twReuse))
		sys, err := ForPressure(ReadSysctls(dir))
		if err != nil {
			if sys != nil {
				t.Fatal("pressure sysctls returned with an error")
			}
			return
		}
		r := sys.PortRange
		if r.Start < 1 || r.Start > r.End {
			t.Fatalf("port range %+v accepted", r)
		}
		if n := sys.EphemeralPorts().Len(); n > int(r.End)-int(r.Start)+1 {
			t.Fatalf("%d usable ports in %+v", n, r)
		}
		_ = reusePolicyOf(sys)
	})
}
