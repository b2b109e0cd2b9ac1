// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/churn"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// IPv6 tells whether this namespace has IPv6, the way ss decides:
// without it the kernel has no sockstat6.
func (s *Scope) IPv6() bool {
	_, err := os.Stat(s.NetFile("sockstat6"))
	return err == nil
}

// SockDumper is what ReadSockets needs of a sock_diag connection (see
// sockdiag.Conn): a dump started by Dump, its sockets taken a reply at a
// time by Next, its error by Err.
type SockDumper interface {
	Dump(ctx context.Context, family uint8, states uint32)
	Next() ([]sockdiag.Socket, bool)
	Err() error
	Close() error
}

// OpenSockDiag opens the connection ReadSockets dumps with; fault and
// golden tests replace it to script what the kernel answers (e.g.
// interrupted dumps).
var OpenSockDiag = func() (SockDumper, error) {
	c, err := sockdiag.Open()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ReadSockets dumps the sockets in states (a sockdiag state mask) of both
// families, in one walk of the kernel's tables, into one model.SocketStats
// with the port policy of sys (the namespace's sysctls as read, sysErr
// why they could not be), and returns its summary; a dump the kernel
// marks interrupted is retried once. Without the sysctls pressure needs
// (see ForPressure) the state counts are still right but pressure is not:
// the summary comes back without pressure, together with the error.
func ReadSockets(s *Scope, states uint32, sys *Sysctls, sysErr error) (*model.Summary, error) {
	stats, _, err := readSockets(s, states, sys, sysErr, false)
	if stats == nil {
		return nil, err
	}
	return stats.Summary(), err
}

// ReadSocketsDetail is ReadSockets that also records each flow's
// TIME_WAIT ages and live sockets from the same dump: the doctor's
// snapshots, never a scrape.
func ReadSocketsDetail(s *Scope, states uint32, sys *Sysctls, sysErr error) (*model.SocketStats, *churn.Recorder, error) {
	return readSockets(s, states, sys, sysErr, true)
}

func readSockets(s *Scope, states uint32, sys *Sysctls, sysErr error, detail bool) (*model.SocketStats, *churn.Recorder, error) {
	sys, sysErr = ForPressure(sys, sysErr)
	conn, err := OpenSockDiag()
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	var stats *model.SocketStats
	var rec *churn.Recorder
	for attempt := 0; attempt < 2; attempt++ {
		stats = NewSocketStatsFor(sys)
		if detail {
			rec = churn.NewRecorder()
		}
		err = dumpInto(s.Ctx, conn, states, stats, rec)
		if !errors.Is(err, sockdiag.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if sysErr != nil {
		return stats, rec, fmt.Errorf("pressure needs the sysctls %s (with the reserved ports): %w", strings.Join(pressureSysctls, ", "), sysErr)
	}
	return stats, rec, nil
}

// dumpInto dumps the sockets in states of both families with conn, each
// added to stats and, if not nil, to rec: the dump's loop is kread's, so
// that sock_diag hands back each reply's sockets rather than calling into
// the model for each one.
func dumpInto(ctx context.Context, conn SockDumper, states uint32, stats *model.SocketStats, rec *churn.Recorder) error {
	conn.Dump(ctx, unix.AF_UNSPEC, states)
	for socks, ok := conn.Next(); ok; socks, ok = conn.Next() {
		for i := range socks {
			stats.Add(&socks[i])
			if rec != nil {
				rec.Add(&socks[i])
			}
		}
	}
	return conn.Err()
}

// NewSocketStatsFor starts an aggregation with the port policy of sys
// (the ephemeral set, its range's parity, the reuse policy), or one that
// only counts states when the sysctls could not be read (sys nil).
func NewSocketStatsFor(sys *Sysctls) *model.SocketStats {
	if sys == nil {
		return model.NewSocketStats(nil, model.ReusePolicy{})
	}
	return model.NewSocketStatsForRange(sys.PortRange, sys.Reserved, reusePolicyOf(sys))
}

func reusePolicyOf(sys *Sysctls) model.ReusePolicy {
	p := model.ReusePolicy{Delay: time.Second} // kernels without tcp_tw_reuse_delay
	p.Mode = sys.TCPTwReuse
	p.Timestamps = sys.TCPTimestamps != 0
	if d := sys.TCPTwReuseDelay; d.OK {
		p.Delay = time.Duration(d.Value) * time.Millisecond
	}
	return p
}
