// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/timewait-exporter/timewait_exporter/internal/kread"
	"github.com/timewait-exporter/timewait_exporter/internal/model"
)

// rulePortRange: ports a service listens on inside ip_local_port_range can
// be handed to an outgoing connection while the service is down, and the
// kernel documents that the range's ends should differ in parity.
func rulePortRange(e *env) []Finding {
	sys := e.ports()
	if sys == nil {
		return nil
	}
	r := sys.PortRange
	var out []Finding
	if e.st != nil {
		eph := sys.EphemeralPorts()
		var inside []string
		reserved := model.PortSet{}
		for _, rr := range sys.Reserved {
			reserved.AddRange(rr)
		}
		for _, lp := range e.st.ListeningPorts() {
			if eph.Has(lp.Port) {
				inside = append(inside, strconv.Itoa(int(lp.Port)))
				reserved.AddRange(model.PortRange{Start: lp.Port, End: lp.Port})
			}
		}
		if len(inside) > 0 {
			sort.Slice(inside, func(i, j int) bool { a, _ := strconv.Atoi(inside[i]); b, _ := strconv.Atoi(inside[j]); return a < b })
			out = append(out, Finding{
				Severity: Warning,
				Title:    fmt.Sprintf("Listening port(s) %s lie inside ip_local_port_range and are not reserved", strings.Join(inside, ", ")),
				Subjects: append([]string{kread.KeyReservedPorts}, inside...),
				Observed: []string{
					fmt.Sprintf("net.ipv4.ip_local_port_range=%d-%d; listening inside it, not in net.ipv4.ip_local_reserved_ports: %s", r.Start, r.End, strings.Join(inside, ", ")),
				},
				Why: "connect() and bind() to port 0 hand out any port of ip_local_port_range that is not in ip_local_reserved_ports. While the service listens its port is taken, but while it restarts an outgoing connection can get that port, and the service's bind() then fails with EADDRINUSE (SO_REUSEADDR on the service does not prevent it: inet_bind_conflict lets the bind through only if the socket holding the port set SO_REUSEADDR too and is not listening, be it connected or in TIME_WAIT (a TIME_WAIT socket keeps its socket's options: inet_twsk_alloc), or if both set SO_REUSEPORT (as one user, or the holder in TIME_WAIT)).",
				Fix: []Step{{
					Text:     "Reserve the ports services listen on (the list keeps the ones already reserved). " + persist,
					Commands: []string{"sysctl -w net.ipv4.ip_local_reserved_ports=" + formatPortList(&reserved)},
				}},
			})
		}
	}
	if r.OddSize() { // ends of the same parity
		suggest := fmt.Sprintf("%d %d", r.Start, r.End+1)
		if r.End == 65535 {
			suggest = fmt.Sprintf("%d %d", r.Start-1, r.End)
		}
		out = append(out, Finding{
			Severity: Info,
			Title:    fmt.Sprintf("ip_local_port_range %d-%d has two ends of the same parity", r.Start, r.End),
			Subjects: []string{kread.KeyPortRange},
			Observed: []string{fmt.Sprintf("net.ipv4.ip_local_port_range=%d %d: both %s", r.Start, r.End, map[bool]string{true: "even", false: "odd"}[r.Start%2 == 0])},
			Why:      "connect() starts its search for a free port in one parity half of the range and leaves the other half to bind() to port 0, so that the two kinds of callers collide less (kernel commit 07f4c90062f8). That only splits evenly when the range holds an even number of ports, i.e. its ends differ in parity: the kernel's ip-sysctl documentation asks for it, the kernel logs \"ip_local_port_range: prefer different parity for start/end values\" otherwise, and the default 32768 60999 follows it. Minor, but free to fix.",
			Fix: []Step{{
				Text:     "Move one end by one port. " + persist,
				Commands: []string{fmt.Sprintf("sysctl -w net.ipv4.ip_local_port_range=\"%s\"", suggest)},
			}},
		})
	}
	return out
}
