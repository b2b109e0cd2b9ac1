// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/timewait-exporter/timewait_exporter/collector"
)

// minScrapeTimeout and maxScrapeTimeout bound the header: a scrape takes
// well under a second unless a read blocks, and the answer must still be
// written within the server's WriteTimeout.
const minScrapeTimeout, maxScrapeTimeout = 250 * time.Millisecond, 30 * time.Second

// errorLogInterval is how often one class of HTTP error is logged.
const errorLogInterval = time.Minute

// metricsHandler serves one scrape per request. The deadline comes from
// Prometheus' X-Prometheus-Scrape-Timeout-Seconds header (withDeadlines).
// promhttp's instrumentation wraps everything, the
// --web.max-requests limit included, so a rejected scrape counts in
// promhttp_metric_handler_requests_total{code="503"}.
func metricsHandler(exp *collector.Exporter, self *prometheus.Registry, logger *slog.Logger) http.Handler {
	errLog := newThrottledLog(logger, errorLogInterval)
	opts := promhttp.HandlerOpts{ErrorLog: errLog, ErrorHandling: promhttp.ContinueOnError}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The registry, and so promhttp's handler, is per request: it
		// carries this scrape's deadline (the request's context, see
		// withDeadlines) to the collectors.
		reg := prometheus.NewRegistry()
		reg.MustRegister(exp.WithContext(r.Context()))
		promhttp.HandlerFor(prometheus.Gatherers{self, reg}, opts).ServeHTTP(w, r)
	})
	h = newScrapeSlots(*maxRequests, errLog).limit(h)
	h = withDeadlines(h)
	if !*disableExporterMetrics {
		h = promhttp.InstrumentMetricHandler(self, h)
	}
	return h
}

// withDeadlines counts a scrape's deadlines from its arrival: the
// request's context ends at scrapeTimeout, detached from the connection
// because concurrent scrapes share one run, and the answer's write fails
// at the client's timeout.
func withDeadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		_ = http.NewResponseController(w).SetWriteDeadline(now.Add(clientTimeout(r)))
		ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), now.Add(scrapeTimeout(r)))
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientTimeout is the client's scrape timeout: its
// X-Prometheus-Scrape-Timeout-Seconds if that is a positive finite number
// (within minScrapeTimeout and maxScrapeTimeout), else
// collector.DefaultTimeout.
func clientTimeout(r *http.Request) time.Duration {
	secs, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64)
	if err != nil || !(secs > 0) || math.IsInf(secs, 1) {
		return collector.DefaultTimeout
	}
	return time.Duration(min(max(secs, minScrapeTimeout.Seconds()), maxScrapeTimeout.Seconds()) * float64(time.Second))
}

// scrapeTimeout is the deadline of the collectors: the client's timeout
// minus a margin (a tenth of it, from 250 ms to 1 s, at most half of it)
// that leaves the answer time to reach the client before it gives up.
func scrapeTimeout(r *http.Request) time.Duration {
	t := clientTimeout(r)
	margin := min(max(t/10, 250*time.Millisecond), time.Second, t/2)
	return t - margin
}

// scrapeSlots answers 503 to a scrape that would make more than n run at
// once (n <= 0: no limit). HandlerOpts.MaxRequestsInFlight does the same
// inside one promhttp handler, but the handler here is made per request,
// so the limit has to sit around it.
//
// A scrape holds its slot until its last write. A client that stops
// reading a large answer would hold it until the write deadline, and a few
// dozen such connections would turn every real scrape away. So when every
// slot is taken, a scrape takes the slot of one whose write has been
// blocked for stallGrace, and that client's write fails at once. A scrape
// that finds none waits for one up to half its time, the newest waiter
// first: under a flood, the waiters that came first are the likeliest to
// be the flood, and their clients to have given up. A connection whose
// scrape was refused within the last refusalMemory does not wait: a client
// that pipelines requests would queue again with each one, while a
// scraper's next request on the same keep-alive connection comes one scrape
// interval later and waits like any other.
type scrapeSlots struct {
	n       int
	errLog  *throttledLog
	mu      sync.Mutex
	held    map[*slot]bool
	waiting []*slot // oldest first
}

// stallGrace is how long a write must have been blocked before its slot
// can be taken: a client that reads takes the answer in milliseconds.
const stallGrace = 250 * time.Millisecond

// slot is one scrape's place; writeStart is when its write in progress
// began (zero between writes), guarded by scrapeSlots.mu.
type slot struct {
	rc         *http.ResponseController
	writeStart time.Time
}

func newScrapeSlots(n int, errLog *throttledLog) *scrapeSlots {
	return &scrapeSlots{n: n, errLog: errLog, held: map[*slot]bool{}}
}

func (l *scrapeSlots) limit(h http.Handler) http.Handler {
	if l.n <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &slot{rc: http.NewResponseController(w)}
		deadline, _ := r.Context().Deadline() // withDeadlines'
		conn := connOf(r)
		if conn.refusedRecently(time.Now()) {
			deadline = time.Time{} // refused again at once, unless a slot is free
		} else {
			deadline = deadline.Add(-scrapeTimeout(r) / 2)
		}
		if !l.acquire(s, deadline) {
			http.Error(w, "too many concurrent scrapes", http.StatusServiceUnavailable)
			// From the end of the answer, which a client that does not
			// read may block: its pipelined next request is read at once
			// after it.
			conn.refusedAt.Store(time.Now().UnixNano())
			return
		}
		conn.refusedAt.Store(0)
		defer l.release(s)
		h.ServeHTTP(&slotWriter{ResponseWriter: w, slots: l, s: s}, r)
	})
}

// acquire takes a slot for s, waiting until deadline; it reports whether
// it got one. It polls: a slot also frees by time passing (a write that
// has blocked long enough), which no event announces.
func (l *scrapeSlots) acquire(s *slot, deadline time.Time) bool {
	l.mu.Lock()
	l.waiting = append(l.waiting, s)
	l.mu.Unlock()
	for {
		got, newest := l.tryAcquire(s)
		if got {
			return true
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			l.waiting = slices.DeleteFunc(l.waiting, func(w *slot) bool { return w == s })
			l.mu.Unlock()
			return false
		}
		if newest {
			time.Sleep(stallGrace / 5)
		} else {
			time.Sleep(stallGrace)
		}
	}
}

// tryAcquire takes a slot for s if s is the newest waiter and a slot is
// free or stalled; newest says whether s is the newest waiter.
func (l *scrapeSlots) tryAcquire(s *slot) (got, newest bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting[len(l.waiting)-1] != s {
		return false, false
	}
	if len(l.held) >= l.n && !l.evictStalled() {
		return false, true
	}
	l.waiting = l.waiting[:len(l.waiting)-1]
	l.held[s] = true
	return true, true
}

// evictStalled frees the slot whose write has been blocked longest, if
// longer than stallGrace; l.mu is held.
func (l *scrapeSlots) evictStalled() bool {
	var victim *slot
	for s := range l.held {
		if !s.writeStart.IsZero() && time.Since(s.writeStart) >= stallGrace &&
			(victim == nil || s.writeStart.Before(victim.writeStart)) {
			victim = s
		}
	}
	if victim == nil || victim.rc.SetWriteDeadline(time.Now()) != nil {
		return false
	}
	delete(l.held, victim)
	l.errLog.Println("scrape slot taken from a client that stopped reading its answer")
	return true
}

func (l *scrapeSlots) release(s *slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, s)
}

func (l *scrapeSlots) writing(s *slot, since time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.writeStart = since
}

// connState is what the limit remembers of a connection.
type connState struct {
	refusedAt atomic.Int64 // when the 503 to its last scrape was written (Unix ns), 0 if none
}

type connKey struct{}

// refusalMemory is how long a refusal makes a connection's next scrape
// refused at once: longer than a pipelining client takes to send its next
// request, shorter than any scrape interval.
const refusalMemory = time.Second

func (c *connState) refusedRecently(now time.Time) bool {
	at := c.refusedAt.Load()
	return at != 0 && now.Sub(time.Unix(0, at)) < refusalMemory
}

// withConnState is http.Server.ConnContext: a connState per connection.
func withConnState(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// connOf is r's connState; a fresh one if the server keeps none.
func connOf(r *http.Request) *connState {
	if c, ok := r.Context().Value(connKey{}).(*connState); ok {
		return c
	}
	return &connState{}
}

// slotWriter records in its slot when a write is in progress.
type slotWriter struct {
	http.ResponseWriter
	slots *scrapeSlots
	s     *slot
}

func (w *slotWriter) Write(p []byte) (int, error) {
	w.slots.writing(w.s, time.Now())
	defer w.slots.writing(w.s, time.Time{})
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *slotWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// throttledLog is promhttp's error log: one line per class of error per
// interval, with the count of those left out since. A client that hangs
// up mid-answer makes promhttp report every metric family it could not
// send, some thirty lines per scrape.
type throttledLog struct {
	logger   *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	classes  map[string]*errorClass
}

type errorClass struct {
	logged  time.Time
	dropped int
}

// maxErrorClasses bounds the memory of throttledLog.
const maxErrorClasses = 64

func newThrottledLog(logger *slog.Logger, interval time.Duration) *throttledLog {
	return &throttledLog{logger: logger, interval: interval, classes: map[string]*errorClass{}}
}

// Println implements promhttp.Logger.
func (l *throttledLog) Println(v ...any) {
	msg := strings.TrimSuffix(fmt.Sprintln(v...), "\n")
	key := classOf(msg)
	l.mu.Lock()
	c := l.classes[key]
	if c == nil {
		if len(l.classes) >= maxErrorClasses {
			clear(l.classes)
		}
		c = &errorClass{}
		l.classes[key] = c
	}
	if !c.logged.IsZero() && time.Since(c.logged) < l.interval {
		c.dropped++
		l.mu.Unlock()
		return
	}
	dropped := c.dropped
	c.logged, c.dropped = time.Now(), 0
	l.mu.Unlock()
	l.logger.Error(msg, "alike_since_last_logged", dropped)
}

// classOf is what makes two errors alike: the text before the first colon
// (what failed) and after the last (why), without the addresses and the
// metric family in between.
func classOf(msg string) string {
	what, _, _ := strings.Cut(msg, ":")
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return what + ": " + msg[i+2:]
	}
	return what
}
