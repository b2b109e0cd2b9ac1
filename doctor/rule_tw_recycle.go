// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// ruleRecycle: tcp_tw_recycle was removed in Linux 4.12 because it dropped
// SYNs from clients behind NAT; only older kernels have the file.
func ruleRecycle(e *env) []Finding {
	recycle := e.integer(kread.KeyTwRecycle)
	if !recycle.OK {
		return nil
	}
	v := recycle.Value
	f := Finding{
		Subjects: []string{kread.KeyTwRecycle},
		Observed: []string{fmt.Sprintf("net.ipv4.tcp_tw_recycle is %d (the file exists only on kernels older than 4.12)", v)},
		Why:      "tcp_tw_recycle dropped SYNs from clients behind NAT: it compared TCP timestamps per source IP, and clients sharing one NAT address have unrelated timestamp clocks. Linux 4.12 removed it for that reason. For outgoing connections tcp_tw_reuse=1 is the safe setting; server-side TIME_WAIT costs memory only.",
		Fix: []Step{{
			Text:     "Keep it 0 and delete every tcp_tw_recycle line from /etc/sysctl.conf and /etc/sysctl.d/, so no one copies it to a newer host.",
			Commands: []string{"sysctl -w net.ipv4.tcp_tw_recycle=0", "grep -rn tcp_tw_recycle /etc/sysctl.conf /etc/sysctl.d/"},
		}},
	}
	if v != 0 {
		f.Severity = Critical
		f.Title = fmt.Sprintf("tcp_tw_recycle is on (%d): it drops connections from clients behind NAT; turn it off", v)
	} else {
		f.Severity = Info
		f.Title = "tcp_tw_recycle exists (kernel older than 4.12) and is off: keep it that way"
	}
	return []Finding{f}
}
