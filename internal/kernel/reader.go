// SPDX-License-Identifier: Apache-2.0

// Package kernel reads what Linux tells about TCP sockets and ephemeral
// ports, in one network namespace or in every one, and aggregates it: the
// sock_diag dump into per-destination pressure, the sysctls, sockstat and
// the netstat/snmp counters. It is the model the Prometheus collectors and
// the doctor both read; it knows nothing of either.
//
// Reads that block in the kernel cannot be cancelled: every read runs as a
// task that its caller stops waiting for at a deadline (see Batch).
package kernel

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/timewait-exporter/timewait_exporter/config"
)

// Options say where and what a Reader reads.
type Options struct {
	Logger *slog.Logger
	// ProcPath is the procfs mount point (--path.procfs).
	ProcPath string
	// Config returns the current configuration (top_n, named
	// destinations, the netns filters); called on every read.
	Config func() *config.Config
	// DiscoverNetns visits every network namespace of the host
	// (--netns.discover) rather than the own one only.
	DiscoverNetns bool
	// PodLogDir holds the kubelet's pod log directories, which name the
	// pods of discovered namespaces (--netns.pod-log-dir); "" reads none.
	PodLogDir string
	// Owners makes the doctor's snapshots name the processes holding
	// the live sockets of each flow (--doctor.owners); never a scrape.
	Owners bool
}

// Reader reads the scopes of one exporter. It remembers the reads left
// blocked at a deadline and the sysctl reads in progress, so that scrapes
// and snapshots never block a second goroutine or thread on the same read.
type Reader struct {
	opts     Options
	logger   *slog.Logger
	stuck    stuckTasks
	sysReads sysctlReads            // sysctl reads in progress
	ownLabel atomic.Pointer[string] // own netns label, from the last discovery that finished
}

// NewReader returns a Reader with options o.
func NewReader(o Options) *Reader {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reader{opts: o, logger: o.Logger}
}

func (r *Reader) config() *config.Config {
	if r.opts.Config != nil {
		if c := r.opts.Config(); c != nil {
			return c
		}
	}
	return config.Default()
}

// OwnScope is the exporter's own namespace, sharing sysctl reads in
// progress with r's other scopes.
func (r *Reader) OwnScope(ctx context.Context) *Scope {
	s := OwnScope(ctx, r.opts.ProcPath)
	s.sysReads = &r.sysReads
	return s
}

// DefaultTimeout bounds a scrape or snapshot whose context brings no
// deadline (Collect): Prometheus' own default scrape_timeout, which main
// also takes for a client without X-Prometheus-Scrape-Timeout-Seconds.
const DefaultTimeout = 10 * time.Second

// WithDeadline is ctx, with DefaultTimeout if it has no deadline.
func WithDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}
