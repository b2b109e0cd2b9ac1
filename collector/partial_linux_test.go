// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
)

// Partial files: a netstat, snmp or sockstat file that lacks fields or is
// broken in part gives every metric it holds, whatever the order of its
// fields; the collector then reports success 0 with one error naming what
// is missing, logged once however many scrapes repeat it.

// partialCase is one fixture tree, edited, and what the collector must
// give for it.
type partialCase struct {
	name string
	// edit changes the fixture: net/<file> -> its new content (nil
	// removes the file).
	edit map[string][]byte
	// want is every sample the collector gives, by seriesKey, without
	// timewait_scrape_collector_*.
	want map[string]float64
	// errs are parts of the one error logged; none means success 1 and
	// nothing logged.
	errs []string
}

// checkPartial runs one collector in an Exporter of its own against each
// case's tree, three scrapes, and compares the last one and the log.
func checkPartial(t *testing.T, collector string, tests []partialCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, fixtureProc)
			for rel, content := range tc.edit {
				writeFile(t, root, rel, content)
			}
			e, log := faultExporter(t, root)
			e.collectors = map[string]Collector{collector: e.collectors[collector]}
			const scrapes = 3
			var got map[string]float64
			for range scrapes {
				got = scrape(t, e)
			}
			success := `timewait_scrape_collector_success{collector="` + collector + `"}`
			wantSuccess := 1.0
			if len(tc.errs) > 0 {
				wantSuccess = 0
			}
			if v := mustValue(t, got, success); v != wantSuccess {
				t.Errorf("success = %v, want %v; log:\n%s", v, wantSuccess, log)
			}
			delete(got, success)
			delete(got, `timewait_scrape_collector_duration_seconds{collector="`+collector+`"}`)
			if !maps.Equal(got, tc.want) {
				t.Errorf("emitted:\n  %s\nwant:\n  %s", sortedKeys(got), sortedKeys(tc.want))
			}
			errLines := grepLines(log.String(), `level=ERROR msg="collector failed"`)
			if len(tc.errs) == 0 {
				if len(errLines) != 0 {
					t.Errorf("logged %q", errLines)
				}
				return
			}
			if len(errLines) != 1 {
				t.Fatalf("%d error lines over %d scrapes, want 1:\n%s", len(errLines), scrapes, log)
			}
			for _, want := range tc.errs {
				if !strings.Contains(errLines[0], want) {
					t.Errorf("error line %s\ndoes not say %q", errLines[0], want)
				}
			}
			if n := log.count(`msg="collector still failing"`); n != scrapes-1 {
				t.Errorf("%d debug repeats, want %d", n, scrapes-1)
			}
		})
	}
}

func grepLines(s, substr string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

func sortedKeys(m map[string]float64) string {
	var out []string
	for k, v := range m {
		out = append(out, k+" "+strconv.FormatFloat(v, 'g', -1, 64))
	}
	slices.Sort(out)
	return strings.Join(out, "\n  ")
}

// fixtureFile returns a file of the fixture tree.
func fixtureFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureProc, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// editPair rewrites the name and value lines of group in a netstat/snmp
// file: fn gets the fields after the group prefix, by name, in file order,
// and returns the fields to write back, in that order.
func editPair(t *testing.T, data []byte, group string, fn func(names []string) []string) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if names[0] != group+":" {
			continue
		}
		value := map[string]string{}
		for j := 1; j < len(names); j++ {
			value[names[j]] = values[j]
		}
		keep := fn(names[1:])
		newValues := make([]string, len(keep))
		for j, n := range keep {
			newValues[j] = value[n]
		}
		lines[i] = strings.Join(append([]string{names[0]}, keep...), " ")
		lines[i+1] = strings.Join(append([]string{names[0]}, newValues...), " ")
		return []byte(strings.Join(lines, "\n") + "\n")
	}
	t.Fatalf("no %s group", group)
	return nil
}

// dropping returns an editPair function that leaves out the given fields.
func dropping(fields ...string) func([]string) []string {
	return func(names []string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(fields, n) })
	}
}

func with(m, changes map[string]float64) map[string]float64 {
	out := maps.Clone(m)
	maps.Copy(out, changes)
	return out
}

func reversed(names []string) []string {
	out := slices.Clone(names)
	slices.Reverse(out)
	return out
}

func TestNetstatPartialFiles(t *testing.T) {
	netstat, snmp := fixtureFile(t, "net/netstat"), fixtureFile(t, "net/snmp")
	all := map[string]float64{
		"timewait_tcpext_tw_total":                     123456,
		"timewait_tcpext_tw_recycled_total":            789,
		"timewait_tcpext_tw_killed_total":              12,
		"timewait_tcpext_tcp_time_wait_overflow_total": 3456,
		"timewait_tcp_active_opens_total":              1001,
		"timewait_tcp_passive_opens_total":             2002,
		"timewait_tcp_current_established":             33,
	}
	tcpExt := []string{"timewait_tcpext_tw_total", "timewait_tcpext_tw_recycled_total",
		"timewait_tcpext_tw_killed_total", "timewait_tcpext_tcp_time_wait_overflow_total"}
	tcp := []string{"timewait_tcp_active_opens_total", "timewait_tcp_passive_opens_total", "timewait_tcp_current_established"}
	ns := func(fn func([]string) []string) map[string][]byte {
		return map[string][]byte{"net/netstat": editPair(t, netstat, "TcpExt", fn)}
	}
	sn := func(fn func([]string) []string) map[string][]byte {
		return map[string][]byte{"net/snmp": editPair(t, snmp, "Tcp", fn)}
	}
	lines := strings.SplitAfter(string(netstat), "\n")
	tcpExtPair := lines[0] + lines[1]
	checkPartial(t, "netstat", []partialCase{
		{name: "fixture", want: all},
		{name: "TcpExt fields reversed", edit: ns(reversed), want: all},
		{name: "Tcp fields reversed", edit: sn(reversed), want: all},
		// The missing field first, in the middle and last of the table.
		{name: "no TW", edit: ns(dropping("TW")),
			want: without(all, "timewait_tcpext_tw_total"),
			errs: []string{"net/netstat has no TcpExt TW"}},
		{name: "no TWKilled", edit: ns(dropping("TWKilled")),
			want: without(all, "timewait_tcpext_tw_killed_total"),
			errs: []string{"net/netstat has no TcpExt TWKilled"}},
		{name: "no TCPTimeWaitOverflow", edit: ns(dropping("TCPTimeWaitOverflow")),
			want: without(all, "timewait_tcpext_tcp_time_wait_overflow_total"),
			errs: []string{"net/netstat has no TcpExt TCPTimeWaitOverflow"}},
		{name: "no TCPTimeWaitOverflow, fields reversed", edit: ns(func(n []string) []string { return reversed(dropping("TCPTimeWaitOverflow")(n)) }),
			want: without(all, "timewait_tcpext_tcp_time_wait_overflow_total"),
			errs: []string{"net/netstat has no TcpExt TCPTimeWaitOverflow"}},
		{name: "no TW and no TCPTimeWaitOverflow", edit: ns(dropping("TW", "TCPTimeWaitOverflow")),
			want: without(all, "timewait_tcpext_tw_total", "timewait_tcpext_tcp_time_wait_overflow_total"),
			errs: []string{"net/netstat has no TcpExt TW, TcpExt TCPTimeWaitOverflow"}},
		{name: "no TcpExt group", edit: map[string][]byte{"net/netstat": []byte("IpExt: InNoRoutes\nIpExt: 0\n")},
			want: without(all, tcpExt...),
			errs: []string{"net/netstat has no TcpExt TW, TcpExt TWRecycled, TcpExt TWKilled, TcpExt TCPTimeWaitOverflow"}},
		{name: "no ActiveOpens", edit: sn(dropping("ActiveOpens")),
			want: without(all, "timewait_tcp_active_opens_total"),
			errs: []string{"net/snmp has no Tcp ActiveOpens"}},
		{name: "no CurrEstab, Tcp fields reversed", edit: sn(func(n []string) []string { return reversed(dropping("CurrEstab")(n)) }),
			want: without(all, "timewait_tcp_current_established"),
			errs: []string{"net/snmp has no Tcp CurrEstab"}},
		{name: "netstat missing", edit: map[string][]byte{"net/netstat": nil},
			want: without(all, tcpExt...), errs: []string{"net/netstat: no such file"}},
		{name: "snmp missing", edit: map[string][]byte{"net/snmp": nil},
			want: without(all, tcp...), errs: []string{"net/snmp: no such file"}},
		{name: "netstat cut after the TcpExt pair", edit: map[string][]byte{"net/netstat": []byte(tcpExtPair + "IpExt: InNoRoutes InTruncatedPkts\n")},
			want: all, errs: []string{"line 3: IpExt: header without values: file truncated"}},
		{name: "TcpExt values cut short", edit: map[string][]byte{"net/netstat": []byte("TcpExt: TW TWRecycled TWKilled TCPTimeWaitOverflow\nTcpExt: 1 2 3\n")},
			want: without(all, tcpExt...),
			errs: []string{"line 2: 4 TcpExt names but 3 values", "has no TcpExt TW, TcpExt TWRecycled"}},
		{name: "PassiveOpens not a number", edit: map[string][]byte{"net/snmp": []byte("Tcp: ActiveOpens PassiveOpens CurrEstab\nTcp: 1 two 3\n")},
			want: with(without(all, tcp...), map[string]float64{"timewait_tcp_active_opens_total": 1, "timewait_tcp_current_established": 3}),
			errs: []string{`Tcp PassiveOpens: strconv.ParseFloat: parsing \"two\"`, "net/snmp has no Tcp PassiveOpens"}},
	})
}

func TestSockstatPartialFiles(t *testing.T) {
	page := float64(os.Getpagesize())
	all := map[string]float64{
		"timewait_sockstat_tw_sockets":                       4242,
		`timewait_sockstat_tcp_inuse_sockets{family="ipv4"}`: 17,
		`timewait_sockstat_tcp_inuse_sockets{family="ipv6"}`: 5,
		"timewait_sockstat_tcp_orphan_sockets":               3,
		"timewait_sockstat_tcp_alloc_sockets":                25,
		"timewait_sockstat_tcp_mem_bytes":                    7 * page,
	}
	const (
		tw     = "timewait_sockstat_tw_sockets"
		inuse4 = `timewait_sockstat_tcp_inuse_sockets{family="ipv4"}`
		inuse6 = `timewait_sockstat_tcp_inuse_sockets{family="ipv6"}`
		orphan = "timewait_sockstat_tcp_orphan_sockets"
		alloc  = "timewait_sockstat_tcp_alloc_sockets"
		mem    = "timewait_sockstat_tcp_mem_bytes"
	)
	v4 := func(tcpLine string) map[string][]byte {
		return map[string][]byte{"net/sockstat": []byte("sockets: used 140\n" + tcpLine + "\nUDP: inuse 2 mem 1\n")}
	}
	checkPartial(t, "sockstat", []partialCase{
		{name: "fixture", want: all},
		{name: "fields reordered", edit: v4("TCP: mem 7 tw 4242 alloc 25 inuse 17 orphan 3"), want: all},
		{name: "IPv6 disabled: no sockstat6", edit: map[string][]byte{"net/sockstat6": nil}, want: without(all, inuse6)},
		{name: "no tw", edit: v4("TCP: inuse 17 orphan 3 alloc 25 mem 7"),
			want: without(all, tw), errs: []string{"net/sockstat has no TCP tw"}},
		{name: "no orphan and no mem", edit: v4("TCP: inuse 17 tw 4242 alloc 25"),
			want: without(all, orphan, mem), errs: []string{"net/sockstat has no TCP orphan, TCP mem"}},
		{name: "no inuse", edit: v4("TCP: orphan 3 tw 4242 alloc 25 mem 7"),
			want: without(all, inuse4), errs: []string{"net/sockstat has no TCP inuse"}},
		{name: "no TCP line", edit: v4("RAW: inuse 0"),
			want: map[string]float64{inuse6: 5}, errs: []string{"net/sockstat has no TCP inuse, TCP orphan, TCP tw, TCP alloc, TCP mem"}},
		{name: "cut after the tw key", edit: map[string][]byte{"net/sockstat": []byte("sockets: used 140\nTCP: inuse 17 orphan 3 tw")},
			want: map[string]float64{inuse4: 17, orphan: 3, inuse6: 5},
			errs: []string{"line 2: TCP tw has no value", "net/sockstat has no TCP tw, TCP alloc, TCP mem"}},
		{name: "tw not a number", edit: v4("TCP: inuse 17 orphan 3 tw many alloc 25 mem 7"),
			want: without(all, tw), errs: []string{`line 2: TCP tw: strconv.Atoi: parsing \"many\"`, "has no TCP tw"}},
		{name: "a line of another protocol broken", edit: map[string][]byte{"net/sockstat": []byte("sockets: used 140\nTCP: inuse 17 orphan 3 tw 4242 alloc 25 mem 7\nUDP inuse 2\n")},
			want: all, errs: []string{`line 3: want a \"PROTOCOL:\" prefix`}},
		{name: "sockstat missing", edit: map[string][]byte{"net/sockstat": nil},
			want: map[string]float64{inuse6: 5}, errs: []string{"net/sockstat: no such file"}},
		{name: "sockstat6 without TCP6", edit: map[string][]byte{"net/sockstat6": []byte("UDP6: inuse 1\n")},
			want: without(all, inuse6), errs: []string{"net/sockstat6 has no TCP6 inuse"}},
		{name: "sockstat6 empty", edit: map[string][]byte{"net/sockstat6": []byte{}},
			want: without(all, inuse6), errs: []string{"net/sockstat6 has no TCP6 inuse"}},
	})
}

// TestSockstatHostWideOwnScopeOnly: in a scope entered on another thread
// (a foreign namespace under --netns.discover, even at full detail) the
// host-wide fields are not exported; tw and inuse are, with the scope's
// label.
func TestSockstatHostWideOwnScopeOnly(t *testing.T) {
	// A kread.ThreadScope reads <procfs>/<pid>/task/<tid>/net: a fixture tree
	// with the fixture's net/ there, for a made-up tid.
	const tid = 999999
	root := t.TempDir()
	task := filepath.Join(root, strconv.Itoa(os.Getpid()), "task", strconv.Itoa(tid))
	if err := os.MkdirAll(task, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(task, "net"), os.DirFS(filepath.Join(fixtureProc, "net"))); err != nil {
		t.Fatal(err)
	}
	c, err := newSockstatCollector(Options{Options: scan.Options{DiscoverNetns: true}})
	if err != nil {
		t.Fatal(err)
	}
	own := kread.OwnScope(context.Background(), fixtureProc) // as gatherNetns makes it
	own.LabelValues = []string{"host"}
	// A foreign namespace at full detail: its reading is not idle (scan
	// marks it so when netns.detail names it).
	full := &nsDetail{}
	for _, tc := range []struct {
		scope  *kread.Scope
		detail *nsDetail
		want   []string
	}{
		{kread.ThreadScope(context.Background(), root, tid, "blue"), full, []string{"tcp_inuse_sockets", "tcp_inuse_sockets", "tw_sockets"}},
		{own, nil,
			[]string{"tcp_alloc_sockets", "tcp_inuse_sockets", "tcp_inuse_sockets", "tcp_mem_bytes", "tcp_orphan_sockets", "tw_sockets"}},
	} {
		sc := &scoped{c: c, s: tc.scope, detail: tc.detail}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(sc)
		got := gatherMap(t, reg)
		if sc.err != nil {
			t.Fatal(sc.err)
		}
		var names []string
		for k := range got {
			if !strings.Contains(k, `netns="`+tc.scope.LabelValues[0]+`"`) {
				t.Errorf("%s without the scope's label", k)
			}
			names = append(names, strings.TrimPrefix(k[:strings.IndexByte(k, '{')], "timewait_sockstat_"))
		}
		slices.Sort(names)
		if !slices.Equal(names, tc.want) {
			t.Errorf("netns %s: got %q, want %q", tc.scope.LabelValues[0], names, tc.want)
		}
	}
}
