// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

// ruleInbound: server-side TIME_WAIT (local port is a listening port) costs
// memory only; tcp_tw_reuse does not apply to it.
func ruleInbound(e *env) []Finding {
	if e.st == nil {
		return nil
	}
	tw := e.st.TimeWait
	total := tw.Outbound + tw.Inbound + tw.Other
	if tw.Inbound < inboundMin || tw.Inbound*2 <= total {
		return nil
	}
	var ports, subjects []string
	for _, lp := range e.st.ListeningPorts() {
		if lp.TimeWait == 0 || len(ports) == listShown {
			break
		}
		ports = append(ports, fmt.Sprintf(":%d (%d)", lp.Port, lp.TimeWait))
		subjects = append(subjects, strconv.Itoa(int(lp.Port)))
	}
	return []Finding{{
		Severity: Info,
		Title:    fmt.Sprintf("%d of %d TIME_WAIT sockets are server side: memory only, harmless", tw.Inbound, total),
		Subjects: subjects,
		Observed: []string{
			fmt.Sprintf("TIME_WAIT by direction: inbound %d, outbound %d, other %d", tw.Inbound, tw.Outbound, tw.Other),
			"busiest listening ports: " + strings.Join(ports, ", "),
			fmt.Sprintf("memory: about %s (about %d bytes per TIME_WAIT socket)", mib(tw.Inbound*twSocketBytes), twSocketBytes),
		},
		Why: "Only the side that closes a connection first enters TIME_WAIT; here this host's servers close first. Server-side TIME_WAIT (the local port is a listening port) costs memory only: about 256 bytes per socket for its 60 s, and no ephemeral port. tcp_tw_reuse does not apply to it (it only affects outgoing connect()).",
		Fix: []Step{{
			Text: "Nothing needs doing. If the count matters (it counts towards tcp_max_tw_buckets), let clients close first: keep connections alive (HTTP keep-alive) so the client ends them, and raise tcp_max_tw_buckets if it nears the limit.",
		}},
	}}
}
