// SPDX-License-Identifier: Apache-2.0

// Package config holds the optional YAML configuration of timewait_exporter:
// strict decoding, validation with line numbers, and safe reloading.
//
// It deliberately imports neither Prometheus nor netlink so that the
// collectors, the doctor and main can all depend on it without cycles.
package config

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
)

// Limits and defaults. They are exported so that flag help texts and docs can
// quote them instead of repeating the numbers.
//
// DefaultMaxNamespaces is far above any node's pod count (the kubelet's
// default max-pods is 110, clusters raise it to 250), so that no pod is
// dropped unless configured: the cap only bounds a runaway number of
// namespaces, whose cost per scrape grows with every one visited
// (docs/netns.md, "Cost").
const (
	DefaultTopN          = 10
	MaxTopN              = 1000
	DefaultMaxNamespaces = 1000
)

// DefaultUtilizationWarning and DefaultUtilizationCritical are the doctor's
// default thresholds: the ephemeral-port alert thresholds, rendered by the
// monitoring mixin (mixin/config.libsonnet) into doctor_defaults.json, so the
// doctor and the alerts agree. BucketsWarningRatio, the share of
// net.ipv4.tcp_max_tw_buckets at which the doctor warns, is the
// TimeWaitBucketsNearLimit threshold from the same file, and
// the bind-before-connect test of TimeWaitEphemeralPoolExhausting, which
// the doctor shares: at most BindSharingMax outbound sockets per distinct
// local port, and more than BindExcessMin of the usable ports held beyond
// the busiest flow's. None of these is configurable.
var (
	DefaultUtilizationWarning, DefaultUtilizationCritical float64
	BucketsWarningRatio, BindSharingMax, BindExcessMin    float64
)

func init() {
	d := doctorDefaults()
	DefaultUtilizationWarning, DefaultUtilizationCritical = d.Warning, d.Critical
	BucketsWarningRatio, BindSharingMax, BindExcessMin = d.Buckets, d.Sharing, d.Excess
}

//go:embed doctor_defaults.json
var doctorDefaultsJSON []byte

// doctorThresholds is doctor_defaults.json.
type doctorThresholds struct {
	Warning  float64 `json:"utilization_warning"`
	Critical float64 `json:"utilization_critical"`
	Buckets  float64 `json:"buckets_warning"`
	Sharing  float64 `json:"bind_sharing_max"`
	Excess   float64 `json:"bind_excess_min"`
}

// doctorDefaults reads doctor_defaults.json, checked by the rules a config
// file's doctor section obeys; a bad file is a build defect, so it panics.
func doctorDefaults() doctorThresholds {
	var d doctorThresholds
	if err := json.Unmarshal(doctorDefaultsJSON, &d); err != nil {
		panic(fmt.Sprintf("config: bad doctor_defaults.json (%v): %s", err, doctorDefaultsJSON))
	}
	v := &validator{}
	v.doctor(rawDoctor{UtilizationWarning: d.Warning, UtilizationCritical: d.Critical})
	v.ratio(path{"buckets_warning"}, d.Buckets)
	v.ratio(path{"bind_excess_min"}, d.Excess)
	if !(d.Sharing >= 1) {
		v.errorf(path{"bind_sharing_max"}, "%v is below 1", d.Sharing)
	}
	if len(v.errs) > 0 {
		panic(fmt.Sprintf("config: bad doctor_defaults.json %v: %s", v.errs, doctorDefaultsJSON))
	}
	return d
}

// Config is the parsed, validated configuration. A *Config obtained from
// Parse, Load, Default or SafeConfig.Get is shared and must not be mutated.
//
// The yaml tags describe the file format, so yaml.Marshal of a Config yields
// a file that parses back to the same Config (useful for a /config page).
type Config struct {
	// Destinations are always exported, even at zero, under their name.
	Destinations []Destination `yaml:"destinations"`
	// Ports are local listening ports whose inbound connections are always
	// exported.
	Ports []uint16 `yaml:"ports"`
	// TopN is how many other destinations and local ports are exported
	// besides the named ones, per ranking: destinations by TIME_WAIT and by
	// utilisation (up to 2 × TopN in all), ports by TIME_WAIT; 0 exports
	// only the named ones.
	TopN   int    `yaml:"top_n"`
	Netns  Netns  `yaml:"netns"`
	Doctor Doctor `yaml:"doctor"`
}

// Destination is a remote endpoint with a friendly, label-safe name.
type Destination struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// AddrPort is Address parsed. IPv4-mapped IPv6 addresses are unmapped so
	// that they compare equal to the plain IPv4 form the kernel reports for
	// IPv4 sockets.
	AddrPort netip.AddrPort `yaml:"-"`
}

// Netns selects network namespaces for --netns.discover.
type Netns struct {
	// Include and Exclude are unanchored regular expressions matched against
	// a namespace's name (from /run/netns) or the comm of a process holding
	// it. Empty Include selects all; empty Exclude excludes none.
	Include string `yaml:"include,omitempty"`
	Exclude string `yaml:"exclude,omitempty"`
	// IncludeRE and ExcludeRE are the compiled forms; nil when empty.
	IncludeRE *regexp.Regexp `yaml:"-"`
	ExcludeRE *regexp.Regexp `yaml:"-"`
	// Detail is an unanchored regular expression naming the namespaces
	// whose every series is exported, like the own one's, whether busy or
	// idle: matched against the netns label, the comm of the namespace's
	// lowest pid and its pod as namespace/name. Empty names none.
	Detail   string         `yaml:"detail,omitempty"`
	DetailRE *regexp.Regexp `yaml:"-"`
	// MaxNamespaces caps how many namespaces are visited per scrape, the
	// own one included; pods' namespaces are the last dropped.
	MaxNamespaces int `yaml:"max_namespaces"`
	// Dump says which foreign namespaces get the sock_diag dump, and
	// with it every series: DumpBusy (the default: those whose sockstat
	// counts could reach the utilisation warning, see model.DecideDump,
	// and those Detail names) or DumpAll (every one).
	Dump string `yaml:"dump"`
}

// The values of netns.dump.
const (
	DumpAll  = "all"
	DumpBusy = "busy"
)

// Doctor holds the ephemeral port utilisation thresholds (ratios 0-1) at
// which the doctor reports a warning or a critical finding.
type Doctor struct {
	UtilizationWarning  float64 `yaml:"utilization_warning"`
	UtilizationCritical float64 `yaml:"utilization_critical"`
}

// Default returns the configuration used when no file is given. Each call
// returns a fresh value.
func Default() *Config {
	return &Config{
		TopN:  DefaultTopN,
		Netns: Netns{MaxNamespaces: DefaultMaxNamespaces, Dump: DumpBusy},
		Doctor: Doctor{
			UtilizationWarning:  DefaultUtilizationWarning,
			UtilizationCritical: DefaultUtilizationCritical,
		},
	}
}

// Load reads (see readFile) and parses the file at path. Errors name the
// file.
func Load(path string) (*Config, error) { return newFileReader().load(path) }

func (r *fileReader) load(path string) (*Config, error) {
	data, err := r.readFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config file %q: %w", path, err)
	}
	return cfg, nil
}

// Check validates the file at path; it backs --config.check.
func Check(path string) error {
	_, err := Load(path)
	return err
}
