// SPDX-License-Identifier: Apache-2.0

package owners

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// BenchmarkScan reads 100 processes holding 50 sockets each (the shape of
// bench/owners.sh at a fiftieth of its size), a fifth of them wanted.
func BenchmarkScan(b *testing.B) {
	const procs, fds = 100, 50
	want := map[uint32]bool{}
	for range procs {
		var files []*os.File
		for i := range fds {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			var st syscall.Stat_t
			if err := syscall.Fstat(fd, &st); err != nil {
				b.Fatal(err)
			}
			if i%5 == 0 {
				want[uint32(st.Ino)] = true
			}
			files = append(files, os.NewFile(uintptr(fd), "socket"))
		}
		cmd := exec.Command("sleep", "600")
		cmd.ExtraFiles = files
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for _, f := range files {
			f.Close()
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/net", &st); err != nil {
		b.Fatal(err)
	}
	q := Query{Sockets: Want{st.Ino: want}}
	var res *Result
	cpu0 := cpuTime(b)
	for b.Loop() {
		res = Scan(context.Background(), "/proc", q, DefaultLimits, nil)
	}
	cpu := cpuTime(b) - cpu0
	found := 0
	for _, p := range res.Procs {
		found += len(p.Sockets)
	}
	if found != len(want) {
		b.Fatalf("found %d wanted sockets of %d", found, len(want))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(res.FDs), "ns/fd")
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(res.FDs), "cpu-ns/fd")
}

// cpuTime is the process's user and system time so far, in nanoseconds:
// on a loaded machine the wall time mostly measures the wait for a CPU.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
