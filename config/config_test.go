// SPDX-License-Identifier: Apache-2.0

// Tests of parsing valid config files, namespace selection, loading a file
// and the shipped example; the helpers the other config tests share.

package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(*Config) // applied to Default()
	}{
		{
			name: "IPv4 and IPv6 destinations",
			in: `destinations:
  - name: postgres
    address: 10.0.0.5:5432
  - name: api.v6
    address: "[2001:db8::1]:443"
  - name: mapped-v4
    address: "[::ffff:192.0.2.7]:80"
`,
			want: func(c *Config) {
				c.Destinations = []Destination{
					{Name: "postgres", Address: "10.0.0.5:5432", AddrPort: netip.MustParseAddrPort("10.0.0.5:5432")},
					{Name: "api.v6", Address: "[2001:db8::1]:443", AddrPort: netip.MustParseAddrPort("[2001:db8::1]:443")},
					// Unmapped, so that it matches the IPv4 form sockets report.
					{Name: "mapped-v4", Address: "[::ffff:192.0.2.7]:80", AddrPort: netip.MustParseAddrPort("192.0.2.7:80")},
				}
			},
		},
		{
			name: "same IP, different ports",
			in:   "destinations:\n  - {name: a, address: \"10.0.0.1:1\"}\n  - {name: b, address: \"10.0.0.1:65535\"}\n",
			want: func(c *Config) {
				c.Destinations = []Destination{
					{Name: "a", Address: "10.0.0.1:1", AddrPort: netip.MustParseAddrPort("10.0.0.1:1")},
					{Name: "b", Address: "10.0.0.1:65535", AddrPort: netip.MustParseAddrPort("10.0.0.1:65535")},
				}
			},
		},
		{
			name: "ports and top_n 0",
			in:   "ports: [443, 8080, 1, 65535]\ntop_n: 0\n",
			want: func(c *Config) { c.Ports = []uint16{443, 8080, 1, 65535}; c.TopN = 0 },
		},
		{
			name: "top_n at its maximum",
			in:   "top_n: 1000\n",
			want: func(c *Config) { c.TopN = 1000 },
		},
		{
			name: "netns",
			in:   "netns:\n  include: ^(ci|prod)-\n  exclude: debug\n  detail: ^shop/\n  max_namespaces: 1\n  dump: all\n",
			want: func(c *Config) {
				c.Netns = Netns{
					Include: "^(ci|prod)-", IncludeRE: regexp.MustCompile("^(ci|prod)-"),
					Exclude: "debug", ExcludeRE: regexp.MustCompile("debug"),
					Detail: "^shop/", DetailRE: regexp.MustCompile("^shop/"),
					MaxNamespaces: 1, Dump: DumpAll,
				}
			},
		},
		{
			name: "critical threshold may be 1",
			in:   "doctor:\n  utilization_warning: 0.5\n  utilization_critical: 1\n",
			want: func(c *Config) { c.Doctor = Doctor{UtilizationWarning: 0.5, UtilizationCritical: 1} },
		},
		{
			name: "anchors and aliases",
			in:   "ports: &p [22]\ndestinations:\n  - &d {name: x, address: \"10.0.0.1:22\"}\n",
			want: func(c *Config) {
				c.Ports = []uint16{22}
				c.Destinations = []Destination{{Name: "x", Address: "10.0.0.1:22", AddrPort: netip.MustParseAddrPort("10.0.0.1:22")}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tt.want(want)
			if !equalConfig(got, want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, good, "top_n: 3\n")
	writeFile(t, bad, "top_n: 3\nports: [0]\n")

	cfg, err := Load(good)
	if err != nil || cfg.TopN != 3 {
		t.Fatalf("Load(good) = %+v, %v", cfg, err)
	}
	if err := Check(good); err != nil {
		t.Errorf("Check(good) = %v", err)
	}

	for _, tt := range []struct{ path, want string }{
		{bad, `config file "` + bad + `": line 2: ports[0]: port 0 is out of range 1-65535`},
		{filepath.Join(dir, "missing.yml"), "reading config file: open " + filepath.Join(dir, "missing.yml") + ": no such file or directory"},
	} {
		if _, err := Load(tt.path); err == nil || err.Error() != tt.want {
			t.Errorf("Load(%s) error = %v, want %s", tt.path, err, tt.want)
		}
		if err := Check(tt.path); err == nil || err.Error() != tt.want {
			t.Errorf("Check(%s) error = %v, want %s", tt.path, err, tt.want)
		}
	}
}

// TestExample keeps the shipped sample valid and in step with the format.
func TestExample(t *testing.T) {
	cfg, err := Load("example.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Destinations) == 0 || len(cfg.Ports) == 0 || cfg.Netns.IncludeRE == nil || cfg.Netns.ExcludeRE == nil {
		t.Errorf("example.yml should show every setting, got %+v", cfg)
	}
	assertRoundTrip(t, cfg)
}

// assertRoundTrip checks that marshalling cfg gives a file that parses back
// to the same Config, so the yaml tags on Config describe the real format.
func assertRoundTrip(t *testing.T, cfg *Config) {
	t.Helper()
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("marshalled config does not parse: %v\n%s", err, out)
	}
	if !equalConfig(cfg, again) {
		t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", cfg, again, out)
	}
}

// equalConfig compares configs, regexps by their source.
func equalConfig(a, b *Config) bool {
	strip := func(c *Config) Config {
		s := *c
		s.Netns.IncludeRE, s.Netns.ExcludeRE, s.Netns.DetailRE = nil, nil, nil
		if len(s.Destinations) == 0 {
			s.Destinations = nil
		}
		if len(s.Ports) == 0 {
			s.Ports = nil
		}
		return s
	}
	return reflect.DeepEqual(strip(a), strip(b)) &&
		reString(a.Netns.IncludeRE) == reString(b.Netns.IncludeRE) &&
		reString(a.Netns.ExcludeRE) == reString(b.Netns.ExcludeRE) &&
		reString(a.Netns.DetailRE) == reString(b.Netns.DetailRE) &&
		(a.Netns.DetailRE == nil) == (a.Netns.Detail == "") &&
		(a.Netns.IncludeRE == nil) == (a.Netns.Include == "") &&
		(a.Netns.ExcludeRE == nil) == (a.Netns.Exclude == "")
}

func reString(re *regexp.Regexp) string {
	if re == nil {
		return "<nil>"
	}
	return re.String()
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
