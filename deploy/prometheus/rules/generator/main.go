// Command generator writes timewait_exporter's Prometheus alerting rules from
// one small config file (../config.yml), so that the job selector, the
// thresholds and the `for:` windows are set in one place.
//
//	go run . -config ../config.yml -out ../timewait.rules.yml
//
// Several -config flags may be given: each later file overrides the keys it
// sets. The output is a plain Prometheus rule file whose top-level `groups:`
// list can also be used verbatim as the `spec:` of a PrometheusRule.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the schema of config.yml. Every field is required (the defaults
// live in config.yml, not here), so a typo cannot silently fall back.
type Config struct {
	Selector       string `yaml:"selector"`
	RunbookBaseURL string `yaml:"runbook_base_url"`
	EphemeralPorts struct {
		WarningRatio  float64 `yaml:"warning_ratio"`
		WarningFor    string  `yaml:"warning_for"`
		CriticalRatio float64 `yaml:"critical_ratio"`
		CriticalFor   string  `yaml:"critical_for"`
	} `yaml:"ephemeral_ports"`
	BucketsNearLimit struct {
		WarningRatio float64 `yaml:"warning_ratio"`
		WarningFor   string  `yaml:"warning_for"`
	} `yaml:"buckets_near_limit"`
	BucketOverflow struct {
		Window     string `yaml:"window"`
		WarningFor string `yaml:"warning_for"`
	} `yaml:"bucket_overflow"`
	Spike struct {
		Factor         float64 `yaml:"factor"`
		BaselineWindow string  `yaml:"baseline_window"`
		BaselineOffset string  `yaml:"baseline_offset"`
		MinSockets     float64 `yaml:"min_sockets"`
		WarningFor     string  `yaml:"warning_for"`
	} `yaml:"spike"`
	Exporter struct {
		CollectorFailingFor    string `yaml:"collector_failing_for"`
		ConfigReloadFailingFor string `yaml:"config_reload_failing_for"`
	} `yaml:"exporter"`
}

var durationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

func (c *Config) validate() error {
	var errs []error
	if strings.TrimSpace(c.Selector) == "" || strings.ContainsAny(c.Selector, "{}") {
		errs = append(errs, errors.New(`selector: want label matchers without braces, e.g. job="timewait"`))
	}
	if !strings.HasPrefix(c.RunbookBaseURL, "http") {
		errs = append(errs, errors.New("runbook_base_url: want an http(s) URL"))
	}
	ratio := func(name string, v float64) {
		if v <= 0 || v > 1 {
			errs = append(errs, fmt.Errorf("%s: %v is not a ratio in (0, 1]", name, v))
		}
	}
	ratio("ephemeral_ports.warning_ratio", c.EphemeralPorts.WarningRatio)
	ratio("ephemeral_ports.critical_ratio", c.EphemeralPorts.CriticalRatio)
	ratio("buckets_near_limit.warning_ratio", c.BucketsNearLimit.WarningRatio)
	if c.EphemeralPorts.CriticalRatio < c.EphemeralPorts.WarningRatio {
		errs = append(errs, errors.New("ephemeral_ports: critical_ratio below warning_ratio"))
	}
	if c.Spike.Factor <= 1 {
		errs = append(errs, fmt.Errorf("spike.factor: %v must be > 1", c.Spike.Factor))
	}
	if c.Spike.MinSockets < 0 {
		errs = append(errs, errors.New("spike.min_sockets: must be >= 0"))
	}
	for name, d := range map[string]string{
		"ephemeral_ports.warning_for":        c.EphemeralPorts.WarningFor,
		"ephemeral_ports.critical_for":       c.EphemeralPorts.CriticalFor,
		"buckets_near_limit.warning_for":     c.BucketsNearLimit.WarningFor,
		"bucket_overflow.window":             c.BucketOverflow.Window,
		"bucket_overflow.warning_for":        c.BucketOverflow.WarningFor,
		"spike.baseline_window":              c.Spike.BaselineWindow,
		"spike.baseline_offset":              c.Spike.BaselineOffset,
		"spike.warning_for":                  c.Spike.WarningFor,
		"exporter.collector_failing_for":     c.Exporter.CollectorFailingFor,
		"exporter.config_reload_failing_for": c.Exporter.ConfigReloadFailingFor,
	} {
		if !durationRE.MatchString(d) {
			errs = append(errs, fmt.Errorf("%s: %q is not a Prometheus duration", name, d))
		}
	}
	return errors.Join(errs...)
}

// Rule file types, field order = output order.
type ruleFile struct {
	Groups []group `yaml:"groups"`
}

type group struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Alert       string     `yaml:"alert"`
	Expr        string     `yaml:"expr"`
	For         string     `yaml:"for"`
	Labels      orderedMap `yaml:"labels"`
	Annotations orderedMap `yaml:"annotations"`
}

// orderedMap marshals its pairs in the given order.
type orderedMap [][2]string

func (m orderedMap) MarshalYAML() (interface{}, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range m {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: kv[0]},
			&yaml.Node{Kind: yaml.ScalarNode, Value: kv[1]})
	}
	return n, nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// where renders " (netns X)" when the alert carries a netns label.
const where = `{{ $labels.instance }}{{ with $labels.netns }} (netns {{ . }}){{ end }}`

// sameTarget is a printf format + args for a selector naming the alert's own
// job, instance and netns (netns="" also matches series without the label).
const sameTarget = `job=%q,instance=%q,netns=%q`
const sameTargetArgs = `$labels.job $labels.instance $labels.netns`

func build(c *Config) ruleFile {
	sel := c.Selector
	runbook := func(alert string) string {
		return strings.TrimRight(c.RunbookBaseURL, "#") + "#" + strings.ToLower(alert)
	}

	busiest := `{{ range printf "topk(1, timewait_destination_ephemeral_port_utilization_ratio{` + sameTarget + `})" ` + sameTargetArgs + ` | query }}` +
		` Busiest destination: {{ .Labels.destination }}{{ with .Labels.name }} ({{ . }}){{ end }} at {{ .Value | humanizePercentage }}.{{ end }}`
	ephemeralDesc := where + `: the busiest destination uses {{ $value | humanizePercentage }} of the usable ephemeral ports of one source IP. At 100% every new connect() to it fails with EADDRNOTAVAIL.` + busiest
	ephemeral := func(sev string, ratio float64, forDur string) rule {
		return rule{
			Alert:  "TimeWaitEphemeralPortsExhausting",
			Expr:   fmt.Sprintf("timewait_ephemeral_port_utilization_max_ratio{%s} > %s", sel, num(ratio)),
			For:    forDur,
			Labels: orderedMap{{"severity", sev}},
			Annotations: orderedMap{
				{"summary", "Ephemeral ports towards one destination are running out."},
				{"description", ephemeralDesc},
				{"runbook_url", runbook("TimeWaitEphemeralPortsExhausting")},
			},
		}
	}

	limit := `{{ range printf "timewait_sysctl_tcp_max_tw_buckets{` + sameTarget + `}" ` + sameTargetArgs + ` | query }} ({{ printf "%.0f" .Value }}){{ end }}`

	rules := []rule{
		ephemeral("warning", c.EphemeralPorts.WarningRatio, c.EphemeralPorts.WarningFor),
		ephemeral("critical", c.EphemeralPorts.CriticalRatio, c.EphemeralPorts.CriticalFor),
		{
			Alert:  "TimeWaitBucketOverflow",
			Expr:   fmt.Sprintf("rate(timewait_tcpext_tcp_time_wait_overflow_total{%s}[%s]) > 0", sel, c.BucketOverflow.Window),
			For:    c.BucketOverflow.WarningFor,
			Labels: orderedMap{{"severity", "warning"}},
			Annotations: orderedMap{
				{"summary", "The kernel closes TCP sockets without TIME_WAIT: tcp_max_tw_buckets is reached."},
				{"description", where + `: {{ printf "%.2f" $value }} sockets/s are closed without TIME_WAIT (TcpExt TCPTimeWaitOverflow) because net.ipv4.tcp_max_tw_buckets` + limit + ` is reached. Those connections lose TIME_WAIT's protection against delayed segments.`},
				{"runbook_url", runbook("TimeWaitBucketOverflow")},
			},
		},
		{
			Alert: "TimeWaitBucketsNearLimit",
			Expr: fmt.Sprintf("timewait_sockstat_tw_sockets{%s}\n  / (timewait_sysctl_tcp_max_tw_buckets{%s} > 0)\n> %s",
				sel, sel, num(c.BucketsNearLimit.WarningRatio)),
			For:    c.BucketsNearLimit.WarningFor,
			Labels: orderedMap{{"severity", "warning"}},
			Annotations: orderedMap{
				{"summary", "TIME_WAIT sockets are close to net.ipv4.tcp_max_tw_buckets."},
				{"description", where + `: TIME_WAIT (and orphaned FIN_WAIT2) mini-sockets fill {{ $value | humanizePercentage }} of net.ipv4.tcp_max_tw_buckets` + limit + `. At the limit the kernel closes new sockets without TIME_WAIT.`},
				{"runbook_url", runbook("TimeWaitBucketsNearLimit")},
			},
		},
		{
			Alert: "TimeWaitSpike",
			Expr: fmt.Sprintf("timewait_sockstat_tw_sockets{%s}\n  > %s * avg_over_time(timewait_sockstat_tw_sockets{%s}[%s] offset %s)\nand\ntimewait_sockstat_tw_sockets{%s} > %s",
				sel, num(c.Spike.Factor), sel, c.Spike.BaselineWindow, c.Spike.BaselineOffset, sel, num(c.Spike.MinSockets)),
			For:    c.Spike.WarningFor,
			Labels: orderedMap{{"severity", "warning"}},
			Annotations: orderedMap{
				{"summary", "TIME_WAIT sockets are far above their recent baseline."},
				{"description", where + fmt.Sprintf(`: {{ $value | humanize }} timewait mini-sockets (TIME_WAIT plus orphaned FIN_WAIT2), more than %s times their average over the %s before the last %s. TIME_WAIT lasts a fixed 60 s, so this usually means the rate of actively closed connections rose as much.`,
					num(c.Spike.Factor), c.Spike.BaselineWindow, c.Spike.BaselineOffset)},
				{"runbook_url", runbook("TimeWaitSpike")},
			},
		},
		{
			Alert:  "TimeWaitExporterCollectorFailing",
			Expr:   fmt.Sprintf("timewait_scrape_collector_success{%s} == 0", sel),
			For:    c.Exporter.CollectorFailingFor,
			Labels: orderedMap{{"severity", "warning"}},
			Annotations: orderedMap{
				{"summary", "A timewait_exporter collector is failing."},
				{"description", where + `: collector {{ $labels.collector }} of timewait_exporter has failed every scrape for ` + c.Exporter.CollectorFailingFor + `; its metrics are missing, so TIME_WAIT alerts that use them cannot fire.`},
				{"runbook_url", runbook("TimeWaitExporterCollectorFailing")},
			},
		},
		{
			Alert:  "TimeWaitExporterConfigReloadFailed",
			Expr:   fmt.Sprintf("timewait_exporter_config_last_reload_successful{%s} == 0", sel),
			For:    c.Exporter.ConfigReloadFailingFor,
			Labels: orderedMap{{"severity", "warning"}},
			Annotations: orderedMap{
				{"summary", "timewait_exporter could not reload its configuration."},
				{"description", `{{ $labels.instance }}: timewait_exporter's last configuration reload failed; it keeps running with the previous configuration.`},
				{"runbook_url", runbook("TimeWaitExporterConfigReloadFailed")},
			},
		},
	}
	return ruleFile{Groups: []group{{Name: "timewait-exporter", Rules: rules}}}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func load(paths []string) (*Config, error) {
	var c Config
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", strings.Join(paths, " + "), err)
	}
	return &c, nil
}

func main() {
	var configs multiFlag
	flag.Var(&configs, "config", "config file (repeatable; later files override earlier keys)")
	out := flag.String("out", "-", "output rule file, - for stdout")
	flag.Parse()
	if len(configs) == 0 {
		configs = multiFlag{"../config.yml"}
	}
	c, err := load(configs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "generator:", err)
		os.Exit(1)
	}
	var buf bytes.Buffer
	buf.WriteString("# Generated by deploy/prometheus/rules/generator from deploy/prometheus/rules/config.yml.\n" +
		"# DO NOT EDIT: change config.yml and regenerate (see config.yml).\n" +
		"# Usable as a Prometheus rule_files entry and as the spec of a PrometheusRule.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(build(c)); err != nil {
		fmt.Fprintln(os.Stderr, "generator:", err)
		os.Exit(1)
	}
	enc.Close()
	if *out == "-" {
		os.Stdout.Write(buf.Bytes())
		return
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "generator:", err)
		os.Exit(1)
	}
}
