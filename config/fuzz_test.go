// SPDX-License-Identifier: Apache-2.0

package config

import (
	"testing"
)

// FuzzParse: Parse must never panic, and whatever it accepts must satisfy
// the documented limits and survive a marshal/parse round trip. Seeds live
// in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a config along with an error")
			}
			return
		}
		checkInvariants(t, cfg)
		assertRoundTrip(t, cfg)
	})
}

func checkInvariants(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.TopN < 0 || cfg.TopN > MaxTopN {
		t.Errorf("top_n %d accepted", cfg.TopN)
	}
	if cfg.Netns.MaxNamespaces < 1 {
		t.Errorf("max_namespaces %d accepted", cfg.Netns.MaxNamespaces)
	}
	if cfg.Netns.Dump != DumpAll && cfg.Netns.Dump != DumpBusy {
		t.Errorf("netns.dump %q accepted", cfg.Netns.Dump)
	}
	if d := cfg.Doctor; !(0 < d.UtilizationWarning && d.UtilizationWarning < d.UtilizationCritical && d.UtilizationCritical <= 1) {
		t.Errorf("thresholds %+v accepted", d)
	}
	if (cfg.Netns.Include == "") != (cfg.Netns.IncludeRE == nil) || (cfg.Netns.Exclude == "") != (cfg.Netns.ExcludeRE == nil) {
		t.Errorf("regexps not compiled consistently: %+v", cfg.Netns)
	}
	seenPort := map[uint16]bool{}
	for _, p := range cfg.Ports {
		if p == 0 || seenPort[p] {
			t.Errorf("port %d accepted", p)
		}
		seenPort[p] = true
	}
	seenName := map[string]bool{}
	for _, d := range cfg.Destinations {
		if !nameRE.MatchString(d.Name) || seenName[d.Name] {
			t.Errorf("name %q accepted", d.Name)
		}
		seenName[d.Name] = true
		if !d.AddrPort.IsValid() || d.AddrPort.Port() == 0 || d.AddrPort.Addr().Is4In6() || d.AddrPort.Addr().Zone() != "" {
			t.Errorf("address %q accepted as %v", d.Address, d.AddrPort)
		}
	}
}
