// SPDX-License-Identifier: Apache-2.0

// Command nonetlink runs a command with socket(AF_NETLINK, ...) refused, the
// way a hardened container (a seccomp profile or an LSM that denies netlink)
// refuses it, so tests can check that the exporter survives it:
//
//	nonetlink [-errno EACCES] -- ./timewait_exporter --web.listen-address=...
//
// With -cgroupns it also refuses setns(fd, CLONE_NEWCGROUP) with EPERM, as
// for an exporter that may not enter the host's cgroup namespace (-errno
// none then leaves netlink alone), so tests can check pods are named from
// the exporter's own cgroup namespace.
//
// It sets no_new_privs, installs a seccomp filter on every thread that makes
// socket() with domain AF_NETLINK fail with the given errno, and execs the
// command, which inherits the filter. Every other system call is allowed.
// Linux on amd64 and arm64 only.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

var arches = map[string]uint32{
	"amd64": unix.AUDIT_ARCH_X86_64,
	"arm64": unix.AUDIT_ARCH_AARCH64,
}

var errnos = map[string]syscall.Errno{
	"EACCES":       unix.EACCES,
	"EPERM":        unix.EPERM,
	"EAFNOSUPPORT": unix.EAFNOSUPPORT,
	"none":         0,
}

func main() {
	errName := flag.String("errno", "EACCES", "error socket(AF_NETLINK) fails with: EACCES, EPERM, EAFNOSUPPORT or none (allowed)")
	cgroupns := flag.Bool("cgroupns", false, "refuse setns(fd, CLONE_NEWCGROUP) with EPERM too")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: nonetlink [-errno NAME] -- command [args...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	errno, ok := errnos[*errName]
	arch, archOK := arches[runtime.GOARCH]
	if flag.NArg() == 0 || !ok || !archOK {
		flag.Usage()
		os.Exit(2)
	}
	path, err := exec.LookPath(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	var rules []rule
	if errno != 0 {
		rules = append(rules, rule{unix.SYS_SOCKET, 16, unix.AF_NETLINK, errno}) // domain: args[0]
	}
	if *cgroupns {
		rules = append(rules, rule{unix.SYS_SETNS, 24, unix.CLONE_NEWCGROUP, unix.EPERM}) // nstype: args[1]
	}
	if err := install(arch, rules); err != nil {
		fail(err)
	}
	fail(syscall.Exec(path, flag.Args(), os.Environ()))
}

// rule refuses system call nr with errno when its argument at offset off
// of struct seccomp_data (args[i] at 16+8i: its low 32 bits on a
// little-endian machine) is val.
type rule struct {
	nr, off, val uint32
	errno        syscall.Errno
}

// install loads the filter: the arch check (struct seccomp_data: nr at 0,
// arch at 4), then five instructions per rule, then allow.
func install(arch uint32, rules []rule) error {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		{Code: ld, K: 4}, // A = arch
		{Code: jeq, K: arch, Jt: 0, Jf: uint8(5 * len(rules))}, // other ABI: allow
	}
	for _, r := range rules {
		prog = append(prog,
			unix.SockFilter{Code: ld, K: 0},                    // A = nr
			unix.SockFilter{Code: jeq, K: r.nr, Jt: 0, Jf: 3},  // another call: next rule
			unix.SockFilter{Code: ld, K: r.off},                // A = the argument
			unix.SockFilter{Code: jeq, K: r.val, Jt: 0, Jf: 1}, // another value: next rule
			unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(r.errno)},
		)
	}
	prog = append(prog, unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW})
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	// TSYNC: the filter applies to every thread of this Go process, so
	// whichever thread execs carries it into the command.
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nonetlink:", err)
	os.Exit(1)
}
