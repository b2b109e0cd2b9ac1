// SPDX-License-Identifier: Apache-2.0

package scan

import (
	"context"
	"maps"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
	"golang.org/x/sys/unix"
)

// openSockets tells a socket still open from one closed since, in the own
// network namespace and in a named one it enters; a namespace it knows
// nothing of, it cannot tell.
func TestOpenSockets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns")
	}
	name := "tw-ownersock-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	var own, foreign [2]uint32 // an open socket, a closed one
	nstest.In(t, "", func() error { return socketPair(t, &own) })
	nstest.In(t, "/run/netns/"+name, func() error { return socketPair(t, &foreign) })

	cfg := config.Default()
	cfg.Netns.IncludeRE = regexp.MustCompile("^" + name + "$")
	r := NewReader(Options{ProcPath: "/proc", DiscoverNetns: true, Netns: cfg.Netns})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := r.discover(ctx)
	if err != nil || len(d.Visit) != 2 || d.Visit[1].Label() != name {
		t.Fatalf("discovery: %v, %d namespaces (%+v)", err, len(d.Visit), *d)
	}
	snaps := []*Snapshot{{netnsIno: d.Visit[1].Inode(), netns: d.Visit[1]}}
	live := r.openSockets(ctx, snaps)
	for _, tc := range []struct {
		name  string
		ns    uint64
		socks [2]uint32
		ok    bool
	}{
		{"own", d.Visit[0].Inode(), own, true},
		{"entered", d.Visit[1].Inode(), foreign, true},
		{"unknown", d.Visit[1].Inode() + 1, foreign, false},
	} {
		open, ok := live(tc.ns, tc.socks[:])
		want := map[uint32]bool{tc.socks[0]: true}
		if ok != tc.ok || tc.ok && !maps.Equal(open, want) {
			t.Errorf("%s: %v, %v; want %v and only the open socket %d of %v", tc.name, open, ok, tc.ok, tc.socks[0], tc.socks)
		}
	}
}

// socketPair makes two loopback connections, closes the second, and
// puts the inodes of the first's client end and of the second's in
// inodes.
func socketPair(t *testing.T, inodes *[2]uint32) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	t.Cleanup(func() { ln.Close() })
	for i := range inodes {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			return err
		}
		var st unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &st)
		f.Close()
		if err != nil {
			return err
		}
		inodes[i] = uint32(st.Ino)
		if i == 0 {
			t.Cleanup(func() { c.Close() })
		} else {
			c.Close()
		}
	}
	return nil
}
