// SPDX-License-Identifier: Apache-2.0

//go:build linux

// Fault injection of the sock_diag dump: interrupted (NLM_F_DUMP_INTR),
// refused, and the logging of failures that change and of recovery.

package collector

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// fakeDumper scripts what the kernel answers: each Dump first reports the
// sockets in one reply, then fails with errs[call] (nil once errs runs
// out).
type fakeDumper struct {
	mu      sync.Mutex
	errs    []error
	calls   int
	closed  int
	sockets []sockdiag.Socket
	reply   []sockdiag.Socket // of the dump in progress; nil once taken
	err     error
}

func (f *fakeDumper) Dump(_ context.Context, family uint8, _ uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := f.calls
	f.calls++
	f.reply = []sockdiag.Socket{}
	for _, s := range f.sockets {
		if family == unix.AF_UNSPEC || s.Family == family {
			f.reply = append(f.reply, s)
		}
	}
	f.err = nil
	if call < len(f.errs) {
		f.err = f.errs[call]
	}
}

func (f *fakeDumper) Next() ([]sockdiag.Socket, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := f.reply
	f.reply = nil
	return reply, reply != nil
}

func (f *fakeDumper) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeDumper) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

func (f *fakeDumper) counts() (calls, closed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.closed
}

// withDumper makes readSockets use d (or fail to open with openErr) for
// the rest of the test.
func withDumper(t *testing.T, d *fakeDumper, openErr error) {
	t.Helper()
	orig := kread.OpenSockDiag
	kread.OpenSockDiag = func() (kread.SockDumper, error) {
		if openErr != nil {
			return nil, openErr
		}
		return d, nil
	}
	t.Cleanup(func() { kread.OpenSockDiag = orig })
}

func twSocket(family uint8, src, dst string) sockdiag.Socket {
	return sockdiag.Socket{Family: family, State: sockdiag.StateTimeWait, Timer: 3, Expires: 30000,
		Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}
}

// TestFaultDumpInterrupted: NLM_F_DUMP_INTR (the socket tables changed
// during the dump) is retried once with fresh counts; interrupted twice,
// the sockets collector fails for that scrape and says why, once.
func TestFaultDumpInterrupted(t *testing.T) {
	sockets := []sockdiag.Socket{
		twSocket(unix.AF_INET, "127.0.0.1:40000", "127.0.0.1:8080"),
		twSocket(unix.AF_INET, "127.0.0.1:40001", "127.0.0.1:8080"),
		twSocket(unix.AF_INET6, "[::1]:40002", "[::1]:8080"),
	}
	intr := sockdiag.ErrDumpInterrupted

	t.Run("once: retried, counted once", func(t *testing.T) {
		d := &fakeDumper{errs: []error{intr}, sockets: sockets}
		withDumper(t, d, nil)
		e, log := faultExporter(t, faultProc(t))
		tw := map[string]float64{}
		for _, mf := range gatherExporter(t, e) {
			for _, m := range mf.GetMetric() {
				switch mf.GetName() {
				case "timewait_tcp_sockets":
					if labelValue(m, "state") == "time_wait" {
						tw[labelValue(m, "family")] = m.GetGauge().GetValue()
					}
				case "timewait_scrape_collector_success":
					if labelValue(m, "collector") == "sockets" && m.GetGauge().GetValue() != 1 {
						t.Errorf("sockets collector failed after one interrupted dump:\n%s", log)
					}
				}
			}
		}
		// The first attempt's IPv4 sockets must not be added to the retry's.
		if tw["ipv4"] != 2 || tw["ipv6"] != 1 {
			t.Errorf("time_wait by family %v, want ipv4 2, ipv6 1", tw)
		}
		// Attempt 1 (interrupted), attempt 2: one dump of both families each.
		if calls, closed := d.counts(); calls != 2 || closed != 1 {
			t.Errorf("%d dumps and %d closes, want 2 and 1", calls, closed)
		}
		if n := log.count("level=ERROR"); n != 0 {
			t.Errorf("an interrupted dump that was retried logged an error:\n%s", log)
		}
	})

	t.Run("twice: success 0, one error line", func(t *testing.T) {
		const scrapes = 5
		d := &fakeDumper{sockets: sockets}
		for i := 0; i < 2*scrapes; i++ {
			d.errs = append(d.errs, intr)
		}
		withDumper(t, d, nil)
		e, log := faultExporter(t, faultProc(t))
		assertFault(t, e, log, scrapes, "sockets")
		if calls, closed := d.counts(); calls != 2*scrapes || closed != scrapes {
			t.Errorf("%d dumps and %d closes over %d scrapes, want %d and %d (one retry each)", calls, closed, scrapes, 2*scrapes, scrapes)
		}
		if log.count("NLM_F_DUMP_INTR") == 0 {
			t.Errorf("the error does not say the dump was interrupted:\n%s", log)
		}
	})
}

// TestFaultDumpRefused: other dump failures are not retried: a refused
// request (NLMSG_ERROR), a dump the kernel ends with an error, a socket
// that cannot be opened (no netlink: seccomp, LSM, old kernel), a kernel
// that does not answer in time.
func TestFaultDumpRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dumpErr error
		openErr error
		calls   int
		inLog   string
	}{
		{name: "request refused", dumpErr: fmt.Errorf("sock_diag request refused: %w", unix.EPERM), calls: 1, inLog: "operation not permitted"},
		{name: "dump failed", dumpErr: fmt.Errorf("sock_diag dump failed: %w", unix.ENOMEM), calls: 1, inLog: "cannot allocate memory"},
		{name: "no answer", dumpErr: fmt.Errorf("read sock_diag reply: %w", context.DeadlineExceeded), calls: 1, inLog: "deadline exceeded"},
		{name: "socket refused", openErr: fmt.Errorf("open NETLINK_SOCK_DIAG socket: %w", unix.EACCES), inLog: "permission denied"},
		{name: "no netlink", openErr: fmt.Errorf("open NETLINK_SOCK_DIAG socket: %w", unix.EAFNOSUPPORT), inLog: "address family not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDumper{}
			for i := 0; i < 10; i++ {
				d.errs = append(d.errs, tc.dumpErr)
			}
			withDumper(t, d, tc.openErr)
			e, log := faultExporter(t, faultProc(t))
			assertFault(t, e, log, 3, "sockets")
			if calls, closed := d.counts(); calls != 3*tc.calls || (tc.openErr == nil && closed != 3) {
				t.Errorf("%d dumps, %d closes over 3 scrapes; want %d dumps (no retry), 3 closes", calls, closed, 3*tc.calls)
			}
			if log.count(tc.inLog) == 0 {
				t.Errorf("log does not say %q:\n%s", tc.inLog, log)
			}
		})
	}
}

// TestFaultRecovery: a failure that changes is logged again (it is news);
// recovery is logged at info; a later failure is logged again.
func TestFaultRecovery(t *testing.T) {
	d := &fakeDumper{errs: []error{
		fmt.Errorf("sock_diag request refused: %w", unix.EPERM), // scrape 1
		fmt.Errorf("sock_diag request refused: %w", unix.EPERM), // scrape 2: same, debug
		fmt.Errorf("sock_diag dump failed: %w", unix.ENOMEM),    // scrape 3: new error
		nil, // scrape 4: fine: recovered
		fmt.Errorf("sock_diag request refused: %w", unix.EPERM), // scrape 5: failing again
	}}
	withDumper(t, d, nil)
	e, log := faultExporter(t, faultProc(t))
	for range 5 {
		faultScrape(t, e)
	}
	if n := log.count(`level=ERROR msg="collector failed" collector=sockets`); n != 3 {
		t.Errorf("%d error lines, want 3 (first, changed, after recovery):\n%s", n, log)
	}
	if n := log.count(`level=INFO msg="collector recovered" collector=sockets`); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, log)
	}
}
