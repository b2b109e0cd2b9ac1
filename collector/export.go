// SPDX-License-Identifier: Apache-2.0

package collector

import "github.com/timewait-exporter/timewait_exporter/config"

// Export is what the collectors export (config.Export): plain data, which
// main takes from the configuration at load and at each reload
// (Exporter.SetExport), so that a scrape reads it without calling into
// package config.
type Export = config.Export

// SetExport makes x what e's scrapes export from the next one on.
func (e *Exporter) SetExport(x Export) { e.export.Store(&x) }

// export is what a scrape exports now: o.Export for collectors built
// outside an Exporter (tests, benchmarks).
func (o Options) export() *Export {
	if o.current == nil {
		return &o.Export
	}
	return o.current.Load()
}
