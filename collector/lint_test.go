// SPDX-License-Identifier: Apache-2.0

//go:build linux

package collector

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// lint runs promlint, the linter of `promtool check metrics`, on mfs.
func lint(t *testing.T, mfs []*dto.MetricFamily) []promlint.Problem {
	t.Helper()
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

// TestMetricsLint: promtool's lint finds nothing in any row of the table
// of metrics (every section of docs/metrics.md, the namespace metrics
// included), which a scrape of one scene shows only in part.
func TestMetricsLint(t *testing.T) {
	sections := metricSections()
	for _, name := range slices.Sorted(maps.Keys(sections)) {
		t.Run(name, func(t *testing.T) {
			var mfs []*dto.MetricFamily
			for _, m := range sections[name] {
				mfs = append(mfs, rowFamily(m))
			}
			for _, p := range lint(t, mfs) {
				t.Errorf("%s: %s", p.Metric, p.Text)
			}
		})
	}
}

// rowFamily is a row of the table as the one-sample family a scrape
// would carry.
func rowFamily(m *Metric) *dto.MetricFamily {
	sample := &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(1)}}
	typ := dto.MetricType_GAUGE
	if m.Type == prometheus.CounterValue {
		sample, typ = &dto.Metric{Counter: &dto.Counter{Value: proto.Float64(1)}}, dto.MetricType_COUNTER
	}
	for _, l := range m.Labels {
		sample.Label = append(sample.Label, &dto.LabelPair{Name: proto.String(l), Value: proto.String("x")})
	}
	return &dto.MetricFamily{Name: proto.String(m.Name), Help: proto.String(m.Help), Type: typ.Enum(), Metric: []*dto.Metric{sample}}
}

// TestLintFindsFaults: the lint above is not blind to what it is there
// for.
func TestLintFindsFaults(t *testing.T) {
	counter, gauge := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	for _, tc := range []struct {
		name string
		typ  dto.MetricType
		want string // part of the problem's text
	}{
		{"timewait_tcpext_tw", counter, `counter metrics should have "_total" suffix`},
		{"timewait_sockstat_tw_sockets_total", gauge, `non-counter metrics should not have "_total" suffix`},
		{"timewait_scrape_duration_milliseconds", gauge, "use base unit"},
		{"timewait_TimeWait_sockets", gauge, "camelCase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mf := &dto.MetricFamily{Name: proto.String(tc.name), Help: proto.String("A test metric."), Type: tc.typ.Enum(),
				Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}, Counter: &dto.Counter{Value: proto.Float64(1)}}}}
			problems := lint(t, []*dto.MetricFamily{mf})
			if !slices.ContainsFunc(problems, func(p promlint.Problem) bool { return strings.Contains(p.Text, tc.want) }) {
				t.Errorf("no problem saying %q in %v", tc.want, problems)
			}
		})
	}
}
