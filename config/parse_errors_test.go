// SPDX-License-Identifier: Apache-2.0

// Tests of the error messages of Parse: every problem of a bad config
// file, pinned exactly, and the cap on how many are listed.

package config

import (
	"strings"
	"testing"
)

// TestParseErrors pins every error message exactly: they are the user
// interface of a bad config file.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		// Destinations.
		{
			name: "missing port",
			in: `destinations:
  - name: postgres
    address: 10.0.0.5:5432
  - name: redis
    address: 10.0.0.5
`,
			want: []string{`line 5: destinations[1].address: "10.0.0.5" is missing a port`},
		},
		{
			name: "missing port, bracketed IPv6",
			in:   "destinations:\n  - name: a\n    address: \"[2001:db8::1]\"\n",
			want: []string{`line 3: destinations[0].address: "[2001:db8::1]" is missing a port`},
		},
		{
			name: "bare IPv6",
			in:   "destinations:\n  - name: a\n    address: 2001:db8::1\n",
			want: []string{`line 3: destinations[0].address: "2001:db8::1" is missing a port (write IPv6 addresses as "[2001:db8::1]:port")`},
		},
		{
			name: "hostname",
			in:   "destinations:\n  - name: a\n    address: db.example.com:5432\n",
			want: []string{`line 3: destinations[0].address: "db.example.com:5432": "db.example.com" is not an IP address (hostnames are not resolved)`},
		},
		{
			name: "bad IP",
			in:   "destinations:\n  - name: a\n    address: 10.0.0.256:80\n",
			want: []string{`line 3: destinations[0].address: "10.0.0.256:80": "10.0.0.256" is not an IP address (hostnames are not resolved)`},
		},
		{
			name: "missing IP",
			in:   "destinations:\n  - name: a\n    address: \":80\"\n",
			want: []string{`line 3: destinations[0].address: ":80": missing IP address`},
		},
		{
			name: "not IP:port",
			in:   "destinations:\n  - name: a\n    address: a:b:c\n",
			want: []string{`line 3: destinations[0].address: "a:b:c" is not an IP:port address`},
		},
		{
			name: "IPv6 zone",
			in:   "destinations:\n  - name: a\n    address: \"[fe80::1%eth0]:22\"\n",
			want: []string{`line 3: destinations[0].address: "[fe80::1%eth0]:22": "fe80::1%eth0": IPv6 zones are not supported`},
		},
		{
			name: "port 0",
			in:   "destinations:\n  - name: a\n    address: 10.0.0.5:0\n",
			want: []string{`line 3: destinations[0].address: "10.0.0.5:0": port 0 is out of range 1-65535`},
		},
		{
			name: "port too big",
			in:   "destinations:\n  - name: a\n    address: \"[::1]:65536\"\n  - name: b\n    address: 10.0.0.1:99999999999999999999999\n",
			want: []string{
				`line 3: destinations[0].address: "[::1]:65536": port 65536 is out of range 1-65535`,
				`line 5: destinations[1].address: "10.0.0.1:99999999999999999999999": port 99999999999999999999999 is out of range 1-65535`,
			},
		},
		{
			name: "port not a number",
			in:   "destinations:\n  - name: a\n    address: 10.0.0.5:http\n",
			want: []string{`line 3: destinations[0].address: "10.0.0.5:http": port "http" is not a number`},
		},
		{
			name: "empty address",
			in:   "destinations:\n  - name: a\n    address: \"\"\n  - name: b\n",
			want: []string{
				`line 3: destinations[0].address: must not be empty`,
				`line 4: destinations[1].address: must not be empty`, // absent: line of the entry
			},
		},
		{
			name: "duplicate address",
			in: `destinations:
  - name: a
    address: 10.0.0.5:5432
  - name: b
    address: "[::ffff:10.0.0.5]:5432"
`,
			want: []string{`line 5: destinations[1].address: duplicate address "[::ffff:10.0.0.5]:5432" (same as destinations[0])`},
		},
		{
			name: "duplicate name",
			in:   "destinations:\n  - name: db\n    address: 10.0.0.1:1\n  - name: db\n    address: 10.0.0.1:2\n",
			want: []string{`line 4: destinations[1].name: duplicate name "db" (also destinations[0])`},
		},
		{
			name: "empty name",
			in:   "destinations:\n  - name: \"\"\n    address: 10.0.0.1:1\n  - address: 10.0.0.1:2\n",
			want: []string{
				`line 2: destinations[0].name: must not be empty`,
				`line 4: destinations[1].name: must not be empty`,
			},
		},
		{
			name: "invalid names",
			in:   "destinations:\n  - name: my db\n    address: 10.0.0.1:1\n  - name: 9lives\n    address: 10.0.0.1:2\n  - name: \"a\\\"b\"\n    address: 10.0.0.1:3\n",
			want: []string{
				`line 2: destinations[0].name: "my db" is not a valid name (must match ^[a-zA-Z_][a-zA-Z0-9_.-]*$)`,
				`line 4: destinations[1].name: "9lives" is not a valid name (must match ^[a-zA-Z_][a-zA-Z0-9_.-]*$)`,
				`line 6: destinations[2].name: "a\"b" is not a valid name (must match ^[a-zA-Z_][a-zA-Z0-9_.-]*$)`,
			},
		},
		// Ports.
		{
			name: "ports out of range and duplicate",
			in:   "ports:\n  - 443\n  - 0\n  - 70000\n  - -1\n  - 443\n",
			want: []string{
				`line 3: ports[1]: port 0 is out of range 1-65535`,
				`line 4: ports[2]: port 70000 is out of range 1-65535`,
				`line 5: ports[3]: port -1 is out of range 1-65535`,
				`line 6: ports[4]: duplicate port 443 (also ports[0])`,
			},
		},
		{
			name: "ports flow style",
			in:   "ports: [443, 0, 443]\n",
			want: []string{
				`line 1: ports[1]: port 0 is out of range 1-65535`,
				`line 1: ports[2]: duplicate port 443 (also ports[0])`,
			},
		},
		// top_n.
		{
			name: "top_n negative",
			in:   "top_n: -1\n",
			want: []string{`line 1: top_n: -1 is out of range 0-1000`},
		},
		{
			name: "top_n too big",
			in:   "\ntop_n: 1001\n",
			want: []string{`line 2: top_n: 1001 is out of range 0-1000`},
		},
		// netns.
		{
			name: "invalid regexes",
			in:   "netns:\n  include: \"(\"\n  exclude: \"a**\"\n",
			want: []string{
				"line 2: netns.include: \"(\" is not a valid regular expression: missing closing ): `(`",
				"line 3: netns.exclude: \"a**\" is not a valid regular expression: invalid nested repetition operator: `**`",
			},
		},
		{
			name: "max_namespaces",
			in:   "netns:\n  max_namespaces: 0\n",
			want: []string{`line 2: netns.max_namespaces: 0 must be at least 1`},
		},
		{
			name: "dump",
			in:   "netns: {dump: some}\n",
			want: []string{`line 1: netns.dump: "some" must be "all" or "busy"`},
		},
		{
			name: "max_namespaces negative",
			in:   "netns: {max_namespaces: -3}\n",
			want: []string{`line 1: netns.max_namespaces: -3 must be at least 1`},
		},
		// doctor.
		{
			name: "thresholds out of range",
			in:   "doctor:\n  utilization_warning: 0\n  utilization_critical: 1.5\n",
			want: []string{
				`line 2: doctor.utilization_warning: 0 is out of range (must be > 0 and <= 1)`,
				`line 3: doctor.utilization_critical: 1.5 is out of range (must be > 0 and <= 1)`,
			},
		},
		{
			name: "thresholds negative and NaN",
			in:   "doctor:\n  utilization_warning: -0.1\n  utilization_critical: .nan\n",
			want: []string{
				`line 2: doctor.utilization_warning: -0.1 is out of range (must be > 0 and <= 1)`,
				`line 3: doctor.utilization_critical: NaN is out of range (must be > 0 and <= 1)`,
			},
		},
		{
			name: "thresholds out of order",
			in:   "doctor:\n  utilization_warning: 0.9\n  utilization_critical: 0.8\n",
			want: []string{`line 2: doctor.utilization_warning: 0.9 must be less than utilization_critical (0.8)`},
		},
		{
			name: "thresholds equal",
			in:   "doctor:\n  utilization_critical: 0.8\n  utilization_warning: 0.8\n",
			want: []string{`line 3: doctor.utilization_warning: 0.8 must be less than utilization_critical (0.8)`},
		},
		{
			name: "warning above default critical",
			in:   "doctor:\n  utilization_warning: 0.95\n",
			want: []string{`line 2: doctor.utilization_warning: 0.95 must be less than utilization_critical (0.9)`},
		},
		{
			name: "critical below default warning",
			in:   "doctor:\n  utilization_critical: 0.5\n",
			want: []string{`line 2: doctor.utilization_critical: 0.5 must be greater than utilization_warning (0.7)`},
		},
		// Decoding.
		{
			name: "unknown keys",
			in:   "topn: 5\nnetns:\n  inclde: x\ndestinations:\n  - name: a\n    address: 10.0.0.1:1\n    port: 5\n",
			want: []string{
				`line 1: topn: unknown field`,
				`line 3: netns.inclde: unknown field`,
				`line 7: destinations[0].port: unknown field`,
			},
		},
		{
			name: "duplicate key",
			in:   "top_n: 1\ntop_n: 2\n",
			want: []string{`line 2: top_n: duplicate key (first defined at line 1)`},
		},
		{
			name: "wrong types",
			in:   "top_n: ten\nports: 443\ndestinations:\n  - postgres\ndoctor: [1]\nnetns:\n  max_namespaces: 1.5\n",
			want: []string{
				"line 1: top_n: cannot unmarshal !!str `ten` into int",
				"line 2: ports: cannot unmarshal !!int `443` into a list of ports",
				"line 4: destinations[0]: cannot unmarshal !!str `postgres` into a destination (a mapping)",
				"line 5: doctor: cannot unmarshal !!seq into a mapping",
				"line 7: netns.max_namespaces: 1.5 is not an integer",
			},
		},
		{
			// yaml.v3 would truncate these silently.
			name: "floats for integers",
			in:   "top_n: 2.5\nports: [443, 1e3]\nnetns: {max_namespaces: 0.5}\n",
			want: []string{
				"line 1: top_n: 2.5 is not an integer",
				"line 2: ports[1]: 1e3 is not an integer",
				"line 3: netns.max_namespaces: 0.5 is not an integer",
			},
		},
		{
			name: "identical bad values on one line",
			in:   "ports: [x, 22, x]\n",
			want: []string{
				"line 1: ports[0]: cannot unmarshal !!str `x` into int",
				"line 1: ports[2]: cannot unmarshal !!str `x` into int",
			},
		},
		{
			name: "long bad value is located",
			in:   "ports:\n  - 22\n  - a-very-long-port\n",
			want: []string{"line 3: ports[1]: cannot unmarshal !!str `a-very-...` into int"},
		},
		{
			name: "nested or out-of-range values are located",
			in:   "top_n: 99999999999999999999\nports: [[1]]\n",
			want: []string{
				"line 1: top_n: cannot unmarshal !!float `9999999...` into int",
				"line 2: ports[0]: cannot unmarshal !!seq into int",
			},
		},
		{
			// The failed element is dropped by yaml.v3, which would shift
			// ports[2] to ports[1]: the section is not validated further, but
			// other sections still are.
			name: "type error hides only its own section",
			in:   "ports:\n  - abc\n  - 0\ntop_n: -1\ndestinations:\n  - name: a\n    address: [10.0.0.1]\n",
			want: []string{
				"line 2: ports[0]: cannot unmarshal !!str `abc` into int",
				"line 4: top_n: -1 is out of range 0-1000",
				"line 7: destinations[0].address: cannot unmarshal !!seq into string",
			},
		},
		{
			name: "errors sorted by line across sections",
			in:   "doctor:\n  utilization_warning: 2\nbogus: true\nports: [0]\ndestinations:\n  - name: \"\"\n    address: x\n",
			want: []string{
				`line 2: doctor.utilization_warning: 2 is out of range (must be > 0 and <= 1)`,
				`line 3: bogus: unknown field`,
				`line 4: ports[0]: port 0 is out of range 1-65535`,
				`line 6: destinations[0].name: must not be empty`,
				`line 7: destinations[0].address: "x" is missing a port`,
			},
		},
		{
			name: "syntax error",
			in:   "ports: [443\n",
			want: []string{`line 1: did not find expected ',' or ']'`},
		},
		{
			name: "tab indentation",
			in:   "netns:\n\tinclude: x\n",
			want: []string{`line 2: found character that cannot start any token`},
		},
		{
			name: "not a mapping",
			in:   "# comment\n- ports\n",
			want: []string{`line 2: the config must be a YAML mapping`},
		},
		{
			name: "scalar document",
			in:   "hello\n",
			want: []string{`line 1: the config must be a YAML mapping`},
		},
		{
			name: "two documents",
			in:   "top_n: 1\n---\ntop_n: 2\n",
			want: []string{`line 2: only one YAML document is allowed`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want errors", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with an error")
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestParseErrorCap: a huge generated file must not produce a huge error.
func TestParseErrorCap(t *testing.T) {
	for _, entry := range []string{"  - x\n", "  - 0\n"} {
		_, err := Parse([]byte("ports:\n" + strings.Repeat(entry, 10000)))
		if err == nil {
			t.Fatal("Parse succeeded")
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != maxErrors+1 || lines[maxErrors] != "... and 9950 more problems" {
			t.Errorf("got %d lines ending %q", len(lines), lines[len(lines)-1])
		}
		if !strings.HasPrefix(lines[0], "line 2: ports[0]: ") || !strings.HasPrefix(lines[maxErrors-1], "line 51: ports[49]: ") {
			t.Errorf("first problems not reported in order: %q ... %q", lines[0], lines[maxErrors-1])
		}
	}
}
