// SPDX-License-Identifier: Apache-2.0

// Command probe takes the measurements of bench/timewait-bench.sh, so the
// script needs no GNU time and reads every number the same way:
//
//	probe cpu PID          utime+stime of PID in seconds (/proc/PID/stat) and VmHWM in kB
//	probe get URL [FILE]   one scrape as Prometheus sends it; prints wall seconds; body to FILE
//	probe run CMD [ARG...] run CMD once, stdout discarded; prints its own CPU seconds
//	                       (user+system from wait4's rusage), wall seconds and peak RSS in kB
//	                       (VmHWM sampled every millisecond while it runs)
//	probe run -exit 0,1,2 CMD [ARG...]
//	                       the same for a command whose exit statuses 0, 1 and 2 are all
//	                       answers (the doctor's verdicts), not failures
package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "cpu":
		err = cpu(os.Args[2])
	case "get":
		file := ""
		if len(os.Args) > 3 {
			file = os.Args[3]
		}
		err = get(os.Args[2], file)
	case "run":
		err = run(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe cpu PID | probe get URL [FILE] | probe run CMD [ARG...]")
	os.Exit(2)
}

func cpu(pid string) error {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return fmt.Errorf("short /proc/%s/stat", pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad /proc/%s/stat", pid)
	}
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return err
	}
	hwm := "0"
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = strings.Fields(v)[0]
		}
	}
	fmt.Printf("%.2f %s\n", float64(utime+stime)/clockTicks, hwm)
	return nil
}

func get(url, file string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// What Prometheus 2.x/3.x sends.
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "30")
	client := &http.Client{Timeout: 60 * time.Second}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// The transport decompresses only when it asked for gzip itself; read
	// the raw body to the end so the timing covers the whole answer.
	var body bytes.Buffer
	if _, err := io.Copy(&body, resp.Body); err != nil {
		return err
	}
	wall := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if file != "" {
		data := body.Bytes()
		if resp.Header.Get("Content-Encoding") == "gzip" {
			if data, err = gunzip(data); err != nil {
				return err
			}
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("%.6f\n", wall.Seconds())
	return nil
}

func run(argv []string) error {
	ok := map[int]bool{0: true}
	if argv[0] == "-exit" && len(argv) > 2 {
		for _, c := range strings.Split(argv[1], ",") {
			n, err := strconv.Atoi(c)
			if err != nil {
				return fmt.Errorf("-exit %q: %w", argv[1], err)
			}
			ok[n] = true
		}
		argv = argv[2:]
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	start := time.Now()
	// Start returns once the child has exec'd, so every sample below is of
	// the command's own memory.
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var hwm int64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		hwm = max(hwm, vmHWM(status))
		select {
		case err := <-done:
			if err != nil && !ok[cmd.ProcessState.ExitCode()] {
				return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
			}
			wall := time.Since(start)
			ps := cmd.ProcessState
			fmt.Printf("%.6f %.6f %d\n", (ps.UserTime() + ps.SystemTime()).Seconds(), wall.Seconds(), hwm)
			return nil
		case <-tick.C:
		}
	}
}

// vmHWM reads a live process's peak RSS in kB; 0 once it has exited.
// (wait4's ru_maxrss cannot serve: after a vfork-style start it includes
// the parent's own peak.)
func vmHWM(status string) int64 {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	return 0
}
