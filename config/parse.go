// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// rawConfig mirrors the file format with loose types (int rather than
// uint16 ports) so that out-of-range values reach validation and get a
// message with their field path instead of a bare yaml type error.
//
// Validation lives outside UnmarshalYAML on purpose: yaml.v3 does not carry
// KnownFields into Node.Decode, so a custom unmarshaller would silently
// accept unknown keys below it.
type rawConfig struct {
	Destinations []rawDestination `yaml:"destinations"`
	Ports        []int            `yaml:"ports"`
	TopN         int              `yaml:"top_n"`
	Netns        rawNetns         `yaml:"netns"`
	Doctor       rawDoctor        `yaml:"doctor"`
}

type rawDestination struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
}

type rawNetns struct {
	Include       string `yaml:"include"`
	Exclude       string `yaml:"exclude"`
	MaxNamespaces int    `yaml:"max_namespaces"`
}

type rawDoctor struct {
	UtilizationWarning  float64 `yaml:"utilization_warning"`
	UtilizationCritical float64 `yaml:"utilization_critical"`
}

// defaultRaw pre-fills the decode target: yaml.v3 leaves absent keys alone,
// so whatever the file does not mention keeps its default.
func defaultRaw() rawConfig {
	d := Default()
	return rawConfig{
		TopN:   d.TopN,
		Netns:  rawNetns{MaxNamespaces: d.Netns.MaxNamespaces},
		Doctor: rawDoctor(d.Doctor),
	}
}

// Parse decodes and validates a config file's contents. An empty document
// yields Default(). All problems are reported together, one "line N: ..."
// per problem, sorted by line, joined with errors.Join.
func Parse(data []byte) (*Config, error) {
	root, err := parseNode(data)
	if err != nil {
		return nil, err
	}
	raw := defaultRaw()
	decodeErrs, err := decodeStrict(data, root, &raw)
	if err != nil {
		return nil, syntaxError(err)
	}
	cfg, validationErrs := validate(&raw, root, decodeErrs.taints)
	if errs := append(decodeErrs.errs, validationErrs...); len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return cfg, nil
}

// parseNode parses data into a node tree, used for line numbers. It returns
// nil for an empty document, and rejects a second document, which Decode
// would otherwise silently ignore.
func parseNode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, fmt.Errorf("line %d: only one YAML document is allowed", next.Line)
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil // "---" or "null": no settings
	}
	if resolve(root).Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the config must be a YAML mapping", root.Line)
	}
	return root, nil
}

// syntaxError drops yaml's "yaml: " prefix so that messages read like ours.
func syntaxError(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// decodeErrors are the problems yaml.v3 reports while decoding: type
// mismatches and unknown or repeated keys, rewritten to name field paths.
type decodeErrors struct {
	errs []lineError
	// tainted lists the top-level sections in which a value failed to
	// decode. yaml.v3 leaves such a value at its zero value, or drops it from
	// its list and so shifts later indexes, so validating the section would
	// report misleading errors at the wrong places.
	tainted map[string]bool
	index   lineIndex // built on the first error
}

// taints reports whether section must not be validated; "" stands for a
// failed value that could not be located, which taints every section.
func (d *decodeErrors) taints(section string) bool {
	return d.tainted[section] || d.tainted[""]
}

// decodeStrict decodes data into raw, rejecting unknown keys. Decoding goes
// on past type errors and unknown keys, which are collected; any other error
// is returned as err.
func decodeStrict(data []byte, root *yaml.Node, raw *rawConfig) (*decodeErrors, error) {
	d := &decodeErrors{tainted: map[string]bool{}}
	if root == nil {
		return d, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(raw)
	var typeErr *yaml.TypeError
	if err == nil || !errors.As(err, &typeErr) {
		return d, err
	}
	for _, msg := range typeErr.Errors {
		d.add(msg, root)
	}
	return d, nil
}

var (
	yamlLineRE     = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	unknownFieldRE = regexp.MustCompile(`(?s)^field (.+) not found in type \S+$`)
	dupKeyRE       = regexp.MustCompile(`(?s)^mapping key (".*") already defined at line (\d+)$`)
	// cannotRE matches yaml.v3's type errors; the value is quoted only for
	// scalars, and cut to 7 bytes plus "..." when longer than 10.
	cannotRE = regexp.MustCompile("(?s)^cannot unmarshal \\S+(?: `(.*)`)? into ")
	// goTypeNames hides our internal Go type names from users.
	goTypeNames = strings.NewReplacer(
		"[]config.rawDestination", "a list of destinations",
		"config.rawDestination", "a destination (a mapping)",
		"config.rawConfig", "a mapping",
		"config.rawNetns", "a mapping",
		"config.rawDoctor", "a mapping",
		"[]int", "a list of ports",
	)
)

// add records one of yaml.v3's "line N: ..." error strings, with the field
// path when it can be found.
func (d *decodeErrors) add(msg string, root *yaml.Node) {
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		d.errs = append(d.errs, lineError{msg: msg})
		d.tainted[""] = true
		return
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if len(d.errs) >= maxErrors {
		// Beyond what is reported: skip locating, just keep the count.
		d.errs = append(d.errs, lineError{line: line, msg: text})
		d.tainted[""] = true
		return
	}
	if d.index == nil {
		d.index = newLineIndex(root)
	}
	if f := unknownFieldRE.FindStringSubmatch(text); f != nil {
		// An unknown key leaves nothing half-decoded: no taint.
		if p, ok := d.index.find(line, isKey(line, f[1])); ok {
			text = p.String() + ": unknown field"
		} else {
			text = fmt.Sprintf("unknown field %q", f[1])
		}
		d.errs = append(d.errs, lineError{line: line, msg: text})
		return
	}
	if k := dupKeyRE.FindStringSubmatch(text); k != nil {
		if name, err := strconv.Unquote(k[1]); err == nil {
			if p, ok := d.index.find(line, isKey(line, name)); ok {
				text = fmt.Sprintf("%s: duplicate key (first defined at line %s)", p, k[2])
			}
		}
		d.errs = append(d.errs, lineError{line: line, msg: text})
		return
	}
	text = goTypeNames.Replace(text)
	if c := cannotRE.FindStringSubmatch(m[2]); c != nil {
		quoted := strings.Contains(c[0], "`")
		if p, ok := d.index.find(line, isBadValue(line, c[1], quoted)); ok {
			text = p.String() + ": " + text
			section, _ := p[0].(string)
			d.tainted[section] = true
		} else {
			d.tainted[""] = true
		}
	}
	d.errs = append(d.errs, lineError{line: line, msg: text})
}

func isKey(line int, name string) func(k, v *yaml.Node) bool {
	return func(k, _ *yaml.Node) bool {
		return k != nil && k.Line == line && k.Value == name
	}
}

// isBadValue matches the value node a yaml.v3 type error is about: on line,
// and with the quoted (possibly cut) value if the message quoted one.
func isBadValue(line int, quoted string, hasQuoted bool) func(k, v *yaml.Node) bool {
	return func(_, v *yaml.Node) bool {
		if v.Line != line {
			return false
		}
		if !hasQuoted {
			return v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode
		}
		if v.Kind != yaml.ScalarNode {
			return false
		}
		if cut, ok := strings.CutSuffix(quoted, "..."); ok && len(v.Value) > 10 {
			return strings.HasPrefix(v.Value, cut)
		}
		return v.Value == quoted
	}
}
