// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// ruleFinTimeout: tcp_fin_timeout limits orphaned FIN_WAIT2 sockets; it
// does not change TIME_WAIT, which is fixed at 60 s.
func ruleFinTimeout(e *env) []Finding {
	fin := e.integer(kread.KeyFinTimeout)
	if !fin.OK || fin.Value == 60 {
		return nil
	}
	v := fin.Value
	f := Finding{
		Severity: Info,
		Title:    fmt.Sprintf("tcp_fin_timeout is %d s, not the default 60: it does not change TIME_WAIT", v),
		Subjects: []string{kread.KeyFinTimeout},
		Observed: []string{fmt.Sprintf("net.ipv4.tcp_fin_timeout is %d s (default 60)", v)},
		Why:      "net.ipv4.tcp_fin_timeout limits how long an orphaned socket (closed here, the peer never sent its FIN) waits in FIN_WAIT2. TIME_WAIT lasts a fixed 60 s (TCP_TIMEWAIT_LEN in include/net/tcp.h) and no sysctl changes it. At any setting those FIN_WAIT2 sockets become timewait mini-sockets (tcp_time_wait with TCP_FIN_WAIT2): at once when tcp_fin_timeout is 60 s or less, otherwise after tcp_fin_timeout minus 60 s (tcp_keepalive_timer). /proc/net/sockstat tw counts them, ss shows them as FIN-WAIT-2.",
	}
	if v < 60 {
		f.Fix = []Step{{
			Text:     "If it was changed to have fewer TIME_WAIT sockets, it did not do that: set it back to the default and use the fixes for TIME_WAIT (connection reuse; tcp_tw_reuse=1 for outgoing connections; a higher tcp_max_tw_buckets). Keep it only if orphaned FIN_WAIT2 sockets from peers that never close are the problem it was meant for.",
			Commands: []string{"sysctl -w net.ipv4.tcp_fin_timeout=60", "grep -rn tcp_fin_timeout /etc/sysctl.conf /etc/sysctl.d/"},
		}}
	} else {
		f.Fix = []Step{{Text: "Nothing to do for TIME_WAIT. Keep it only if it is meant for orphaned FIN_WAIT2 sockets."}}
	}
	return []Finding{f}
}
