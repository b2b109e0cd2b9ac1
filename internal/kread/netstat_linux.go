// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
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

// NetstatMissing is the error naming the fields of want ("file group
// field", in the caller's order) that n lacks, in the files that were read
// (one that could not be read has said so already); nil if none.
func NetstatMissing(s *Scope, n Netstat, want [][3]string) error {
	missing := map[string][]string{}
	for _, f := range want {
		if _, ok := n[f[0]][f[1]][f[2]]; !ok && n[f[0]] != nil {
			missing[f[0]] = append(missing[f[0]], f[1]+" "+f[2])
		}
	}
	var errs []error
	for _, file := range NetstatFiles {
		errs = append(errs, ErrMissing(s.NetFile(file), missing[file]))
	}
	return errors.Join(errs...)
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
		var parseErr error
		err := readProcFile(path, func(data []byte) error {
			n[name], parseErr = parseNetstat(data)
			return nil
		})
		switch {
		case err != nil:
			errs = append(errs, err)
		case parseErr != nil:
			errs = append(errs, fmt.Errorf("parse %s: %w", path, parseErr))
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
	lines := lineReader{rest: bytes.TrimRight(data, "\n"), more: true}
	for i := 0; lines.more; i += 2 {
		header := lines.next()
		group, names := nextField(header)
		if len(group) == 0 || !bytes.HasSuffix(group, []byte(":")) {
			return stop("line %d: want a \"Group:\" header", i+1)
		}
		if !lines.more {
			return stop("line %d: %s header without values: file truncated", i+1, group)
		}
		valuesLine := lines.next()
		valuesGroup, values := nextField(valuesLine)
		if len(valuesGroup) == 0 || !bytes.Equal(group, valuesGroup) {
			return stop("line %d: values do not follow their %s header", i+2, group)
		}
		name := internName(bytes.TrimSuffix(group, []byte(":")))
		nNames, nValues := countFields(names), countFields(values)
		if nNames != nValues {
			errs = append(errs, fmt.Errorf("line %d: %d %s names but %d values", i+2, nNames, name, nValues))
			continue
		}
		fields := make(map[string]float64, nNames)
		for range nNames {
			var field, value []byte
			field, names = nextField(names)
			value, values = nextField(values)
			v, err := strconv.ParseFloat(string(value), 64)
			if err == nil && !(v >= 0) && !signedField[name+" "+string(field)] {
				err = fmt.Errorf("%s: %w", value, errImpossible)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s %s: %w", i+2, name, field, err))
				continue
			}
			fields[internName(field)] = v
		}
		groups[name] = fields
	}
	return groups, errors.Join(errs...)
}

// lineReader yields the lines of a text as bytes.Split(text, "\n") would,
// without a slice of them.
type lineReader struct {
	rest []byte
	more bool // a line is left, maybe empty
}

func (r *lineReader) next() []byte {
	line, rest, found := bytes.Cut(r.rest, []byte("\n"))
	r.rest, r.more = rest, found
	return line
}

// nextField is the first field of b as bytes.Fields splits it (at Unicode
// white space), and what follows it; field is empty when b has none.
func nextField(b []byte) (field, rest []byte) {
	start := -1
	for i := 0; i < len(b); {
		space, size := asciiSpace[b[i]] == 1, 1
		if b[i] >= utf8.RuneSelf {
			var r rune
			r, size = utf8.DecodeRune(b[i:])
			space = unicode.IsSpace(r)
		}
		switch {
		case space && start >= 0:
			return b[start:i], b[i:]
		case !space && start < 0:
			start = i
		}
		i += size
	}
	if start < 0 {
		return nil, nil
	}
	return b[start:], nil
}

var asciiSpace = [256]uint8{'\t': 1, '\n': 1, '\v': 1, '\f': 1, '\r': 1, ' ': 1}

// countFields is len(bytes.Fields(b)), without the slice.
func countFields(b []byte) int {
	n := 0
	for field, rest := nextField(b); len(field) > 0; field, rest = nextField(rest) {
		n++
	}
	return n
}

// netstatNames interns the group and field names parseNetstat keeps: the
// kernel prints the same few hundred on every read, so a scrape of many
// namespaces need not allocate them for each. Bounded, so that odd files
// (a copy under --path.procfs) cannot grow it for ever.
var netstatNames = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

const maxInternedNames = 4096

func internName(b []byte) string {
	netstatNames.RLock()
	s, ok := netstatNames.m[string(b)]
	netstatNames.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	netstatNames.Lock()
	if len(netstatNames.m) < maxInternedNames {
		netstatNames.m[s] = s
	}
	netstatNames.Unlock()
	return s
}
