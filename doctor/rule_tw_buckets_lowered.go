// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// ruleBucketsLowered: lowering tcp_max_tw_buckets saves ~256 bytes per
// socket and costs TIME_WAIT protection at the limit.
func ruleBucketsLowered(e *env) []Finding {
	limit := e.integer(kread.KeyMaxTwBuckets)
	def := kernelDefaultBuckets(e)
	if !limit.OK || def == 0 || limit.Value >= def {
		return nil
	}
	ehash := e.integer(kread.KeyEhashEntries).Value
	return []Finding{{
		Severity: Warning,
		Title:    fmt.Sprintf("tcp_max_tw_buckets is %d, below the kernel default of %d", limit.Value, def),
		Subjects: []string{kread.KeyMaxTwBuckets},
		Observed: []string{
			fmt.Sprintf("net.ipv4.tcp_max_tw_buckets=%d; net.ipv4.tcp_ehash_entries=%d, so the default is %d (half the established hash size)", limit.Value, ehash, def),
		},
		Why: fmt.Sprintf("Someone lowered the limit, presumably to have fewer TIME_WAIT sockets. It does not make connections close any faster: once the namespace holds %d timewait sockets, the kernel closes new ones without TIME_WAIT (TcpExt TCPTimeWaitOverflow), dropping the protection against delayed segments to save about 256 bytes per socket.", limit.Value),
		Fix: []Step{{
			Text:     "Set it back to the default (or higher) and remove the lowering from /etc/sysctl.conf and /etc/sysctl.d/.",
			Commands: []string{fmt.Sprintf("sysctl -w net.ipv4.tcp_max_tw_buckets=%d", def), "grep -rn tcp_max_tw_buckets /etc/sysctl.conf /etc/sysctl.d/"},
		}},
	}}
}
