// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
)

// Sockstat is the TCP part of /proc/net/sockstat and sockstat6. A field is
// absent when its file lacks it (the error of ReadSockstat then says which).
type Sockstat struct {
	// Per network namespace: sockstat_seq_show (net/ipv4/proc.c) prints
	// sock_prot_inuse_get(net, &tcp_prot) and the count of the namespace's
	// net->ipv4.tcp_death_row; sockstat6_seq_show (net/ipv6/proc.c) the
	// same inuse for tcpv6_prot.
	TimeWait Optional[int] // tw: TIME_WAIT and FIN_WAIT2 mini-sockets, both families
	InUse    Optional[int] // IPv4 sockets in use
	InUse6   Optional[int] // IPv6 sockets in use; absent without IPv6
	// Host-wide, the same in every namespace: sockstat_seq_show prints the
	// global tcp_orphan_count_sum(), proto_sockets_allocated_sum_positive()
	// and proto_memory_allocated() of tcp_prot.
	Orphan, Alloc, MemPages Optional[int]
}

// TimeWaitCount is tw; s may be nil (not read at all).
func (s *Sockstat) TimeWaitCount() Optional[int] {
	if s == nil {
		return Optional[int]{}
	}
	return s.TimeWait
}

// ReadSockstat reads sockstat and sockstat6. It always returns a Sockstat
// with every field the files hold, and an error for what they lack.
func ReadSockstat(s *Scope) (*Sockstat, error) {
	v4, err4 := readSockstatFile(s, "sockstat")
	v6, err6 := readSockstatFile(s, "sockstat6")
	if errors.Is(err6, fs.ErrNotExist) {
		err6 = nil // IPv6 disabled: nothing to report, not a failure
	}
	// In the kernel's order, which is the order errMissing names them in.
	st := &Sockstat{
		InUse:    v4.get("TCP", "inuse"),
		Orphan:   v4.get("TCP", "orphan"),
		TimeWait: v4.get("TCP", "tw"),
		Alloc:    v4.get("TCP", "alloc"),
		MemPages: v4.get("TCP", "mem"),
		InUse6:   v6.get("TCP6", "inuse"),
	}
	return st, errors.Join(err4, v4.errMissing(), err6, v6.errMissing())
}

// sockstatFile is one parsed sockstat file: protocol -> key -> value,
// nil if the file could not be read. get records the keys it lacks.
type sockstatFile struct {
	path    string
	protos  map[string]map[string]int
	missing []string
}

func readSockstatFile(s *Scope, name string) (*sockstatFile, error) {
	f := &sockstatFile{path: s.NetFile(name)}
	var parseErr error
	err := readProcFile(f.path, func(data []byte) error {
		f.protos, parseErr = parseSockstat(data)
		return nil
	})
	if parseErr != nil {
		err = fmt.Errorf("parse %s: %w", f.path, parseErr)
	}
	return f, err
}

func (f *sockstatFile) get(proto, key string) Optional[int] {
	if f.protos == nil {
		return Optional[int]{} // unreadable: its read error says so
	}
	v, ok := f.protos[proto][key]
	if !ok {
		f.missing = append(f.missing, proto+" "+key)
		return Optional[int]{}
	}
	return Some(v)
}

func (f *sockstatFile) errMissing() error { return ErrMissing(f.path, f.missing) }

// parseSockstat parses a sockstat file, one line per protocol of key/value
// pairs ("TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1"). Like parseNetstat it
// keeps what it can and reports the rest: a value that is not a number
// loses its key, a key without a value ends its line. (procfs's parser
// gives nothing for a file with one bad pair, and 0 for a missing inuse.)
// A negative value is refused like one that is not a number: every count
// sockstat_seq_show prints is a sum clamped at 0 (sock_prot_inuse_get,
// tcp_orphan_count_sum) or a refcount above its base (tw).
func parseSockstat(data []byte) (map[string]map[string]int, error) {
	protos := map[string]map[string]int{}
	var errs []error
	for i, line := range bytes.Split(data, []byte("\n")) {
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !bytes.HasSuffix(fields[0], []byte(":")) {
			errs = append(errs, fmt.Errorf("line %d: want a \"PROTOCOL:\" prefix", i+1))
			continue
		}
		proto := string(bytes.TrimSuffix(fields[0], []byte(":")))
		kv := map[string]int{}
		for j := 1; j < len(fields); j += 2 {
			key := string(fields[j])
			if j+1 == len(fields) {
				errs = append(errs, fmt.Errorf("line %d: %s %s has no value", i+1, proto, key))
				break
			}
			v, err := strconv.Atoi(string(fields[j+1]))
			if err == nil && v < 0 {
				err = fmt.Errorf("%s: %w", fields[j+1], errImpossible)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s %s: %w", i+1, proto, key, err))
				continue
			}
			kv[key] = v
		}
		protos[proto] = kv
	}
	return protos, errors.Join(errs...)
}
