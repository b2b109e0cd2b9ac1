// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// lineError is one problem in the file, located by line so that users can
// jump to it and so that all problems can be listed in file order.
type lineError struct {
	line int // 0 when unknown
	msg  string
}

func (e lineError) Error() string {
	if e.line == 0 {
		return e.msg
	}
	return fmt.Sprintf("line %d: %s", e.line, e.msg)
}

// maxErrors caps how many problems are reported: a generated file with
// thousands of bad entries should not yield a megabyte-long HTTP response or
// log line, and the first few show what is wrong.
const maxErrors = 50

// joinErrors sorts errs by line (stable, so that problems on one line keep
// their field order) and joins them, up to maxErrors.
func joinErrors(errs []lineError) error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].line < errs[j].line })
	if n := len(errs) - maxErrors; n > 0 {
		errs = append(errs[:maxErrors:maxErrors], lineError{msg: fmt.Sprintf("... and %d more problems", n)})
	}
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// path is a field path into the file: string elements are mapping keys, int
// elements sequence indexes.
type path []any

func (p path) String() string {
	var b strings.Builder
	for _, elem := range p {
		switch v := elem.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(v) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// with returns p extended by elems, never sharing p's backing array, so that
// paths built in a loop do not overwrite each other.
func (p path) with(elems ...any) path {
	return append(append(path{}, p...), elems...)
}

// resolve follows aliases so that anchors in the file do not hide lines.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// lookup walks p from root and returns the node found, or nil when the file
// does not spell the field out (a default applies).
func lookup(root *yaml.Node, p path) *yaml.Node {
	n := resolve(root)
	for _, elem := range p {
		if n == nil {
			return nil
		}
		n = resolve(child(n, elem))
	}
	return n
}

func child(n *yaml.Node, elem any) *yaml.Node {
	switch v := elem.(type) {
	case string:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == v {
				return n.Content[i+1]
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && v >= 0 && v < len(n.Content) {
			return n.Content[v]
		}
	}
	return nil
}

// lineOf returns the line of the deepest node along p that the file has,
// so that an error about a missing field points at its parent.
func lineOf(root *yaml.Node, p path) int {
	n := resolve(root)
	if n == nil {
		return 0
	}
	line := n.Line
	for _, elem := range p {
		n = resolve(child(n, elem))
		if n == nil {
			break
		}
		line = n.Line
	}
	return line
}
