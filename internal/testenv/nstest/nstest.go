// SPDX-License-Identifier: Apache-2.0

// Package nstest runs a test binary inside a throwaway network namespace,
// so integration tests can make real sockets and set sysctls without
// touching the host.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const marker = "TIMEWAIT_NSTEST_INSIDE"

// Main re-executes the test binary under `unshare --net` and returns its
// exit status; inside, it brings loopback up, applies the sysctls and runs
// the tests. Without root it runs the tests as they are (integration tests
// then skip themselves through Require).
func Main(m *testing.M, sysctls map[string]string) int {
	if os.Getenv(marker) == "" && os.Geteuid() == 0 {
		cmd := exec.Command("unshare", append([]string{"--net", "--"}, os.Args...)...)
		cmd.Env = append(os.Environ(), marker+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			fmt.Fprintln(os.Stderr, "nstest: unshare:", err)
			return 1
		}
		return 0
	}
	if Inside() {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "nstest: ip link set lo up: %v: %s\n", err, out)
			return 1
		}
		for k, v := range sysctls {
			if err := SetSysctl(k, v); err != nil {
				fmt.Fprintln(os.Stderr, "nstest:", err)
				return 1
			}
		}
	}
	return m.Run()
}

// Inside reports whether this process runs in the throwaway namespace.
func Inside() bool { return os.Getenv(marker) != "" }

// Require skips t unless it runs inside the throwaway namespace.
func Require(t testing.TB) {
	t.Helper()
	if !Inside() {
		t.Skip("needs root to run in a throwaway network namespace")
	}
}

// SetSysctl writes one sysctl ("net.ipv4.tcp_tw_reuse") of this namespace.
// The value goes with a newline, as sysctl(8) writes it: a write of zero
// bytes changes nothing, so "" alone would not clear
// ip_local_reserved_ports.
func SetSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", key, value, err)
	}
	return nil
}
