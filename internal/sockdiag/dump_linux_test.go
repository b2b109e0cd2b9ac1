// SPDX-License-Identifier: Apache-2.0

package sockdiag_test

import (
	"context"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// A dump left after its first reply is finished by the next Dump on the
// same connection, which then sees every socket: the kernel runs one dump
// per netlink socket at a time and refuses another while one is in
// progress (EBUSY, netlink_dump_start in net/netlink/af_netlink.c).
func TestDumpAfterOneLeftUnread(t *testing.T) {
	conn, tw := benchNS(t, 3000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn.Dump(ctx, unix.AF_UNSPEC, sockdiag.AllStates)
	if socks, ok := conn.Next(); !ok || len(socks) >= tw {
		t.Fatalf("first reply: %d sockets, ok %v; want some of the %d, not all", len(socks), ok, tw)
	}
	seen := 0
	conn.Dump(ctx, unix.AF_UNSPEC, sockdiag.StateMask(sockdiag.StateTimeWait))
	for socks, ok := conn.Next(); ok; socks, ok = conn.Next() {
		seen += len(socks)
	}
	if err := conn.Err(); err != nil || seen != tw {
		t.Errorf("the next dump: %d of the %d TIME_WAIT sockets, err %v", seen, tw, err)
	}
}
