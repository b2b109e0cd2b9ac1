// SPDX-License-Identifier: Apache-2.0

package main

import (
	"flag"
	"fmt"
	"strings"
)

// querySource is where query and expr take the dashboards' queries from:
// their flags, then the checked queries with the variables substituted.
type querySource struct {
	dir, recorded *string
	vars          varFlag
}

func newQuerySource(fs *flag.FlagSet) *querySource {
	s := &querySource{vars: varFlag{}}
	s.dir = fs.String("dir", "..", "directory holding the dashboards")
	fs.Var(s.vars, "var", "dashboard variable value name=value (repeatable); default .* for query variables")
	s.recorded = fs.String("recorded", "", "rules file whose recorded metric names the dashboards may use (default: deploy/prometheus/rules/timewait.rules.yml beside -dir)")
	return s
}

// load lints the dashboards and returns every query, substituted; an
// undefined variable is a lint problem.
func (s *querySource) load() ([]expr, error) {
	if err := addRecorded(*s.recorded, *s.dir); err != nil {
		return nil, err
	}
	exprs, _, err := collect(*s.dir, s.vars)
	if err != nil {
		return nil, fmt.Errorf("dashboard lint:\n  %w", err)
	}
	return exprs, nil
}

// exprCmd prints the query of one panel target with the dashboard's
// variables substituted, for the tests that run a panel's query themselves
// and check its values. Unlike a text substitution it fails on a variable
// nobody set.
func exprCmd(args []string) error {
	fs := flag.NewFlagSet("expr", flag.ExitOnError)
	src := newQuerySource(fs)
	dash := fs.String("dashboard", "", "dashboard file name, e.g. timewait-host.json")
	title := fs.String("title", "", "panel title")
	ref := fs.String("ref", "A", "the target's refId")
	fs.Parse(args)
	exprs, err := src.load()
	if err != nil {
		return err
	}
	suffix := fmt.Sprintf(" %q / %s", *title, *ref)
	for _, e := range exprs {
		if strings.HasPrefix(e.where, *dash+" / panel ") && strings.HasSuffix(e.where, suffix) {
			fmt.Println(e.expr)
			return nil
		}
	}
	return fmt.Errorf("%s has no panel %q with a target %s", *dash, *title, *ref)
}
