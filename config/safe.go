// SPDX-License-Identifier: Apache-2.0

package config

import (
	"sync"
	"time"
)

// SafeConfig holds the current Config for concurrent readers and replaces it
// on reload only when the new file is valid, so that a bad edit never takes
// a running exporter down or half-applies.
type SafeConfig struct {
	path string // "" means no file: defaults, reloads are no-ops

	// reloadMu serialises reloads (HTTP and SIGHUP), so that two racing
	// reloads cannot finish out of order and install the older file. A
	// read that blocks holds it no longer than the reader's timeout.
	reloadMu sync.Mutex
	reader   *fileReader
	watchers []func(*Config) // see Watch; guarded by reloadMu

	mu              sync.RWMutex // guards the fields below
	cfg             *Config
	lastSuccessful  bool
	lastSuccessTime time.Time
	failedReloads   int
}

// NewSafeConfig loads the file at path. With path "" it holds Default() and
// never fails. Either way a successful start counts as a successful reload,
// so the status gauges are meaningful from the first scrape.
func NewSafeConfig(path string) (*SafeConfig, error) {
	cfg, reader := Default(), newFileReader()
	if path != "" {
		var err error
		if cfg, err = reader.load(path); err != nil {
			return nil, err
		}
	}
	return &SafeConfig{
		path:            path,
		reader:          reader,
		cfg:             cfg,
		lastSuccessful:  true,
		lastSuccessTime: time.Now(),
	}, nil
}

// Get returns the current Config. It is shared: callers must not mutate it.
// Take it once per scrape so that one scrape sees one consistent config.
func (sc *SafeConfig) Get() *Config {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	return sc.cfg
}

// Reload re-reads the file. On success the new Config replaces the old one;
// on failure the old one stays in place and the error is returned. Without a
// file there is nothing to re-read, and the reload succeeds.
func (sc *SafeConfig) Reload() error {
	sc.reloadMu.Lock()
	defer sc.reloadMu.Unlock()

	cfg := Default()
	var err error
	if sc.path != "" {
		cfg, err = sc.reader.load(sc.path) // outside mu: readers are never blocked on I/O
	}
	if err := sc.install(cfg, err); err != nil {
		return err
	}
	for _, fn := range sc.watchers {
		fn(cfg)
	}
	return nil
}

// install makes cfg the current Config unless err, and records the outcome.
func (sc *SafeConfig) install(cfg *Config, err error) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.lastSuccessful = err == nil
	if err != nil {
		sc.failedReloads++
		return err
	}
	sc.cfg = cfg
	sc.lastSuccessTime = time.Now()
	return nil
}

// Watch calls fn with the current Config now and with each new one a
// reload installs, in order: for a package that takes its part of the
// configuration as plain data at load and reload, rather than asking for
// it on every use.
func (sc *SafeConfig) Watch(fn func(*Config)) {
	sc.reloadMu.Lock()
	defer sc.reloadMu.Unlock()
	sc.watchers = append(sc.watchers, fn)
	fn(sc.Get())
}

// LastReloadSuccessful reports whether the most recent load or reload
// succeeded; it backs <ns>_config_last_reload_successful.
func (sc *SafeConfig) LastReloadSuccessful() bool {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	return sc.lastSuccessful
}

// FailedReloads counts the reloads that failed since the start; it backs
// <ns>_config_reloads_failed_total.
func (sc *SafeConfig) FailedReloads() int {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	return sc.failedReloads
}

// LastReloadSuccessTime is when the config was last loaded successfully,
// including the initial load; it backs
// <ns>_config_last_reload_success_timestamp_seconds.
func (sc *SafeConfig) LastReloadSuccessTime() time.Time {
	sc.mu.RLock()
	defer sc.mu.RUnlock()
	return sc.lastSuccessTime
}
