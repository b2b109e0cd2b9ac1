// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// MaxFileBytes caps the config file. A config names a few dozen
// destinations and ports (4,000 destinations take 240 KB); a 10 MB list
// of ports took 31 s and 3.46 GB to decode.
const MaxFileBytes = 1 << 20

// readTimeout bounds one read of the config file.
const readTimeout = 5 * time.Second

// readFile reads the config file at path: a regular file (a FIFO would
// block, a device never end) of at most MaxFileBytes. It opens without
// blocking, so a FIFO is refused rather than waited on.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading config file %q: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading config file: %w", err)
	case len(data) > MaxFileBytes:
		return nil, fmt.Errorf("config file %q is larger than %d bytes (1 MiB)", path, MaxFileBytes)
	}
	return data, nil
}

// errStillBlocked is a read refused because an earlier one of the same
// reader still blocks.
var errStillBlocked = errors.New("an earlier read of it is still blocked")

// fileReader reads a config file with readFile, giving up after timeout
// (a hung network mount). The read given up on is left to finish on its
// own; until it does, later reads fail at once rather than pile up
// goroutines and descriptors behind it. Reads are serialised.
type fileReader struct {
	mu      sync.Mutex
	pending chan struct{} // closed when the read given up on returns; nil if none
	read    func(string) ([]byte, error)
	timeout time.Duration
}

func newFileReader() *fileReader { return &fileReader{read: readFile, timeout: readTimeout} }

func (r *fileReader) readFile(path string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil {
		select {
		case <-r.pending:
			r.pending = nil
		default:
			return nil, fmt.Errorf("reading config file %q: %w", path, errStillBlocked)
		}
	}
	type result struct {
		data []byte
		err  error
	}
	got, done := make(chan result, 1), make(chan struct{})
	go func() {
		defer close(done)
		data, err := r.read(path)
		got <- result{data, err}
	}()
	t := time.NewTimer(r.timeout)
	defer t.Stop()
	select {
	case res := <-got:
		return res.data, res.err
	case <-t.C:
		r.pending = done
		return nil, fmt.Errorf("reading config file %q: no data within %v", path, r.timeout)
	}
}
