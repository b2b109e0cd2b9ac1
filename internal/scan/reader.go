// SPDX-License-Identifier: Apache-2.0

// Package scan reads the scopes (network namespaces) one scrape or one
// diagnosis covers: the exporter's own, or with --netns.discover every one
// found, each under the caller's deadline. Its Reader holds what outlives
// one scrape (the reads left blocked, the sysctl reads in progress), and
// takes the doctor's snapshots.
//
// Reads that block in the kernel cannot be cancelled: every read runs as a
// task that its caller stops waiting for at a deadline (a Batch, see
// runner.go), and scan remembers the reads left behind.
package scan

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/timewait-exporter/timewait_exporter/config"
	"github.com/timewait-exporter/timewait_exporter/internal/kread"
)

// Options say where and what a Reader reads.
type Options struct {
	Logger *slog.Logger
	// ProcPath is the procfs mount point (--path.procfs).
	ProcPath string
	// Netns are the netns filters and cap of discovery, until SetNetns
	// replaces them.
	Netns config.Netns
	// DiscoverNetns visits every network namespace of the host
	// (--netns.discover) rather than the own one only.
	DiscoverNetns bool
	// PodLogDir holds the kubelet's pod log directories, which name the
	// pods of discovered namespaces and of the doctor's owners
	// (--netns.pod-log-dir); "" reads none.
	PodLogDir string
	// Owners makes the doctor's snapshots name the processes holding
	// the live sockets of each flow (--doctor.owners); never a scrape.
	Owners bool
	// BeforeRead, if set, is called in each read's task before a source
	// of a scrape is read in scope s; an error fails the read. Tests hold
	// a read there as the kernel would.
	BeforeRead func(s *kread.Scope, source string) error
}

// Reader reads the scopes of one exporter. It remembers the reads left
// blocked at a deadline and the sysctl reads in progress, so that scrapes
// and snapshots never block a second goroutine or thread on the same read.
type Reader struct {
	opts     Options
	logger   *slog.Logger
	stuck    stuckJobs
	sysReads sysctlReads            // sysctl reads in progress
	ownLabel atomic.Pointer[string] // own netns label, from the last discovery that finished
	sel      atomic.Pointer[config.Netns]
}

// NewReader returns a Reader with options o.
func NewReader(o Options) *Reader {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reader{opts: o, logger: o.Logger}
	r.SetNetns(o.Netns)
	return r
}

// SetNetns makes n the netns filters and cap of the discoveries from the
// next one on: main sets them at load and at each reload, so that a
// discovery reads them without calling into package config.
func (r *Reader) SetNetns(n config.Netns) { r.sel.Store(&n) }

func (r *Reader) netns() config.Netns { return *r.sel.Load() }

// ownScope is the exporter's own namespace, sharing sysctl reads in
// progress with r's other scopes.
func (r *Reader) ownScope(ctx context.Context) *scope {
	return &scope{Scope: kread.OwnScope(ctx, r.opts.ProcPath), reads: &r.sysReads}
}

// readerBatch is a batch of one task per name in scope report (the scope of
// the samples), whose reads left blocked r remembers.
func readerBatch[T any](r *Reader, report *kread.Scope, names []string) *Batch[T] {
	return newBatch[T](&r.stuck, r.logger, keysOf(names, report.LabelValues), names)
}

// Task is one task of a scope: the collector or snapshot source name, read
// in scope s.
type Task[T any] func(s *scope, name string) (T, error)

// startEach starts task i of b, names[i], in scope s, each on a goroutine
// of its own: s must not depend on the calling thread (the own namespace).
func startEach[T any](b *Batch[T], s *scope, names []string, task Task[T]) {
	for i, name := range names {
		go b.Run(i, func() (T, error) { return task(s, name) })
	}
}
