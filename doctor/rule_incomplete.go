// SPDX-License-Identifier: Apache-2.0

package doctor

import (
	"fmt"
	"sort"
)

// ruleIncomplete reports sources the snapshot could not read: the rules that
// need them stay silent, so the verdict is partial.
func ruleIncomplete(e *env) []Finding {
	if len(e.snap.Errors) == 0 {
		return nil
	}
	names := make([]string, 0, len(e.snap.Errors))
	for n := range e.snap.Errors {
		names = append(names, n)
	}
	sort.Strings(names)
	var obs []string
	for _, n := range names {
		obs = append(obs, fmt.Sprintf("%s: %v", n, e.snap.Errors[n]))
	}
	return []Finding{{
		Severity: Warning,
		Title:    "Some sources could not be read; the rules that need them were skipped",
		Subjects: names,
		Observed: obs,
		Why:      "The doctor judges only what it could read. The sockets source is the kernel's sock_diag netlink dump; sockstat, netstat and sysctl are files under /proc (net/sockstat, net/netstat and net/snmp, sys/net/ipv4).",
		Fix:      []Step{{Text: "Check that --path.procfs points at a procfs mount of this host and that the process may open a NETLINK_SOCK_DIAG socket (a security profile may forbid netlink); the errors above name the file or call that failed."}},
	}}
}
