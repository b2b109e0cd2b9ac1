// SPDX-License-Identifier: Apache-2.0

// Command scrapeload scrapes an exporter the way several Prometheus servers
// would, for the soak test: each client scrapes every -interval (a tick
// that finds the previous scrape still running is skipped, as Prometheus
// does), with the scrape-timeout header, for -duration. Every scrape must
// answer 200 with every timewait_scrape_collector_success at 1.
//
// With -sockstat it also checks the exporter against the kernel: the
// /proc/net/sockstat tw count is read right before and after each scrape,
// and the scrape's sock_diag TIME_WAIT total (timewait_tcp_sockets
// state="time_wait", both families) must lie between the two, give or take
// -tolerance plus twice the sockets that entered TIME_WAIT during the
// scrape (TcpExt TW in the netstat file beside it). It samples go_goroutines, process_open_fds and
// process_resident_memory_bytes from the scrapes, and prints a summary;
// it exits 1 if any scrape failed or was inconsistent.
//
//	scrapeload -url http://127.0.0.1:9966/metrics -clients 3 -duration 100s -sockstat /proc/net/sockstat
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type sample struct {
	at                        time.Duration
	goroutines, fds, rss, tw  float64
	cpu                       float64 // process_cpu_seconds_total
	twBefore, twAfter, deviat int
	sockets                   float64 // sockets collector duration
}

type result struct {
	mu       sync.Mutex
	scrapes  int
	skipped  int
	failures []string
	slowest  time.Duration
	samples  []sample
	maxDev   int
	checks   int
}

func (r *result) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < 20 {
		r.failures = append(r.failures, fmt.Sprintf(format, args...))
	} else {
		r.failures[19] = "... and more"
	}
}

func main() {
	url := flag.String("url", "http://127.0.0.1:9966/metrics", "metrics URL")
	clients := flag.Int("clients", 3, "concurrent scrapers")
	interval := flag.Duration("interval", 100*time.Millisecond, "scrape interval of each client")
	duration := flag.Duration("duration", time.Minute, "how long to scrape")
	timeout := flag.Duration("timeout", 10*time.Second, "scrape timeout (sent as X-Prometheus-Scrape-Timeout-Seconds)")
	sockstat := flag.String("sockstat", "", "sockstat file to check the TIME_WAIT count against (the exporter's namespace)")
	tolPct := flag.Float64("tolerance", 3, "allowed deviation from the sockstat bracket, in percent (at least 2000 sockets), on top of twice the churn during the scrape")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	start := time.Now()
	res := &result{}
	client := &http.Client{Timeout: *timeout + time.Second}
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The first client checks against sockstat; the others only scrape.
			check := c == 0 && *sockstat != ""
			t := time.NewTicker(*interval)
			defer t.Stop()
			busy := make(chan struct{}, 1)
			var inner sync.WaitGroup
			defer inner.Wait()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				select {
				case busy <- struct{}{}:
				default:
					res.mu.Lock()
					res.skipped++
					res.mu.Unlock()
					continue
				}
				inner.Add(1)
				go func() {
					defer inner.Done()
					defer func() { <-busy }()
					scrape(client, *url, *timeout, check, *sockstat, *tolPct, start, res)
				}()
			}
		}()
	}
	wg.Wait()

	fmt.Printf("scrapes: %d by %d clients every %s for %s, %d failed, %d ticks skipped (previous scrape still running), slowest %.3fs\n",
		res.scrapes, *clients, *interval, duration.String(), len(res.failures), res.skipped, res.slowest.Seconds())
	if *sockstat != "" {
		fmt.Printf("consistency: %d scrapes checked against %s tw, largest deviation outside [before, after]: %d sockets\n", res.checks, *sockstat, res.maxDev)
	}
	if n := len(res.samples); n > 0 {
		first, last := res.samples[0], res.samples[n-1]
		// The first sample after 10% of the run: warm-up (first dumps,
		// buffers, GC) is not growth.
		for _, s := range res.samples {
			if s.at >= *duration/10 {
				first = s
				break
			}
		}
		var maxG, maxF, maxR, maxTW, maxDur float64
		for _, s := range res.samples {
			maxG, maxF, maxR = math.Max(maxG, s.goroutines), math.Max(maxF, s.fds), math.Max(maxR, s.rss)
			maxTW, maxDur = math.Max(maxTW, s.tw), math.Max(maxDur, s.sockets)
		}
		fmt.Printf("figures: at=%.0fs goroutines=%.0f fds=%.0f rss_mib=%.1f | at=%.0fs goroutines=%.0f fds=%.0f rss_mib=%.1f | max goroutines=%.0f fds=%.0f rss_mib=%.1f time_wait=%.0f sockets_collector_s=%.3f\n",
			first.at.Seconds(), first.goroutines, first.fds, first.rss/(1<<20),
			last.at.Seconds(), last.goroutines, last.fds, last.rss/(1<<20),
			maxG, maxF, maxR/(1<<20), maxTW, maxDur)
		if d := (last.at - res.samples[0].at).Seconds(); d > 0 {
			fmt.Printf("exporter cpu: %.1f s over %.0f s = %.2f cores on average\n", last.cpu-res.samples[0].cpu, d, (last.cpu-res.samples[0].cpu)/d)
		}
		fmt.Printf("flat: goroutines %.0f %.0f fds %.0f %.0f rss %.0f %.0f\n", first.goroutines, last.goroutines, first.fds, last.fds, first.rss, last.rss)
	}
	for _, f := range res.failures {
		fmt.Fprintln(os.Stderr, "scrapeload:", f)
	}
	if len(res.failures) > 0 || res.scrapes == 0 {
		os.Exit(1)
	}
}

func scrape(client *http.Client, url string, timeout time.Duration, check bool, sockstat string, tolPct float64, start time.Time, res *result) {
	var before, after, createdBefore, createdAfter int
	var err error
	netstat := filepath.Join(filepath.Dir(sockstat), "netstat")
	if check {
		if before, err = readTW(sockstat); err != nil {
			res.fail("read %s: %v", sockstat, err)
			return
		}
		if createdBefore, err = readTcpExtTW(netstat); err != nil {
			res.fail("read %s: %v", netstat, err)
			return
		}
	}
	t0 := time.Now()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64))
	resp, err := client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	took := time.Since(t0)
	if check {
		if after, err = readTW(sockstat); err != nil {
			res.fail("read %s: %v", sockstat, err)
			return
		}
		if createdAfter, err = readTcpExtTW(netstat); err != nil {
			res.fail("read %s: %v", netstat, err)
			return
		}
	}
	res.mu.Lock()
	res.scrapes++
	res.slowest = max(res.slowest, took)
	res.mu.Unlock()
	at := time.Since(start).Round(time.Millisecond)
	if err != nil {
		res.fail("%s: scrape: %v", at, err)
		return
	}
	if resp.StatusCode != http.StatusOK {
		res.fail("%s: scrape: HTTP %d", at, resp.StatusCode)
		return
	}
	m := parse(body)
	if m.collectors < 4 || m.failed > 0 {
		res.fail("%s: %d collectors, %d failed", at, m.collectors, m.failed)
	}
	if !check {
		return
	}
	lo, hi := min(before, after), max(before, after)
	tw := int(m.tw)
	dev := 0
	if tw < lo {
		dev = lo - tw
	} else if tw > hi {
		dev = tw - hi
	}
	// A walk of the kernel's table under churn misses sockets made in
	// buckets it has passed and sockets that expired in buckets it had not
	// reached, and a run that began before this scrape (its dump started up
	// to one scrape-time earlier) saw the churn before it: so the churn of
	// twice this scrape's time (TcpExt TW, the sockets that entered
	// TIME_WAIT meanwhile) is allowed on top of the fixed tolerance.
	churn := 2 * max(0, createdAfter-createdBefore)
	tol := max(2000, int(float64(hi)*tolPct/100)) + churn
	if dev > tol {
		res.fail("%s: sock_diag time_wait %d outside sockstat tw [%d, %d] by %d (> %d, %d of it churn)", at, tw, before, after, dev, tol, churn)
	}
	res.mu.Lock()
	res.checks++
	res.maxDev = max(res.maxDev, dev)
	res.samples = append(res.samples, sample{at: at, goroutines: m.goroutines, fds: m.fds, rss: m.rss, tw: m.tw, cpu: m.cpu,
		twBefore: before, twAfter: after, deviat: dev, sockets: m.socketsDur})
	res.mu.Unlock()
}

type metrics struct {
	collectors, failed        int
	tw                        float64
	goroutines, fds, rss, cpu float64
	socketsDur                float64
}

// parse picks the few series the soak needs out of the text exposition.
func parse(body []byte) metrics {
	var m metrics
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name, v := line[:i], line[i+1:]
		val, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "timewait_scrape_collector_success{"):
			m.collectors++
			if val != 1 {
				m.failed++
			}
		case strings.HasPrefix(name, "timewait_tcp_sockets{") && strings.Contains(name, `state="time_wait"`):
			m.tw += val
		case strings.HasPrefix(name, `timewait_scrape_collector_duration_seconds{collector="sockets"`):
			m.socketsDur = val
		case name == "go_goroutines":
			m.goroutines = val
		case name == "process_open_fds":
			m.fds = val
		case name == "process_resident_memory_bytes":
			m.rss = val
		case name == "process_cpu_seconds_total":
			m.cpu = val
		}
	}
	return m
}

// readTW returns the tw field of the TCP line of a sockstat file.
func readTW(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				return strconv.Atoi(f[i+1])
			}
		}
	}
	return 0, fmt.Errorf("no TCP tw field")
}

// readTcpExtTW returns TcpExt's TW counter of a netstat file: the sockets
// that entered TIME_WAIT (its header line names the fields, the next line
// holds their values).
func readTcpExtTW(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		if j := slices.Index(names, "TW"); j > 0 {
			return strconv.Atoi(values[j])
		}
	}
	return 0, fmt.Errorf("no TcpExt TW field")
}
