// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrMissing reports the fields a collector exports that a source file
// lacks, or nil if there are none.
//
// A file that lacks fields, or has a broken part, still gives every field
// it holds: those values are what the kernel wrote, and dropping them
// would hide, say, TIME_WAIT entries because an unrelated counter is
// missing. The collector still fails (success 0): no kernel writes such a
// file, so it is a truncated copy, a broken mount or an emulated /proc, and
// the missing series must not look like a healthy smaller set. The one
// error names every missing field in the collector's order, so its text is
// the same on every scrape and errorLog logs it once.
func ErrMissing(path string, fields []string) error {
	if len(fields) == 0 {
		return nil
	}
	return fmt.Errorf("%s has no %s", path, strings.Join(fields, ", "))
}

// Netstat holds the counters of /proc/net/netstat and /proc/net/snmp:
// file ("netstat", "snmp") -> group ("TcpExt") -> field ("TW") -> value.
type Netstat map[string]map[string]map[string]float64

// Value returns one counter, absent if the kernel did not report it.
func (n Netstat) Value(file, group, field string) Optional[float64] {
	v, ok := n[file][group][field]
	return Optional[float64]{Value: v, OK: ok}
}

// TimeWaitOverflows is TcpExt TCPTimeWaitOverflow (connections closed
// without TIME_WAIT at tcp_max_tw_buckets), absent if not read.
func (n Netstat) TimeWaitOverflows() Optional[float64] {
	return n.Value("netstat", "TcpExt", "TCPTimeWaitOverflow")
}

// signedField are the fields the kernel prints signed: Tcp MaxConn, -1 for
// "no limit" (RFC 2012).
var signedField = map[string]bool{"Tcp MaxConn": true}

// errImpossible is a count or counter below zero (or NaN), which no kernel
// prints.
var errImpossible = errors.New("not a value the kernel prints (no count is negative)")

// NetstatFiles are the files of /proc/net that ReadNetstat reads.
var NetstatFiles = []string{"netstat", "snmp"}

// ReadNetstat reads /proc/net/netstat and /proc/net/snmp. It returns what
// it could parse even with an error: a file that cannot be read is absent,
// one that is broken in part keeps its good groups (see parseNetstat).
func ReadNetstat(s *Scope) (Netstat, error) {
	n := Netstat{}
	var errs []error
	for _, name := range NetstatFiles {
		path := s.NetFile(name)
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n[name], err = parseNetstat(data); err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", path, err))
		}
	}
	return n, errors.Join(errs...)
}

// parseNetstat parses the paired-line format of /proc/net/netstat and
// /proc/net/snmp: a line of field names, then a line of values, both
// prefixed with the group ("TcpExt:"). Fields unknown to us are kept, so a
// new kernel that adds some breaks nothing.
//
// It returns every group it could pair, with an error for the rest: a pair
// whose name and value counts differ is left out (which value is whose is
// unknown), a value that is not a number leaves out that field only. Where
// the pairing itself is lost (a line that is no header, values of another
// group, a last header without values) it stops, keeping the groups before.
//
// A negative value (or NaN) loses its field too, as no kernel prints one
// but in signedField: netstat_seq_show and snmp_seq_show_tcp_udp
// (net/ipv4/proc.c) print every other counter with %lu.
//
// procfs parses these files only through /proc/<pid>/net, which cannot
// address the namespace of one thread (see Scope), so the exporter has its
// own small parser.
func parseNetstat(data []byte) (map[string]map[string]float64, error) {
	groups := map[string]map[string]float64{}
	var errs []error
	stop := func(format string, args ...any) (map[string]map[string]float64, error) {
		return groups, errors.Join(append(errs, fmt.Errorf(format, args...))...)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return stop("empty file")
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	for i := 0; i < len(lines); i += 2 {
		names := bytes.Fields(lines[i])
		if len(names) == 0 || !bytes.HasSuffix(names[0], []byte(":")) {
			return stop("line %d: want a \"Group:\" header", i+1)
		}
		if i+1 == len(lines) {
			return stop("line %d: %s header without values: file truncated", i+1, names[0])
		}
		values := bytes.Fields(lines[i+1])
		if len(values) == 0 || !bytes.Equal(names[0], values[0]) {
			return stop("line %d: values do not follow their %s header", i+2, names[0])
		}
		group := string(bytes.TrimSuffix(names[0], []byte(":")))
		if len(names) != len(values) {
			errs = append(errs, fmt.Errorf("line %d: %d %s names but %d values", i+2, len(names)-1, group, len(values)-1))
			continue
		}
		fields := map[string]float64{}
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseFloat(string(values[j]), 64)
			if err == nil && !(v >= 0) && !signedField[group+" "+string(names[j])] {
				err = fmt.Errorf("%s: %w", values[j], errImpossible)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s %s: %w", i+2, group, names[j], err))
				continue
			}
			fields[string(names[j])] = v
		}
		groups[group] = fields
	}
	return groups, errors.Join(errs...)
}
