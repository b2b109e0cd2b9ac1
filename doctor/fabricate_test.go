// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/timewait-exporter/timewait_exporter/internal/churn"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
	"github.com/timewait-exporter/timewait_exporter/internal/owners"
	"github.com/timewait-exporter/timewait_exporter/internal/scan"
	"github.com/timewait-exporter/timewait_exporter/internal/sockdiag"
	"golang.org/x/sys/unix"
)

// host fabricates one namespace: sysctls, sockets (as sock_diag would dump
// them) and the proc counters, and turns them into a scan.Snapshot the
// way TakeSnapshot does (kread.NewSocketStatsFor + Add).
type host struct {
	labels    []string
	sys       *kread.Sysctls
	listeners []sockdiag.Socket
	sockets   []sockdiag.Socket
	nextPort  uint16
	overflows float64
	// extraTW adds timewait mini-sockets sock_diag shows as FIN_WAIT2
	// (sockstat tw counts them).
	extraTW int
	errors  map[string]error
	// sysErr is why the sysctls marked by badSysctl could not be read.
	sysErr error
	// owners, when set, is the owner lookup's result; the snapshot then
	// carries the doctor's detail (Flows) as the doctor's dump does.
	owners *owners.Result
}

// newHost is a namespace with the kernel defaults of Linux 6.x and no
// sockets.
func newHost() *host {
	return &host{
		sys: &kread.Sysctls{
			TCPTwReuse:      2,
			TCPTwReuseDelay: kread.Some[int64](1000),
			TCPFinTimeout:   60,
			TCPMaxTwBuckets: 131072,
			TCPTimestamps:   1,
			TCPRFC1337:      0,
			TCPEhashEntries: kread.Some[int64](262144),
			PortRange:       model.PortRange{Start: 32768, End: 60999},
		},
	}
}

// set sets one sysctl by key, as a test reads best.
func (h *host) set(key string, v int64) *host {
	switch key {
	case kread.KeyTwReuse:
		h.sys.TCPTwReuse = v
	case kread.KeyFinTimeout:
		h.sys.TCPFinTimeout = v
	case kread.KeyMaxTwBuckets:
		h.sys.TCPMaxTwBuckets = v
	case kread.KeyTimestamps:
		h.sys.TCPTimestamps = v
	default:
		*h.optional(key) = kread.Some(v)
	}
	return h
}

// unset removes an optional sysctl, as on a kernel without it.
func (h *host) unset(key string) *host { *h.optional(key) = kread.Optional[int64]{}; return h }

func (h *host) optional(key string) *kread.Optional[int64] {
	switch key {
	case kread.KeyTwReuseDelay:
		return &h.sys.TCPTwReuseDelay
	case kread.KeyTwRecycle:
		return &h.sys.TCPTwRecycle
	case kread.KeyEhashEntries:
		return &h.sys.TCPEhashEntries
	}
	panic("no such sysctl in the fabricated host: " + key)
}

// badSysctl makes one sysctl unreadable, as a bad value in its file does:
// the snapshot keeps the others, with the error under "sysctl".
func (h *host) badSysctl(key string) *host {
	err := fmt.Errorf("sysctl %s: field 1 \"60abc\" is not an integer", key)
	h.sys.MarkFailed(key, err)
	h.sysErr = errors.Join(h.sysErr, err)
	return h
}

// portRange sets ip_local_port_range.
func (h *host) portRange(start, end uint16) *host {
	h.sys.PortRange = model.PortRange{Start: start, End: end}
	return h
}

func (h *host) reserve(start, end uint16) *host {
	h.sys.Reserved = append(h.sys.Reserved, model.PortRange{Start: start, End: end})
	return h
}

// listen adds a listener on 0.0.0.0:port.
func (h *host) listen(port uint16) *host {
	h.listeners = append(h.listeners, sockdiag.Socket{
		Family: unix.AF_INET, State: sockdiag.StateListen,
		Src: netip.AddrPortFrom(netip.IPv4Unspecified(), port),
	})
	return h
}

// bindOnly adds a bound_inactive socket (bind() without listen() or
// connect(), dumped with --collector.sockets.bound-inactive) on
// 0.0.0.0:port.
func (h *host) bindOnly(port uint16) *host {
	h.listeners = append(h.listeners, sockdiag.Socket{
		Family: unix.AF_INET, State: sockdiag.StateBoundInactive,
		Src: netip.AddrPortFrom(netip.IPv4Unspecified(), port),
	})
	return h
}

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// outbound adds n client-closed connections in TIME_WAIT from src to dst,
// each on its own ephemeral port (consecutive across calls, so no two
// destinations share one), half a second old (expires = ms left of the
// 60 s): younger than tcp_tw_reuse_delay, so never reusable.
func (h *host) outbound(src, dst string, n int) *host {
	return h.outboundState(src, dst, n, sockdiag.StateTimeWait)
}

// outboundOld is outbound with TIME_WAIT sockets 30 s old: older than
// tcp_tw_reuse_delay, so reusable where tcp_tw_reuse applies.
func (h *host) outboundOld(src, dst string, n int) *host {
	h.outbound(src, dst, n)
	for i := len(h.sockets) - n; i < len(h.sockets); i++ {
		h.sockets[i].Expires = 30000
	}
	return h
}

func (h *host) outboundState(src, dst string, n int, state uint8) *host {
	s, d := netip.MustParseAddr(src), netip.MustParseAddrPort(dst)
	if h.nextPort == 0 {
		h.nextPort = h.sys.PortRange.Start
	}
	for i := 0; i < n; i++ {
		h.sockets = append(h.sockets, sockdiag.Socket{
			Family: family(s), State: state, Timer: 3, Expires: 59500,
			Src: netip.AddrPortFrom(s, h.nextPort), Dst: d,
		})
		h.nextPort++
	}
	return h
}

// inbound adds n server-closed connections in TIME_WAIT on a listening
// port, from clients on 192.0.2.1.
func (h *host) inbound(port uint16, n int) *host {
	for i := 0; i < n; i++ {
		h.sockets = append(h.sockets, sockdiag.Socket{
			Family: unix.AF_INET, State: sockdiag.StateTimeWait, Timer: 3, Expires: 30000,
			Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port),
			Dst: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(1024+i%60000)),
		})
	}
	return h
}

// snapshot builds the scan.Snapshot, listeners first as the kernel
// dumps them; without the sysctls pressure needs, the sockets come without
// pressure and with an error, as kread.ReadSockets returns them.
func (h *host) snapshot() *scan.Snapshot {
	pressureSys, pressureErr := kread.ForPressure(h.sys, h.sysErr)
	st := kread.NewSocketStatsFor(pressureSys)
	tw := h.extraTW
	for _, s := range h.listeners {
		st.Add(&s)
	}
	for _, s := range h.sockets {
		st.Add(&s)
		if s.State == sockdiag.StateTimeWait {
			tw++
		}
	}
	inuse := 0 // sockstat inuse counts hashed sockets: listeners, not bound-only ones
	for _, s := range h.listeners {
		if s.State == sockdiag.StateListen {
			inuse++
		}
	}
	snap := &scan.Snapshot{
		Owners:   h.owners,
		Time:     time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		Labels:   h.labels,
		Sockets:  st,
		Sysctls:  h.sys,
		Sockstat: &kread.Sockstat{TimeWait: kread.Some(tw), InUse: kread.Some(inuse)},
		Netstat: kread.Netstat{
			"netstat": {"TcpExt": {"TW": float64(tw), "TWRecycled": 0, "TWKilled": 0, "TCPTimeWaitOverflow": h.overflows}},
			"snmp":    {"Tcp": {"ActiveOpens": float64(len(h.sockets)), "PassiveOpens": 0, "CurrEstab": 0}},
		},
		Errors: map[string]error{},
	}
	if h.owners != nil {
		snap.Flows = churn.NewRecorder()
		for _, s := range slices.Concat(h.listeners, h.sockets) {
			snap.Flows.Add(&s)
		}
	}
	if h.sysErr != nil {
		snap.Errors["sysctl"] = h.sysErr
	}
	if pressureErr != nil {
		snap.Errors["sockets"] = pressureErr
	}
	for k, err := range h.errors {
		snap.Errors[k] = err
		switch k {
		case "sockets":
			snap.Sockets = nil
		case "sysctl":
			snap.Sysctls = nil
		case "sockstat":
			snap.Sockstat = nil
		case "netstat":
			snap.Netstat = nil
		}
	}
	return snap
}
