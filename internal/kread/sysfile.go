// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// maxSysctlBytes bounds one /proc/sys read. The longest file the exporter
// reads is net.ipv4.ip_local_reserved_ports, a bitmap of 65536 ports
// (net/ipv4/sysctl_net_ipv4.c) that proc_do_large_bitmap (kernel/sysctl.c)
// prints as one "a" or "a-b" per run of reserved ports. The longest
// possible list (found by dynamic programming over run lengths and digit
// counts) has two-port runs with one-port gaps, "0,2-3,5-6,…,65534-65535":
// 254,738 bytes with its newline, as a kernel reads it back (every other
// port reserved is 191,053). 256 KiB admits every list the kernel can hold
// and nothing much larger.
const maxSysctlBytes = 256 << 10

// firstRead is the size of the first read of a sysctl: enough for every
// value but a long reserved-ports list. The kernel allocates and zeroes a
// buffer of the size asked for on every read (proc_sys_call_handler), so
// asking for maxSysctlBytes each time doubled the cost of reading the
// sysctls.
const firstRead = 4 << 10

// sysctlBufs holds read buffers of maxSysctlBytes+1 for the values longer
// than firstRead (a long reserved-ports list), so a scrape of many
// namespaces does not allocate one per such file.
var sysctlBufs = sync.Pool{New: func() any {
	b := make([]byte, maxSysctlBytes+1)
	return &b
}}

// ReadSysctl returns the value of one sysctl ("net.ipv4.tcp_tw_reuse")
// under the procfs mount procPath, without its trailing newline.
//
// The kernel's integer and bitmap handlers (__do_proc_dointvec,
// proc_do_large_bitmap) print the whole value on a read at offset 0, cut
// to the size asked for, and return nothing at a later offset: reading in
// chunks loses the rest without an error (procfs's SysctlStrings reads 128
// bytes; os.ReadFile 512). So a first read that fills its buffer is done
// again from offset 0 with room for any legal value. Every value they print
// ends with a newline; a file without one was cut short or is not a sysctl.
func ReadSysctl(procPath, key string) (string, error) {
	return (&sysctlDir{procPath: procPath, fd: -1}).read(key)
}

// sysctlDir reads the sysctls of one network namespace, those under
// net.ipv4 through an open descriptor of that directory. Every path
// lookup under /proc/sys compares the name "net" with that of every
// namespace the dentry cache holds (proc_sys_compare hides the others'
// entries, which share one hash chain): from the open directory a read
// looks up its file name only. With 250 namespaces that halved the cost of
// reading the sysctls of each.
type sysctlDir struct {
	procPath string
	fd       int // procPath/sys/net/ipv4, or -1: every read from procPath
}

const sysctlDirKey = "net.ipv4."

// openSysctlDir opens the net.ipv4 directory of the calling thread's
// network namespace; if it cannot, reads go by the whole path (and fail
// there with the error of the file). close it after use.
func openSysctlDir(procPath string) *sysctlDir {
	d := &sysctlDir{procPath: procPath, fd: -1}
	dir := filepath.Join(procPath, "sys", "net", "ipv4")
	if fd, err := IgnoringEINTR(func() (int, error) {
		return unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}); err == nil {
		d.fd = fd
	}
	return d
}

func (d *sysctlDir) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
	}
}

// open opens the file of sysctl key, and returns its path for errors.
func (d *sysctlDir) open(key string) (string, int, error) {
	path := filepath.Join(d.procPath, "sys", strings.ReplaceAll(key, ".", "/"))
	name, under := strings.CutPrefix(key, sysctlDirKey)
	if !under || d.fd < 0 || strings.Contains(name, ".") {
		fd, err := openRead(path)
		return path, fd, err
	}
	fd, err := IgnoringEINTR(func() (int, error) { return unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return path, -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return path, fd, nil
}

// read is ReadSysctl in d's namespace.
func (d *sysctlDir) read(key string) (string, error) {
	path, fd, err := d.open(key)
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, err)
	}
	defer unix.Close(fd)
	bp := procBufs.Get().(*[]byte)
	defer procBufs.Put(bp)
	buf := (*bp)[:firstRead]
	n, err := IgnoringEINTR(func() (int, error) { return unix.Read(fd, buf) })
	if n == firstRead {
		big := sysctlBufs.Get().(*[]byte)
		defer sysctlBufs.Put(big)
		buf = *big
		n, err = IgnoringEINTR(func() (int, error) { return unix.Pread(fd, buf, 0) })
	}
	switch {
	case n > maxSysctlBytes:
		return "", fmt.Errorf("read sysctl %s: %s is larger than %d bytes", key, path, maxSysctlBytes)
	case err != nil:
		return "", fmt.Errorf("read sysctl %s: %w", key, &fs.PathError{Op: "read", Path: path, Err: err})
	}
	return sysctlValue(key, buf[:max(n, 0)])
}

// sysctlValue checks that data is a whole value as the kernel prints it and
// returns it without the newline.
func sysctlValue(key string, data []byte) (string, error) {
	n := len(data)
	if n == 0 || data[n-1] != '\n' {
		return "", fmt.Errorf("read sysctl %s: %d bytes without the final newline the kernel always prints: cut short, or not a sysctl", key, n)
	}
	return string(data[:n-1]), nil
}

// ints reads a sysctl of whitespace-separated integers.
func (d *sysctlDir) ints(key string) ([]int64, error) {
	s, err := d.read(key)
	if err != nil {
		return nil, err
	}
	return parseSysctlInts(key, s)
}

func parseSysctlInts(key, s string) ([]int64, error) {
	fields := strings.Fields(s)
	out := make([]int64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("read sysctl %s: field %d %q is not an integer", key, i+1, f)
		}
		out[i] = v
	}
	return out, nil
}
