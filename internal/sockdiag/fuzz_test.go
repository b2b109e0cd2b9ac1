// SPDX-License-Identifier: Apache-2.0

//go:build linux

package sockdiag

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Builders for the kernel's reply format, used by the seeds, the fault
// tests and the fake kernel below.

// nlmsg is one netlink message: header and payload, padded to 4 bytes.
func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	n := nlmsgHdrLen + len(payload)
	b := make([]byte, nlmsgAlign(uint32(n)))
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(n))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], flags)
	ne.PutUint32(b[8:], seq)
	copy(b[nlmsgHdrLen:], payload)
	return b
}

// diagMsg is a struct inet_diag_msg for one IPv4 socket.
func diagMsg(family, state uint8, src, dst [4]byte, sport, dport uint16, expires uint32) []byte {
	p := make([]byte, inetDiagMsgLen)
	p[0], p[1] = family, state
	if state == StateTimeWait {
		p[2] = 3
	}
	binary.BigEndian.PutUint16(p[4:], sport)
	binary.BigEndian.PutUint16(p[6:], dport)
	copy(p[8:], src[:])
	copy(p[24:], dst[:])
	binary.NativeEndian.PutUint32(p[52:], expires)
	binary.NativeEndian.PutUint32(p[64:], 65534)
	binary.NativeEndian.PutUint32(p[68:], 4242)
	return p
}

// errPayload is the status word of NLMSG_DONE or NLMSG_ERROR.
func errPayload(code int32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(code))
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	lo     = [4]byte{127, 0, 0, 1}
	tw4    = diagMsg(unix.AF_INET, StateTimeWait, lo, lo, 40000, 8080, 59000)
	est4   = diagMsg(unix.AF_INET, StateEstablished, lo, lo, 40001, 8080, 0)
	tw6    = diagMsg(unix.AF_INET6, StateTimeWait, [4]byte{0x20, 0x01, 0x0d, 0xb8}, [4]byte{0xfe, 0x80}, 50000, 443, 1)
	doneOK = errPayload(0)
)

// seedBatches are the shapes a reply can take, well-formed or not.
func seedBatches() map[string][]byte {
	return map[string][]byte{
		"empty":           nil,
		"done":            nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 1, doneOK),
		"done_no_payload": nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 1, nil),
		"done_error":      nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 1, errPayload(-int32(unix.ENOMEM))),
		"two_and_done": cat(nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, tw4),
			nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, est4),
			nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 1, doneOK)),
		"ipv6":           nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, tw6),
		"dump_intr":      cat(nlmsg(sockDiagByFamily, unix.NLM_F_MULTI|nlmFDumpIntr, 1, tw4), nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI|nlmFDumpIntr, 1, doneOK)),
		"error_eperm":    nlmsg(unix.NLMSG_ERROR, 0, 1, cat(errPayload(-int32(unix.EPERM)), make([]byte, nlmsgHdrLen))),
		"error_ack":      cat(nlmsg(unix.NLMSG_ERROR, 0, 1, errPayload(0)), nlmsg(unix.NLMSG_DONE, 0, 1, doneOK)),
		"error_short":    nlmsg(unix.NLMSG_ERROR, 0, 1, []byte{1, 2}),
		"other_seq":      cat(nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 7, tw4), nlmsg(unix.NLMSG_DONE, 0, 7, doneOK)),
		"unknown_type":   cat(nlmsg(0x7777, 0, 1, []byte("attr")), nlmsg(unix.NLMSG_NOOP, 0, 1, nil), nlmsg(unix.NLMSG_DONE, 0, 1, doneOK)),
		"short_diag_msg": nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, tw4[:40]),
		"with_attrs": nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1,
			cat(tw4, []byte{8, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef}, []byte{0xff, 0xff, 2, 0})), // rtattrs, one with a bogus length
		"len_too_big":    func() []byte { b := nlmsg(sockDiagByFamily, 0, 1, tw4); b[0] = 0xff; return b }(),
		"len_too_small":  func() []byte { b := nlmsg(unix.NLMSG_DONE, 0, 1, doneOK); b[0] = 3; return b }(),
		"len_unaligned":  func() []byte { b := nlmsg(unix.NLMSG_DONE, 0, 1, doneOK); b[0] = 17; return b }(),
		"truncated_hdr":  nlmsg(sockDiagByFamily, 0, 1, tw4)[:10],
		"truncated_body": nlmsg(sockDiagByFamily, 0, 1, tw4)[:50],
	}
}

// FuzzParseBatch: parseBatch must never panic or read out of range, must
// call back at most once per message it could hold, and must report an
// error, not a socket, for every malformed message. Seeds live in
// testdata/fuzz/FuzzParseBatch (and are added here as well).
func FuzzParseBatch(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b, uint32(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		calls := 0
		done, intr, err := parseEach(b, seq, func(s *Socket) {
			calls++
			if s.Family == unix.AF_INET && (!s.Src.Addr().Is4() || !s.Dst.Addr().Is4()) {
				t.Fatalf("AF_INET socket decoded with non-IPv4 addresses %v %v", s.Src, s.Dst)
			}
		})
		if maxMsgs := len(b) / (nlmsgHdrLen + inetDiagMsgLen); calls > maxMsgs {
			t.Fatalf("%d callbacks from %d bytes (at most %d messages fit)", calls, len(b), maxMsgs)
		}
		if err != nil && !done && calls > len(b)/nlmsgHdrLen {
			t.Fatalf("error after impossible number of callbacks")
		}
		_ = intr
	})
}

// FuzzDecodeMsg: any 72 bytes decode without panic, whatever the family.
func FuzzDecodeMsg(f *testing.F) {
	f.Add(tw4)
	f.Add(tw6)
	f.Add(make([]byte, inetDiagMsgLen))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) < inetDiagMsgLen {
			return // parseBatch never passes less
		}
		var s Socket
		decodeMsg(p, &s)
		if s.Family != p[0] || s.State != p[1] || s.Timer != p[2] {
			t.Fatalf("header bytes not copied: %+v", s)
		}
		if s.Src.Port() != binary.BigEndian.Uint16(p[4:]) || s.Dst.Port() != binary.BigEndian.Uint16(p[6:]) {
			t.Fatalf("ports not big-endian: %+v", s)
		}
	})
}

func TestParseBatchSeeds(t *testing.T) {
	type want struct {
		done, intr, err bool
		sockets         int
	}
	wants := map[string]want{
		"empty":           {},
		"done":            {done: true},
		"done_no_payload": {done: true},
		"done_error":      {done: true, err: true},
		"two_and_done":    {done: true, sockets: 2},
		"ipv6":            {sockets: 1},
		"dump_intr":       {done: true, intr: true, sockets: 1},
		"error_eperm":     {done: true, err: true},
		"error_ack":       {done: true},
		"error_short":     {done: true, err: true},
		"other_seq":       {},
		"unknown_type":    {done: true},
		"short_diag_msg":  {err: true},
		"with_attrs":      {sockets: 1},
		"len_too_big":     {err: true},
		"len_too_small":   {err: true},
		"len_unaligned":   {done: true},
		"truncated_hdr":   {},
		"truncated_body":  {err: true},
	}
	seeds := seedBatches()
	for name, b := range seeds {
		w, ok := wants[name]
		if !ok {
			t.Errorf("seed %s has no expectation", name)
			continue
		}
		n := 0
		done, intr, err := parseEach(b, 1, func(*Socket) { n++ })
		if done != w.done || intr != w.intr || (err != nil) != w.err || n != w.sockets {
			t.Errorf("%s: done=%v intr=%v err=%v sockets=%d, want %+v", name, done, intr, err, n, w)
		}
	}
	if len(wants) != len(seeds) {
		t.Errorf("%d expectations for %d seeds", len(wants), len(seeds))
	}
}

func TestParseBatchDecodes(t *testing.T) {
	b := cat(nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, tw4), nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, tw6))
	got, _, _, err := parseBatch(b, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d sockets", len(got))
	}
	if s := got[0]; s.State != StateTimeWait || s.Timer != 3 || s.Expires != 59000 ||
		s.Src.String() != "127.0.0.1:40000" || s.Dst.String() != "127.0.0.1:8080" || s.UID != 65534 || s.Inode != 4242 {
		t.Errorf("ipv4 socket decoded as %+v", s)
	}
	if s := got[1]; s.Src.String() != "[2001:db8::]:50000" || s.Dst.String() != "[fe80::]:443" {
		t.Errorf("ipv6 socket decoded as %+v", s)
	}
}

// fakeKernel is a Conn whose "kernel" is the other end of a SOCK_SEQPACKET
// socket pair: each reply batch is written as one datagram, the way netlink
// delivers them, so Dump runs unmodified against scripted replies.
func fakeKernel(t *testing.T, replies ...[]byte) *Conn {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	for _, r := range replies {
		if _, err := unix.Write(fds[1], r); err != nil {
			t.Fatal(err)
		}
	}
	c := &Conn{fd: fds[0], bufs: &connBufs{buf: make([]byte, recvBufSize)}}
	t.Cleanup(func() { c.Close() })
	return c
}

func dumpCount(c *Conn, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n := 0
	err := dumpEach(ctx, c, unix.AF_INET, AllStates, func(*Socket) { n++ })
	return n, err
}

// TestDumpFaults runs Dump against replies a kernel could send, and a few
// it should not, over several reads as a large dump arrives.
func TestDumpFaults(t *testing.T) {
	msg := func(flags uint16, p []byte) []byte { return nlmsg(sockDiagByFamily, unix.NLM_F_MULTI|flags, 1, p) }
	done := nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 1, doneOK)
	for _, tc := range []struct {
		name    string
		replies [][]byte
		sockets int
		wantErr error // nil: success; errAny: any error
	}{
		{"complete over three reads", [][]byte{cat(msg(0, tw4), msg(0, est4)), msg(0, tw4), done}, 3, nil},
		{"interrupted then done", [][]byte{msg(nlmFDumpIntr, tw4), done}, 1, ErrDumpInterrupted},
		{"interrupted flag on DONE only", [][]byte{msg(0, tw4), nlmsg(unix.NLMSG_DONE, nlmFDumpIntr, 1, doneOK)}, 1, ErrDumpInterrupted},
		{"refused", [][]byte{nlmsg(unix.NLMSG_ERROR, 0, 1, cat(errPayload(-int32(unix.EPERM)), make([]byte, 16)))}, 0, unix.EPERM},
		{"dump failed", [][]byte{msg(0, tw4), nlmsg(unix.NLMSG_DONE, 0, 1, errPayload(-int32(unix.EBUSY)))}, 1, unix.EBUSY},
		{"stale replies of an earlier request skipped", [][]byte{nlmsg(sockDiagByFamily, 0, 0, tw4), nlmsg(unix.NLMSG_DONE, 0, 0, doneOK), msg(0, tw4), done}, 1, nil},
		{"truncated message", [][]byte{msg(0, tw4)[:60]}, 0, errAny},
		{"kernel never finishes", [][]byte{msg(0, tw4)}, 1, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := dumpCount(fakeKernel(t, tc.replies...), 300*time.Millisecond)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Dump: %v", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Dump error %v, want %v", err, tc.wantErr)
			}
			if n != tc.sockets {
				t.Errorf("%d sockets seen, want %d", n, tc.sockets)
			}
		})
	}
}

var errAny = errors.New("any error")

// TestDumpExpiredContext: a context that is already done fails before any
// request is sent.
func TestDumpExpiredContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	err := dumpEach(ctx, fakeKernel(t), unix.AF_INET, AllStates, func(*Socket) {})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dump with an expired context: %v", err)
	}
}

// TestParseBatchNoAlloc: parsing a reply allocates nothing, however many
// sockets it holds (the reader's promise for hosts with 10^5 sockets).
func TestParseBatchNoAlloc(t *testing.T) {
	var parts [][]byte
	for i := 0; i < 300; i++ {
		parts = append(parts, nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, tw4), nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1, tw6))
	}
	b := cat(append(parts, nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 1, doneOK))...)
	var socks []Socket // reused, as a connection's is
	n := 0
	if allocs := testing.AllocsPerRun(50, func() {
		var err error
		if socks, _, _, err = parseBatch(b, 1, socks[:0]); err != nil {
			t.Fatal(err)
		}
		n += len(socks)
	}); allocs != 0 {
		t.Errorf("parseBatch of 600 sockets: %v allocations", allocs)
	}
	if n != 600*51 {
		t.Errorf("%d sockets", n)
	}
}

// TestDumpBothFamilies: AF_UNSPEC asks with TCPDIAG_GETSOCK, whose replies
// carry that type; a kernel that refuses it is asked once per family.
func TestDumpBothFamilies(t *testing.T) {
	done := func(seq uint32) []byte { return nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, doneOK) }
	refused := func(errno unix.Errno) []byte {
		return nlmsg(unix.NLMSG_ERROR, 0, 1, cat(errPayload(-int32(errno)), make([]byte, 16)))
	}
	for _, tc := range []struct {
		name    string
		replies [][]byte
		sockets int
		wantErr error
	}{
		{"one walk", [][]byte{cat(nlmsg(tcpDiagGetSock, unix.NLM_F_MULTI, 1, tw4), nlmsg(tcpDiagGetSock, unix.NLM_F_MULTI, 1, tw6), done(1))}, 2, nil},
		{"refused: per family", [][]byte{refused(unix.EINVAL),
			cat(nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 2, tw4), done(2)),
			cat(nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 3, tw6), done(3))}, 2, nil},
		{"permission denied is not a refusal of the request type", [][]byte{refused(unix.EPERM)}, 0, unix.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			n := 0
			err := dumpEach(ctx, fakeKernel(t, tc.replies...), unix.AF_UNSPEC, AllStates, func(*Socket) { n++ })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Dump error %v, want %v", err, tc.wantErr)
			}
			if n != tc.sockets {
				t.Errorf("%d sockets seen, want %d", n, tc.sockets)
			}
		})
	}
}
