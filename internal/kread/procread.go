// SPDX-License-Identifier: Apache-2.0

package kread

import (
	"errors"
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"
)

// A scrape of many namespaces reads a handful of small files in each
// (sockstat, netstat, snmp, the sysctls). Through *os.File each read cost
// more than the kernel's work: the file is registered with the runtime's
// poller, stat'ed for its size, read into a buffer grown on the way
// (os.ReadFile starts at 512 bytes for a procfs file, which has size 0) and
// handed to the garbage collector. procRead reads with plain system calls
// into a pooled buffer instead: no allocation once the pool is warm.

// procBufSize is the buffer a proc file is first read into: more than
// netstat, the largest of them (about 4 KiB on Linux 6.18). A larger file
// gets a larger buffer, which then goes back to the pool.
const procBufSize = 16 << 10

var procBufs = sync.Pool{New: func() any {
	b := make([]byte, procBufSize)
	return &b
}}

// readProcFile calls use with the whole content of path. data is valid only
// during the call: what use keeps, it copies.
func readProcFile(path string, use func(data []byte) error) error {
	fd, err := openRead(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	bp := procBufs.Get().(*[]byte)
	defer procBufs.Put(bp)
	n := 0
	for {
		buf := *bp
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
			*bp = buf
		}
		m, err := IgnoringEINTR(func() (int, error) { return unix.Read(fd, buf[n:]) })
		if err != nil {
			return &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return use(buf[:n])
		}
		n += m
	}
}

// openRead opens path read-only, as os.Open would but without an *os.File.
func openRead(path string) (int, error) {
	fd, err := IgnoringEINTR(func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// IgnoringEINTR retries a system call the runtime's signals (preemption
// uses SIGURG) interrupted, as package os does.
func IgnoringEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}
