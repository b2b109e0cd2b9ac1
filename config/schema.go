// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The file is checked against the raw types before yaml.v3 decodes it:
// unknown and repeated keys and values of the wrong kind are found on the
// node tree, where each has its line and field path, rather than read back
// out of yaml.v3's error strings.

// typeNames are how messages call the raw types; other types go by their
// Go name (int, string, float64).
var typeNames = map[reflect.Type]string{
	reflect.TypeFor[rawConfig]():        "a mapping",
	reflect.TypeFor[rawNetns]():         "a mapping",
	reflect.TypeFor[rawDoctor]():        "a mapping",
	reflect.TypeFor[rawDestination]():   "a destination (a mapping)",
	reflect.TypeFor[[]rawDestination](): "a list of destinations",
	reflect.TypeFor[[]int]():            "a list of ports",
}

func typeName(t reflect.Type) string {
	if name, ok := typeNames[t]; ok {
		return name
	}
	return t.String()
}

// check walks n, the value at p, against t and records what does not fit.
// An alias is not followed: its anchor is checked where it is defined.
func (d *decodeErrors) check(n *yaml.Node, t reflect.Type, p path) {
	if n.Kind == yaml.AliasNode || n.ShortTag() == "!!null" {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.wrongKind(n, t, p)
			return
		}
		d.checkMapping(n, t, p)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.wrongKind(n, t, p)
			return
		}
		for i, elem := range n.Content {
			d.check(elem, t.Elem(), p.with(i))
		}
	default:
		if n.Kind != yaml.ScalarNode || !scalarFits(n, t.Kind()) {
			d.wrongKind(n, t, p)
		}
	}
}

// checkMapping checks the keys of mapping n against the yaml tags of
// struct t, and each value against its field's type. It drops the unknown
// and repeated keys from n, which is decoded next.
func (d *decodeErrors) checkMapping(n *yaml.Node, t reflect.Type, p path) {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = t.Field(i).Type
	}
	seen := map[string]int{}
	var kept []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := p.with(k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errs = append(d.errs, lineError{line: k.Line, msg: fmt.Sprintf("%s: duplicate key (first defined at line %d)", at, first)})
			continue
		}
		seen[k.Value] = k.Line
		ft, known := fields[k.Value]
		if !known {
			// An unknown key leaves nothing half-decoded: no taint.
			d.errs = append(d.errs, lineError{line: k.Line, msg: at.String() + ": unknown field"})
			continue
		}
		kept = append(kept, k, v)
		d.check(v, ft, at)
	}
	n.Content = kept
}

// scalarFits reports whether yaml.v3 decodes scalar n into a field of
// kind k. A float for an int is decoded (truncated) when in range and left
// to validation, which refuses it with its own message.
func scalarFits(n *yaml.Node, k reflect.Kind) bool {
	tag := n.ShortTag()
	switch k {
	case reflect.Int:
		switch tag {
		case "!!int":
			_, err := strconv.ParseInt(n.Value, 0, 64)
			return err == nil
		case "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			return err == nil && math.Abs(f) < 1<<63
		}
		return false
	case reflect.Float64:
		return tag == "!!int" || tag == "!!float"
	default: // string: yaml.v3 takes any scalar's text
		return tag != "!!binary"
	}
}

// wrongKind records a value yaml.v3 cannot decode into t, worded as
// yaml.v3 words it, and taints its section: yaml.v3 leaves such a value at
// its zero value or drops it from its list, shifting later indexes.
func (d *decodeErrors) wrongKind(n *yaml.Node, t reflect.Type, p path) {
	what := n.ShortTag()
	if n.Kind == yaml.ScalarNode {
		what += " `" + shorten(n.Value) + "`"
	}
	d.errs = append(d.errs, lineError{line: n.Line, msg: fmt.Sprintf("%s: cannot unmarshal %s into %s", p, what, typeName(t))})
	section := ""
	if len(p) > 0 {
		section, _ = p[0].(string)
	}
	d.tainted[section] = true
}

// shorten cuts a value the way yaml.v3's messages do: to 7 bytes and "..."
// when longer than 10.
func shorten(s string) string {
	if len(s) > 10 {
		return s[:7] + "..."
	}
	return s
}
