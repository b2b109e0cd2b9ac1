// SPDX-License-Identifier: Apache-2.0

//go:build linux

package sockdiag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawMsg builds one struct inet_diag_msg from full 16-byte addresses, the
// way the kernel lays it out (include/uapi/linux/inet_diag.h).
type rawMsg struct {
	family, state, timer uint8
	sport, dport         uint16
	src, dst             [16]byte
	expires, uid, inode  uint32
}

func (m rawMsg) bytes() []byte {
	p := make([]byte, inetDiagMsgLen)
	p[0], p[1], p[2] = m.family, m.state, m.timer
	p[3] = 0xee // idiag_retrans: not decoded
	binary.BigEndian.PutUint16(p[4:], m.sport)
	binary.BigEndian.PutUint16(p[6:], m.dport)
	copy(p[8:24], m.src[:])
	copy(p[24:40], m.dst[:])
	binary.NativeEndian.PutUint32(p[40:], 7)          // idiag_if
	binary.NativeEndian.PutUint64(p[44:], ^uint64(0)) // cookie
	binary.NativeEndian.PutUint32(p[52:], m.expires)  // idiag_expires
	binary.NativeEndian.PutUint32(p[56:], 0xdeadbeef) // rqueue
	binary.NativeEndian.PutUint32(p[60:], 0xfeedface) // wqueue
	binary.NativeEndian.PutUint32(p[64:], m.uid)      // idiag_uid
	binary.NativeEndian.PutUint32(p[68:], m.inode)    // idiag_inode
	return p
}

func addr16(s string) [16]byte {
	a := netip.MustParseAddr(s)
	if a.Is4() {
		var b [16]byte
		v4 := a.As4()
		copy(b[:], v4[:]) // IPv4 in the first word, the rest zero
		return b
	}
	return a.As16()
}

func TestDecodeMsg(t *testing.T) {
	tests := []struct {
		name     string
		msg      rawMsg
		src, dst string
	}{
		{"ipv4 TIME_WAIT, asymmetric port bytes",
			rawMsg{family: unix.AF_INET, state: StateTimeWait, timer: 3, sport: 0x1234, dport: 0xabcd, src: addr16("10.1.2.3"), dst: addr16("192.168.200.1"), expires: 59999, uid: 1000, inode: 0},
			"10.1.2.3:4660", "192.168.200.1:43981"},
		{"ipv4 ignores the 12 bytes after the address",
			rawMsg{family: unix.AF_INET, state: StateEstablished, sport: 65535, dport: 1,
				src: [16]byte{127, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, dst: [16]byte{127, 0, 0, 2, 9, 9, 9, 9}, uid: 0, inode: 123456},
			"127.0.0.1:65535", "127.0.0.2:1"},
		{"ipv6 loopback",
			rawMsg{family: unix.AF_INET6, state: StateListen, sport: 9966, src: addr16("::1"), dst: addr16("::"), uid: 65534, inode: 99},
			"[::1]:9966", "[::]:0"},
		{"ipv6 global",
			rawMsg{family: unix.AF_INET6, state: StateTimeWait, timer: 3, sport: 40000, dport: 443, src: addr16("2001:db8::2"), dst: addr16("2001:db8:ffff::1"), expires: 1},
			"[2001:db8::2]:40000", "[2001:db8:ffff::1]:443"},
		{"ipv4-mapped stays mapped (the collector unmaps)",
			rawMsg{family: unix.AF_INET6, state: StateTimeWait, sport: 40001, dport: 5432, src: addr16("::ffff:10.0.0.1"), dst: addr16("::ffff:10.0.0.5")},
			"[::ffff:10.0.0.1]:40001", "[::ffff:10.0.0.5]:5432"},
	}
	for _, tc := range tests {
		var s Socket
		decodeMsg(tc.msg.bytes(), &s)
		if s.Family != tc.msg.family || s.State != tc.msg.state || s.Timer != tc.msg.timer || s.Expires != tc.msg.expires ||
			s.UID != tc.msg.uid || s.Inode != tc.msg.inode || s.Src.String() != tc.src || s.Dst.String() != tc.dst {
			t.Errorf("%s: decoded %+v, want src %s dst %s and %+v", tc.name, s, tc.src, tc.dst, tc.msg)
		}
		if tc.msg.family == unix.AF_INET && (!s.Src.Addr().Is4() || !s.Dst.Addr().Is4()) {
			t.Errorf("%s: AF_INET decoded as %v", tc.name, s.Src)
		}
	}
}

func TestParseBatchTable(t *testing.T) {
	a := rawMsg{family: unix.AF_INET, state: StateTimeWait, timer: 3, sport: 40000, dport: 80, src: addr16("127.0.0.1"), dst: addr16("127.0.0.1"), expires: 30000}.bytes()
	b := rawMsg{family: unix.AF_INET6, state: StateEstablished, sport: 40001, dport: 443, src: addr16("::1"), dst: addr16("::1")}.bytes()
	const seq = 42
	multi := uint16(unix.NLM_F_MULTI)
	tests := []struct {
		name      string
		batch     []byte
		wantPorts []uint16 // source ports of the sockets called back, in order
		done      bool
		intr      bool
		wantErr   error // errors.Is target; nil = no error
		anyErr    bool
	}{
		{name: "two sockets, then DONE", batch: cat(nlmsg(sockDiagByFamily, multi, seq, a), nlmsg(sockDiagByFamily, multi, seq, b), nlmsg(unix.NLMSG_DONE, multi, seq, errPayload(0))),
			wantPorts: []uint16{40000, 40001}, done: true},
		{name: "batch without DONE: more to read", batch: cat(nlmsg(sockDiagByFamily, multi, seq, a), nlmsg(sockDiagByFamily, multi, seq, b)),
			wantPorts: []uint16{40000, 40001}},
		{name: "unaligned message with attributes: padding skipped",
			batch:     cat(nlmsg(sockDiagByFamily, multi, seq, cat(a, []byte{5, 0, 9, 0, 1})), nlmsg(sockDiagByFamily, multi, seq, b), nlmsg(unix.NLMSG_DONE, multi, seq, errPayload(0))),
			wantPorts: []uint16{40000, 40001}, done: true},
		{name: "last message unpadded at the end of the read",
			batch:     cat(nlmsg(sockDiagByFamily, multi, seq, b), nlmsg(sockDiagByFamily, multi, seq, cat(a, []byte{1}))[:nlmsgHdrLen+inetDiagMsgLen+1]),
			wantPorts: []uint16{40001, 40000}},
		{name: "stale sequence skipped, its DONE too", batch: cat(nlmsg(sockDiagByFamily, multi, seq-1, a), nlmsg(unix.NLMSG_DONE, multi, seq-1, errPayload(0)), nlmsg(sockDiagByFamily, multi, seq, b)),
			wantPorts: []uint16{40001}},
		{name: "DUMP_INTR on one message", batch: cat(nlmsg(sockDiagByFamily, multi, seq, a), nlmsg(sockDiagByFamily, multi|nlmFDumpIntr, seq, b), nlmsg(unix.NLMSG_DONE, multi, seq, errPayload(0))),
			wantPorts: []uint16{40000, 40001}, done: true, intr: true},
		{name: "DUMP_INTR on DONE only", batch: nlmsg(unix.NLMSG_DONE, multi|nlmFDumpIntr, seq, errPayload(0)), done: true, intr: true},
		{name: "DUMP_INTR of a stale sequence ignored", batch: cat(nlmsg(sockDiagByFamily, multi|nlmFDumpIntr, seq+1, a), nlmsg(unix.NLMSG_DONE, multi, seq, errPayload(0))), done: true},
		{name: "DONE carrying -ENOBUFS", batch: cat(nlmsg(sockDiagByFamily, multi, seq, a), nlmsg(unix.NLMSG_DONE, multi, seq, errPayload(-int32(unix.ENOBUFS)))),
			wantPorts: []uint16{40000}, done: true, wantErr: unix.ENOBUFS},
		{name: "NLMSG_ERROR -EPERM (seccomp, LSM)", batch: nlmsg(unix.NLMSG_ERROR, 0, seq, cat(errPayload(-int32(unix.EPERM)), make([]byte, nlmsgHdrLen))),
			done: true, wantErr: unix.EPERM},
		{name: "NLMSG_ERROR -EINVAL stops before later sockets", batch: cat(nlmsg(unix.NLMSG_ERROR, 0, seq, errPayload(-int32(unix.EINVAL))), nlmsg(sockDiagByFamily, multi, seq, a)),
			done: true, wantErr: unix.EINVAL},
		{name: "ACK then sockets", batch: cat(nlmsg(unix.NLMSG_ERROR, 0, seq, errPayload(0)), nlmsg(sockDiagByFamily, multi, seq, a), nlmsg(unix.NLMSG_DONE, multi, seq, errPayload(0))),
			wantPorts: []uint16{40000}, done: true},
		{name: "NOOP and unknown types skipped", batch: cat(nlmsg(unix.NLMSG_NOOP, 0, seq, nil), nlmsg(0x1234, 0, seq, []byte("xx")), nlmsg(sockDiagByFamily, multi, seq, a)),
			wantPorts: []uint16{40000}},
		{name: "inet_diag_msg one byte short", batch: cat(nlmsg(sockDiagByFamily, multi, seq, a), nlmsg(sockDiagByFamily, multi, seq, b[:inetDiagMsgLen-1])),
			wantPorts: []uint16{40000}, anyErr: true},
		{name: "length beyond the read", batch: nlmsg(sockDiagByFamily, multi, seq, a)[:nlmsgHdrLen+inetDiagMsgLen-4], anyErr: true},
		{name: "length below the header", batch: func() []byte {
			m := nlmsg(unix.NLMSG_DONE, 0, seq, errPayload(0))
			binary.NativeEndian.PutUint32(m, 15)
			return m
		}(), anyErr: true},
		{name: "trailing bytes shorter than a header ignored", batch: cat(nlmsg(sockDiagByFamily, multi, seq, a), []byte{1, 2, 3}), wantPorts: []uint16{40000}},
		{name: "empty read", batch: nil},
	}
	for _, tc := range tests {
		var ports []uint16
		done, intr, err := parseEach(tc.batch, seq, func(s *Socket) { ports = append(ports, s.Src.Port()) })
		switch {
		case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.wantErr)
		case tc.anyErr && err == nil:
			t.Errorf("%s: no error", tc.name)
		case tc.wantErr == nil && !tc.anyErr && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		}
		if done != tc.done || intr != tc.intr || !equalPorts(ports, tc.wantPorts) {
			t.Errorf("%s: done %v intr %v ports %v, want done %v intr %v ports %v", tc.name, done, intr, ports, tc.done, tc.intr, tc.wantPorts)
		}
	}
}

func equalPorts(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestParseBatchAllocs: parsing a full batch allocates nothing.
func TestParseBatchAllocs(t *testing.T) {
	var parts [][]byte
	for i := range 300 {
		parts = append(parts, nlmsg(sockDiagByFamily, unix.NLM_F_MULTI, 1,
			rawMsg{family: unix.AF_INET6, state: StateTimeWait, sport: uint16(40000 + i), dport: 443, src: addr16("2001:db8::2"), dst: addr16("2001:db8::1")}.bytes()))
	}
	batch := cat(parts...)
	var socks []Socket // reused, as a connection's is
	n := 0
	allocs := testing.AllocsPerRun(20, func() {
		var err error
		if socks, _, _, err = parseBatch(batch, 1, socks[:0]); err != nil {
			t.Fatal(err)
		}
		n += len(socks)
	})
	if allocs != 0 || n != 300*21 {
		t.Errorf("%v allocations per 300-message batch (%d sockets)", allocs, n)
	}
}

// TestDumpRealKernel dumps this process's own sockets from the real kernel
// (whatever namespace the test runs in): a listener and both ends of an
// established connection, per family, with their ports, inode and uid.
func TestDumpRealKernel(t *testing.T) {
	c, err := Open()
	if err != nil {
		t.Skipf("no sock_diag here: %v", err)
	}
	defer c.Close()
	cgroup := ownCgroupID(t)
	for _, tc := range []struct {
		family  uint8
		network string
		addr    string
	}{{unix.AF_INET, "tcp4", "127.0.0.1:0"}, {unix.AF_INET6, "tcp6", "[::1]:0"}} {
		l, err := net.Listen(tc.network, tc.addr)
		if err != nil {
			t.Logf("%s: %v (no IPv6?)", tc.network, err)
			continue
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() { c, _ := l.Accept(); accepted <- c }()
		client, err := net.Dial(tc.network, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server := <-accepted
		defer server.Close()

		lport := l.Addr().(*net.TCPAddr).AddrPort().Port()
		cport := client.LocalAddr().(*net.TCPAddr).AddrPort().Port()
		f, _ := l.(*net.TCPListener).File()
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		f.Close()
		found := map[string]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = dumpEach(ctx, c, tc.family, AllStates, func(s *Socket) {
			if s.Family != tc.family {
				t.Errorf("%s dump returned family %d", tc.network, s.Family)
			}
			switch {
			case s.State == StateListen && s.Src.Port() == lport:
				found["listen"] = true
				if uint64(s.Inode) != st.Ino || s.UID != uint32(os.Getuid()) {
					t.Errorf("listener inode %d uid %d, want %d %d", s.Inode, s.UID, st.Ino, os.Getuid())
				}
				if cgroup != 0 && s.CgroupID != cgroup {
					t.Errorf("listener cgroup id %d, want %d (this process's cgroup v2 directory)", s.CgroupID, cgroup)
				}
			case s.State == StateEstablished && s.Src.Port() == cport && s.Dst.Port() == lport:
				found["client"] = true
			case s.State == StateEstablished && s.Src.Port() == lport && s.Dst.Port() == cport:
				found["server"] = true
			}
		})
		cancel()
		if err != nil {
			t.Fatalf("%s dump: %v", tc.network, err)
		}
		if !found["listen"] || !found["client"] || !found["server"] {
			t.Errorf("%s dump found %v of listener :%d and connection :%d", tc.network, found, lport, cport)
		}
		// Asking only for TIME_WAIT leaves these out.
		err = dumpEach(context.Background(), c, tc.family, StateMask(StateTimeWait), func(s *Socket) {
			if s.State != StateTimeWait {
				t.Errorf("state mask ignored: got state %d", s.State)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompatDumpRealKernel: this kernel answers TCPDIAG_GETSOCK itself (the
// one-walk path, not the per-family fallback) with both families' sockets.
func TestCompatDumpRealKernel(t *testing.T) {
	c, err := Open()
	if err != nil {
		t.Skipf("no sock_diag here: %v", err)
	}
	defer c.Close()
	ports := map[uint8]uint16{}
	for fam, addr := range map[uint8]string{unix.AF_INET: "127.0.0.1:0", unix.AF_INET6: "[::1]:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("%s: %v", addr, err)
		}
		defer l.Close()
		ports[fam] = l.Addr().(*net.TCPAddr).AddrPort().Port()
	}
	seen := map[uint8]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = dumpEach(ctx, c, unix.AF_UNSPEC, StateMask(StateListen), func(s *Socket) {
		if s.State != StateListen {
			t.Errorf("state mask ignored: got state %d", s.State)
		}
		if ports[s.Family] == s.Src.Port() {
			seen[s.Family] = true
		}
	})
	if err != nil || c.dump.fallback {
		t.Fatalf("TCPDIAG_GETSOCK: %v (answered per family: %v)", err, c.dump.fallback)
	}
	if !seen[unix.AF_INET] || !seen[unix.AF_INET6] {
		t.Errorf("one TCPDIAG_GETSOCK walk saw listeners of families %v, want both", seen)
	}
}

// TestDumpBoundInactiveRealKernel: a socket bound with bind() that neither
// listens nor is connected is dumped only when bound_inactive is asked for,
// and arrives as StateBoundInactive although the kernel reports it as CLOSE
// (Linux 6.8+, commit 91051f003948), on both request paths.
func TestDumpBoundInactiveRealKernel(t *testing.T) {
	if !kernelAtLeast(t, 6, 8) {
		t.Skip("the kernel dumps bound-only sockets from Linux 6.8")
	}
	c, err := Open()
	if err != nil {
		t.Skipf("no sock_diag here: %v", err)
	}
	defer c.Close()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(sa.(*unix.SockaddrInet4).Port)
	states := func(family uint8, mask uint32) (got []uint8) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := dumpEach(ctx, c, family, mask, func(s *Socket) {
			if s.Family == unix.AF_INET && s.Src.Port() == port {
				got = append(got, s.State)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, family := range []uint8{unix.AF_UNSPEC, unix.AF_INET} {
		if got := states(family, AllStates); len(got) != 0 {
			t.Errorf("family %d: without bound_inactive the bound socket :%d came back in states %v", family, port, got)
		}
		if got := states(family, AllStates|StateMask(StateBoundInactive)); len(got) != 1 || got[0] != StateBoundInactive {
			t.Errorf("family %d: bound socket :%d came back in states %v, want [%d]", family, port, got, StateBoundInactive)
		}
	}
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var maj, min int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &maj, &min); err != nil {
		t.Fatalf("kernel release %q: %v", unix.ByteSliceToString(u.Release[:]), err)
	}
	return maj > major || maj == major && min >= minor
}

// parseEach is parseBatch into a fresh slice, each socket passed to fn.
func parseEach(b []byte, seq uint32, fn func(*Socket)) (done, intr bool, err error) {
	socks, done, intr, err := parseBatch(b, seq, nil)
	for i := range socks {
		fn(&socks[i])
	}
	return done, intr, err
}

// dumpEach runs one dump of c to its end, each socket passed to fn, and
// returns its error.
func dumpEach(ctx context.Context, c *Conn, family uint8, states uint32, fn func(*Socket)) error {
	c.Dump(ctx, family, states)
	for socks, ok := c.Next(); ok; socks, ok = c.Next() {
		for i := range socks {
			fn(&socks[i])
		}
	}
	return c.Err()
}
