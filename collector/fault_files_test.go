// SPDX-License-Identifier: Apache-2.0

//go:build linux

package collector

import "testing"

// TestFaultMissingAndCut: proc files and sysctls that are missing or cut
// short (a kernel without IPv6, an older kernel, a broken copy under
// --path.procfs), over four scrapes: only the collectors that need the file
// report 0, each with one error line; a file the kernel may lack fails
// none. Empty files are TestFaultProcFiles'. What needs an unprivileged
// process (permission denied, netlink refused by seccomp) is
// test/harden_faults.sh's.
func TestFaultMissingAndCut(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		content []byte // nil removes the file
		failed  []string
	}{
		{"netstat missing", "net/netstat", nil, []string{"netstat"}},
		{"sockstat6 missing (no IPv6)", "net/sockstat6", nil, nil},
		{"optional sysctl missing", "sys/net/ipv4/tcp_tw_reuse_delay", nil, nil},
		{"required sysctl missing", "sys/net/ipv4/tcp_fin_timeout", nil, []string{"sysctl"}},
		{"netstat cut in its first header", "net/netstat", []byte(seedNetstat[:40]), []string{"netstat"}},
		{"sockstat cut in its TCP line", "net/sockstat", []byte(seedSockstat[:40]), []string{"sockstat"}},
		{"port range cut to one number", "sys/net/ipv4/ip_local_port_range", []byte("32768"), []string{"sockets", "sysctl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := faultProc(t)
			writeFile(t, root, tc.file, tc.content)
			e, log := faultExporter(t, root)
			assertFault(t, e, log, 4, tc.failed...)
		})
	}
}
