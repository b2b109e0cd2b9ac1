// SPDX-License-Identifier: Apache-2.0

package churn

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

func TestRecorder(t *testing.T) {
	ap := netip.MustParseAddrPort
	sock := func(fam, state uint8, src, dst string, expires, inode uint32) *sockdiag.Socket {
		return &sockdiag.Socket{Family: fam, State: state, Src: ap(src), Dst: ap(dst), Expires: expires, Inode: inode, CgroupID: uint64(inode) / 100, UID: inode % 2}
	}
	v4, v6 := uint8(unix.AF_INET), uint8(unix.AF_INET6)
	r := NewRecorder()
	for _, s := range []*sockdiag.Socket{
		sock(v4, sockdiag.StateListen, "0.0.0.0:8080", "0.0.0.0:0", 0, 100),
		sock(v4, sockdiag.StateEstablished, "10.0.0.1:8080", "10.0.0.9:40000", 0, 101), // accepted
		sock(v4, sockdiag.StateTimeWait, "10.0.0.1:8080", "10.0.0.9:40001", 30000, 0),  // server side
		sock(v4, sockdiag.StateTimeWait, "10.0.0.1:50000", "10.0.0.5:5432", 59000, 0),
		sock(v6, sockdiag.StateTimeWait, "[::ffff:10.0.0.1]:50001", "[::ffff:10.0.0.5]:5432", 1000, 0), // v4-mapped: same flow
		sock(v4, sockdiag.StateEstablished, "10.0.0.1:50002", "10.0.0.5:5432", 0, 200),
		sock(v4, sockdiag.StateEstablished, "10.0.0.1:50006", "10.0.0.5:5432", 0, 300), // another cgroup (3)
		sock(v4, sockdiag.StateEstablished, "10.0.0.1:50007", "10.0.0.5:5432", 0, 250), // cgroup 2 again
		sock(v4, sockdiag.StateFinWait2, "10.0.0.1:50003", "10.0.0.5:5432", 0, 0),      // orphan: no inode
		sock(v4, sockdiag.StateSynSent, "10.0.0.2:50004", "10.0.0.5:5432", 0, 201),     // another source
		sock(v4, sockdiag.StateBoundInactive, "10.0.0.1:50005", "0.0.0.0:0", 0, 202),
	} {
		r.Add(s)
	}
	for _, tc := range []struct {
		name         string
		got          *Sockets
		ages         []time.Duration
		inodes, uids []uint32
		cgroups      []uint64
	}{
		{"outbound flow", r.Flow(Flow{netip.MustParseAddr("10.0.0.1"), ap("10.0.0.5:5432")}), []time.Duration{time.Second, 59 * time.Second}, []uint32{200, 300, 250}, []uint32{0}, []uint64{2, 3}},
		{"other source", r.Flow(Flow{netip.MustParseAddr("10.0.0.2"), ap("10.0.0.5:5432")}), []time.Duration{}, []uint32{201}, []uint32{1}, []uint64{2}},
		{"listening port", r.Port(8080), []time.Duration{30 * time.Second}, []uint32{100, 101}, []uint32{0, 1}, []uint64{1}},
		{"not listening", r.Port(50005), nil, nil, nil, nil},
		{"unknown flow", r.Flow(Flow{netip.MustParseAddr("10.0.0.3"), ap("10.0.0.5:5432")}), nil, nil, nil, nil},
	} {
		ages := tc.got.Ages()
		slices.Sort(ages)
		var inodes, uids []uint32
		var cgroups []uint64
		if tc.got != nil {
			inodes, uids, cgroups = tc.got.Inodes, tc.got.UIDs, tc.got.Cgroups
		}
		if !slices.Equal(ages, tc.ages) || !slices.Equal(inodes, tc.inodes) || !slices.Equal(uids, tc.uids) || !slices.Equal(cgroups, tc.cgroups) {
			t.Errorf("%s: ages %v, inodes %v, uids %v, cgroups %v; want %v, %v, %v, %v", tc.name, ages, inodes, uids, cgroups, tc.ages, tc.inodes, tc.uids, tc.cgroups)
		}
	}
	var nilRec *Recorder
	if nilRec.Flow(Flow{}) != nil || nilRec.Port(1) != nil {
		t.Error("a nil Recorder records nothing")
	}
}
