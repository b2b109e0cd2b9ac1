// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// rawConfig mirrors the file format with loose types (int rather than
// uint16 ports) so that out-of-range values reach validation and get a
// message with their field path instead of a bare yaml type error.
//
// Unknown keys and values of the wrong kind are found by walking the node
// tree against these types (schema.go), so every message has its field
// path and line without reading yaml.v3's error strings back.
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
	Detail        string `yaml:"detail"`
	MaxNamespaces int    `yaml:"max_namespaces"`
	Dump          string `yaml:"dump"`
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
		Netns:  rawNetns{MaxNamespaces: d.Netns.MaxNamespaces, Dump: d.Netns.Dump},
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
	decodeErrs, err := decodeStrict(root, &raw)
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

// decodeErrors are the problems found before decoding: unknown or
// repeated keys and values of the wrong kind (see check).
type decodeErrors struct {
	errs []lineError
	// tainted lists the top-level sections in which a value does not fit
	// its field. yaml.v3 leaves such a value at its zero value, or drops it
	// from its list and so shifts later indexes, so validating the section
	// would report misleading errors at the wrong places.
	tainted map[string]bool
}

// taints reports whether section must not be validated; "" stands for a
// value yaml.v3 refused that the check did not locate: it taints every
// section.
func (d *decodeErrors) taints(section string) bool {
	return d.tainted[section] || d.tainted[""]
}

// decodeStrict checks the tree under root against the raw types, then
// decodes it into raw. What the check found is in the returned
// decodeErrors, and yaml.v3's own complaints about the same values are
// dropped; any other error is returned as err.
func decodeStrict(root *yaml.Node, raw *rawConfig) (*decodeErrors, error) {
	d := &decodeErrors{tainted: map[string]bool{}}
	if root == nil {
		return d, nil
	}
	d.check(root, reflect.TypeFor[rawConfig](), nil)
	// The tree, not data: the text is not parsed twice, and the check
	// dropped the unknown and repeated keys, whose number yaml.v3's
	// duplicate-key test is quadratic in (100k keys: 33 s).
	err := root.Decode(raw)
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		return d, err
	}
	if len(d.errs) == 0 {
		// The check missed what yaml.v3 refused: report it as is.
		for _, msg := range typeErr.Errors {
			d.errs = append(d.errs, lineError{msg: msg})
		}
		d.tainted[""] = true
	}
	return d, nil
}
