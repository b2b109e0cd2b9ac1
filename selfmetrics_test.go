// SPDX-License-Identifier: Apache-2.0

package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/timewait-exporter/timewait_exporter/config"
)

// TestSelfMetricsLint: promtool's lint (`promtool check metrics`) finds
// nothing in what the exporter says about itself: build info, the config
// reload metrics, and the Go runtime and process metrics beside them. The
// collectors' metrics are collector.TestMetricsLint's.
func TestSelfMetricsLint(t *testing.T) {
	sc, err := config.NewSafeConfig("")
	if err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(selfRegistry(sc))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
