// SPDX-License-Identifier: Apache-2.0

package config

import (
	"net/netip"
	"regexp"
)

// Export is the part of the configuration the collectors read on every
// scrape, as plain data: which destinations and ports to export, and when
// the dump of a foreign namespace may be skipped. Main hands it to the
// collectors at load and at each reload: they receive it, not the whole
// Config, and call nothing here.
type Export struct {
	// Destinations are the configured destinations' names by address.
	Destinations map[netip.AddrPort]string
	Ports        []uint16
	TopN         int
	// DumpBusy is netns.dump: busy; a namespace's dump is then skipped
	// when no flow of it can reach UtilizationWarning.
	DumpBusy           bool
	UtilizationWarning float64
	// NetnsDetail is netns.detail compiled: the namespaces exported in
	// full whether busy or idle; nil names none.
	NetnsDetail *regexp.Regexp
}

// Export is c's Export.
func (c *Config) Export() Export {
	return Export{
		Destinations:       DestinationNames(c.Destinations),
		Ports:              c.Ports,
		TopN:               c.TopN,
		DumpBusy:           c.Netns.Dump == DumpBusy,
		UtilizationWarning: c.Doctor.UtilizationWarning,
		NetnsDetail:        c.Netns.DetailRE,
	}
}

// DestinationNames are the configured names of ds by address.
func DestinationNames(ds []Destination) map[netip.AddrPort]string {
	names := make(map[netip.AddrPort]string, len(ds))
	for _, d := range ds {
		names[d.AddrPort] = d.Name
	}
	return names
}

// Netns is the current configuration's netns section.
func (sc *SafeConfig) Netns() Netns { return sc.Get().Netns }
