// SPDX-License-Identifier: Apache-2.0

// Tests of the defaults: Default(), a config file that leaves settings out,
// and the doctor's defaults that are the alert thresholds.

package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	want := &Config{
		TopN:   10,
		Netns:  Netns{MaxNamespaces: 1000, Dump: DumpBusy},
		Doctor: Doctor{UtilizationWarning: 0.7, UtilizationCritical: 0.9},
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() = %+v, want %+v", got, want)
	}
	a, b := Default(), Default()
	a.TopN = 1
	if b.TopN != 10 {
		t.Fatal("Default() must return a fresh value each call")
	}
}

// TestParseDefaults: documents without settings, and settings left out,
// give the defaults ("zero config must work").
func TestParseDefaults(t *testing.T) {
	for _, in := range []string{"", "\n", "# just a comment\n", "---\n", "null\n", "--- # nothing\n...\n"} {
		cfg, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !equalConfig(cfg, Default()) {
			t.Errorf("Parse(%q) = %+v, want defaults", in, cfg)
		}
	}

	cfg, err := Parse([]byte("netns:\n  include: ^ci-\ndoctor:\n  utilization_critical: 0.95\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TopN != 10 || cfg.Netns.MaxNamespaces != 1000 || cfg.Doctor.UtilizationWarning != 0.7 {
		t.Errorf("keys left out of a section must keep their defaults, got %+v", cfg)
	}
}

// TestDoctorDefaultsAreAlertThresholds: the doctor's defaults (embedded
// doctor_defaults.json) are the thresholds of the shipped ephemeral-port
// alerts; both are rendered by the mixin (mixin/config.libsonnet).
func TestDoctorDefaultsAreAlertThresholds(t *testing.T) {
	b, err := os.ReadFile("../deploy/prometheus/rules/timewait.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	// The comparison opens the expression, alone or in the parentheses of
	// the join that adds a pod's namespace and pod (mixin/alerts).
	re := regexp.MustCompile(`expr: (?:\|-\n\s*\(\n\s*)?timewait_ephemeral_port_utilization_max_ratio\{[^}]*\} > ([0-9.]+)\n(?:.*\n){0,9}?\s*labels:\n\s*severity: (\w+)`)
	got := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		got[m[2]] = m[1]
	}
	want := map[string]string{
		"warning":  strconv.FormatFloat(DefaultUtilizationWarning, 'f', -1, 64),
		"critical": strconv.FormatFloat(DefaultUtilizationCritical, 'f', -1, 64),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ephemeral-port alert thresholds %v, doctor defaults %v", got, want)
	}
	buckets := regexp.MustCompile(`timewait_sysctl_tcp_max_tw_buckets\{[^}]*\} > 0\)\n\s*> ([0-9.]+)\n`).FindStringSubmatch(string(b))
	if buckets == nil || buckets[1] != strconv.FormatFloat(BucketsWarningRatio, 'f', -1, 64) {
		t.Fatalf("TimeWaitBucketsNearLimit threshold %v, doctor's BucketsWarningRatio %v", buckets, BucketsWarningRatio)
	}
	sharing := regexp.MustCompile(`timewait_outbound_sockets\{[^}]*\}\n\s*<= ([0-9.]+) \*`).FindAllStringSubmatch(string(b), -1)
	if len(sharing) != 2 || sharing[0][1] != strconv.FormatFloat(BindSharingMax, 'f', -1, 64) || sharing[1][1] != sharing[0][1] {
		t.Fatalf("TimeWaitEphemeralPoolExhausting sharing factors %v, doctor's BindSharingMax %v", sharing, BindSharingMax)
	}
}

// TestDoctorDefaultsRejectBadFiles: a doctor_defaults.json that breaks the
// rules of a config file's doctor section, or the bind-before-connect
// factors' ranges, stops the program at start-up.
func TestDoctorDefaultsRejectBadFiles(t *testing.T) {
	good := `"utilization_warning":0.7,"utilization_critical":0.9,"buckets_warning":0.8,"bind_sharing_max":1.02,"bind_excess_min":0.1`
	for _, tc := range []struct{ name, json, want string }{
		{"warning above critical", strings.Replace(good, "0.7", "0.95", 1), "must be greater than utilization_warning"},
		{"bucket ratio above 1", strings.Replace(good, "0.8", "1.8", 1), "buckets_warning: 1.8 is out of range"},
		{"sharing below 1", strings.Replace(good, "1.02", "0.5", 1), "bind_sharing_max: 0.5 is below 1"},
		{"excess missing", strings.Replace(good, `,"bind_excess_min":0.1`, "", 1), "bind_excess_min: 0 is out of range"},
		{"not JSON", `"utilization_warning":`, "bad doctor_defaults.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := doctorDefaultsJSON
			defer func() { doctorDefaultsJSON = saved }()
			doctorDefaultsJSON = []byte("{" + tc.json + "}")
			defer func() {
				if got := fmt.Sprint(recover()); !strings.Contains(got, tc.want) {
					t.Errorf("panic %q, want it to contain %q", got, tc.want)
				}
			}()
			doctorDefaults()
		})
	}
	if d := doctorDefaults(); d.Warning != DefaultUtilizationWarning || d.Excess != BindExcessMin {
		t.Errorf("the shipped file reads as %+v", d)
	}
}
