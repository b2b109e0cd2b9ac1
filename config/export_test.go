// SPDX-License-Identifier: Apache-2.0

package config

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestExport: the collectors' part of a parsed file, and the names by
// address the collectors and the doctor give destinations.
func TestExport(t *testing.T) {
	c, err := Parse([]byte("top_n: 3\nports: [443]\ndestinations:\n  - name: db\n    address: \"[::ffff:10.0.0.5]:5432\"\n" +
		"netns:\n  dump: all\n  detail: ^shop/\ndoctor:\n  utilization_warning: 0.6\n  utilization_critical: 0.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	x := c.Export()
	if x.TopN != 3 || !reflect.DeepEqual(x.Ports, []uint16{443}) || x.DumpBusy || x.UtilizationWarning != 0.6 || len(x.Destinations) != 1 ||
		x.NetnsDetail.String() != "^shop/" {
		t.Errorf("Export = %+v", x)
	}
	if got := x.Destinations[netip.MustParseAddrPort("10.0.0.5:5432")]; got != "db" {
		t.Errorf("name of the unmapped address = %q, want db (%v)", got, x.Destinations)
	}
	if d := Default().Export(); !d.DumpBusy || d.NetnsDetail != nil || d.TopN != DefaultTopN || d.UtilizationWarning != DefaultUtilizationWarning {
		t.Errorf("default Export = %+v", d)
	}
}
