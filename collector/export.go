// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"net/netip"
	"regexp"
)

// Export is what the collectors export, as plain data: the configuration's
// part (config.Export, whose fields these are), which main converts into it
// at load and at each reload (Exporter.SetExport), so that a scrape reads
// it without calling into package config.
type Export struct {
	// Destinations are the configured destinations' names by address:
	// always exported, even at zero.
	Destinations map[netip.AddrPort]string
	// Ports are the listening ports always exported.
	Ports []uint16
	// TopN is how many other destinations and ports are exported.
	TopN int
	// DumpBusy is netns.dump: busy; a foreign namespace's dump is then
	// skipped when no flow of it can reach UtilizationWarning.
	DumpBusy           bool
	UtilizationWarning float64
	// NetnsDetail is netns.detail: the namespaces exported in full
	// whether busy or idle; nil names none.
	NetnsDetail *regexp.Regexp
}

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
