// SPDX-License-Identifier: Apache-2.0

// Command nonetlink runs a command with socket(AF_NETLINK, ...) refused, the
// way a hardened container (a seccomp profile or an LSM that denies netlink)
// refuses it, so tests can check that the exporter survives it:
//
//	nonetlink [-errno EACCES] -- ./timewait_exporter --web.listen-address=...
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
}

func main() {
	errName := flag.String("errno", "EACCES", "error socket(AF_NETLINK) fails with: EACCES, EPERM or EAFNOSUPPORT")
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
	if err := install(arch, errno); err != nil {
		fail(err)
	}
	fail(syscall.Exec(path, flag.Args(), os.Environ()))
}

// install loads the filter. struct seccomp_data: nr at 0, arch at 4,
// args[0] at 16 (its low 32 bits on a little-endian machine).
func install(arch uint32, errno syscall.Errno) error {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		{Code: ld, K: 4},                                       // 0: A = arch
		{Code: jeq, K: arch, Jt: 0, Jf: 5},                     // 1: other ABI: allow
		{Code: ld, K: 0},                                       // 2: A = nr
		{Code: jeq, K: unix.SYS_SOCKET, Jt: 0, Jf: 3},          // 3: not socket(): allow
		{Code: ld, K: 16},                                      // 4: A = domain
		{Code: jeq, K: unix.AF_NETLINK, Jt: 0, Jf: 1},          // 5: not AF_NETLINK: allow
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(errno)}, // 6
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},                 // 7
	}
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
