// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestScrapeTimeout(t *testing.T) {
	for _, tc := range []struct {
		header          string
		client, collect time.Duration
	}{
		{"", 10 * time.Second, 9 * time.Second},
		{"10", 10 * time.Second, 9 * time.Second},
		{"2", 2 * time.Second, 1750 * time.Millisecond},
		{"0.3", 300 * time.Millisecond, 150 * time.Millisecond},
		{"30", 30 * time.Second, 29 * time.Second},
		{"120", 30 * time.Second, 29 * time.Second}, // capped
		{"9.3e9", 30 * time.Second, 29 * time.Second},
		{"1e400", 10 * time.Second, 9 * time.Second}, // out of range: default
		{"Inf", 10 * time.Second, 9 * time.Second},
		{"+Inf", 10 * time.Second, 9 * time.Second},
		{"-Inf", 10 * time.Second, 9 * time.Second},
		{"NaN", 10 * time.Second, 9 * time.Second},
		{"-5", 10 * time.Second, 9 * time.Second},
		{"0", 10 * time.Second, 9 * time.Second},
		{"ten", 10 * time.Second, 9 * time.Second},
		{"1e-300", 250 * time.Millisecond, 125 * time.Millisecond}, // raised
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if tc.header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.header)
		}
		if got := clientTimeout(r); got != tc.client {
			t.Errorf("%q: client timeout %v, want %v", tc.header, got, tc.client)
		}
		if got := scrapeTimeout(r); got != tc.collect {
			t.Errorf("%q: scrape timeout %v, want %v", tc.header, got, tc.collect)
		}
	}
}

func TestClassOf(t *testing.T) {
	a := classOf("error encoding and sending metric family: write tcp 127.0.0.1:9966->127.0.0.1:42818: write: broken pipe")
	b := classOf("error encoding and sending metric family: write tcp 127.0.0.1:9966->127.0.0.1:51000: write: broken pipe")
	c := classOf("error encoding and sending metric family: write tcp 127.0.0.1:9966->127.0.0.1:51000: i/o timeout")
	if a != b || a == c {
		t.Errorf("classes %q, %q, %q: want the first two alike, the third not", a, b, c)
	}
}

// TestScrapeSlotsEvictStalled: with one slot, held by a client that sent
// a request and reads nothing of an answer larger than the socket buffers,
// a real scrape still gets its answer: it takes the slot once the stalled
// write has blocked stallGrace, and that client's write fails.
func TestScrapeSlotsEvictStalled(t *testing.T) {
	body := bytes.Repeat([]byte("timewait_x 1\n"), 16<<20/13) // 16 MB: more than loopback's buffers
	slots := newScrapeSlots(1, newThrottledLog(slog.New(slog.DiscardHandler), time.Minute))
	writeErr := make(chan error, 4)
	h := slots.limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(body)
		writeErr <- err
	}))
	srv := httptest.NewUnstartedServer(withDeadlines(h))
	srv.Config.ConnContext = withConnState
	srv.Start()
	defer srv.Close()

	stalled, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if err := stalled.(*net.TCPConn).SetReadBuffer(1); err != nil {
		t.Fatal(err)
	}
	if _, err := stalled.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stalled client to hold the slot", func() bool {
		slots.mu.Lock()
		defer slots.mu.Unlock()
		return len(slots.held) == 1
	})

	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "4")
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != int64(len(body)) {
		t.Fatalf("scrape with the slot held by a stalled client: HTTP %d, %d bytes", resp.StatusCode, n)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("scrape took %v", took)
	}
	// Both handlers' results, in whichever order they come: the real
	// scrape's write (nil) may be reported before the stalled one's.
	failed := 0
	for range 2 {
		select {
		case err := <-writeErr:
			if err != nil {
				failed++
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the stalled client's write still blocks")
		}
	}
	if failed != 1 {
		t.Errorf("%d of the two writes failed, want only the stalled client's", failed)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A refusal makes the connection's next scrape refused at once only while
// it is recent: a pipelining client's next request comes at once, a
// scraper's next one a scrape interval later, and must wait like any other.
func TestRefusedRecently(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name      string
		refusedAt time.Time
		want      bool
	}{
		{"never refused", time.Time{}, false},
		{"refused just now", now.Add(-time.Millisecond), true},
		{"refused just within the memory", now.Add(-refusalMemory + time.Millisecond), true},
		{"refused a scrape interval ago", now.Add(-15 * time.Second), false},
	} {
		var c connState
		if !tc.refusedAt.IsZero() {
			c.refusedAt.Store(tc.refusedAt.UnixNano())
		}
		if got := c.refusedRecently(now); got != tc.want {
			t.Errorf("%s: refusedRecently = %v, want %v", tc.name, got, tc.want)
		}
	}
}
