// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"context"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
	"github.com/timewait-exporter/timewait_exporter/internal/testenv/nstest"
)

// TestRealOwners: this test process holds 3 connections to a loopback
// destination and closes 100 others first (real TIME_WAIT sockets); the
// doctor's snapshots, with the owner lookup, name this process with its 3
// live sockets and the 100 closes.
func TestRealOwners(t *testing.T) {
	nstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:7010")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // read each connection to its end, then close: the client closes first
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	d := net.Dialer{Deadline: time.Now().Add(20 * time.Second)}
	for range 3 {
		c, err := d.Dial("tcp", "127.0.0.1:7010")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for range 100 {
		c, err := d.Dial("tcp", "127.0.0.1:7010")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	time.Sleep(100 * time.Millisecond) // the server's FINs: the closes enter TIME_WAIT
	r := scan.NewReader(scan.Options{ProcPath: "/proc", Owners: true})
	report := Diagnose(r.Snapshots(ctx), config.Default())
	f := one(t, report, "owners", Info)
	for _, fl := range f.Flows {
		if fl.Destination != "127.0.0.1:7010" {
			continue
		}
		if len(fl.Owners) != 1 || fl.Owners[0].PID != os.Getpid() || fl.Owners[0].LiveSockets != 3 || fl.LiveSockets != 3 {
			t.Errorf("owners %+v of %d live sockets, want this process (pid %d) with 3", fl.Owners, fl.LiveSockets, os.Getpid())
		}
		if fl.TimeWait < 95 || fl.ClosesPerSecond <= 0 {
			t.Errorf("%d TIME_WAIT at %v/s, want about 100 closes", fl.TimeWait, fl.ClosesPerSecond)
		}
		return
	}
	t.Fatalf("no flow towards 127.0.0.1:7010 in %+v\n%s", f.Flows, textOf(report))
}
