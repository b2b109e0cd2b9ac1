// SPDX-License-Identifier: Apache-2.0

package main

import (
	"flag"
	"fmt"
	"strings"
)

// exprCmd prints the query of one panel target with the dashboard's
// variables substituted (query variables .* unless -var sets them), for the
// tests that run a panel's query themselves and check its values. Unlike a
// text substitution it fails on a variable nobody set.
func exprCmd(args []string) error {
	fs := flag.NewFlagSet("expr", flag.ExitOnError)
	dir := fs.String("dir", "..", "directory holding the dashboards")
	dash := fs.String("dashboard", "", "dashboard file name, e.g. timewait-host.json")
	title := fs.String("title", "", "panel title")
	ref := fs.String("ref", "A", "the target's refId")
	vars := varFlag{}
	fs.Var(vars, "var", "dashboard variable value name=value (repeatable)")
	fs.Parse(args)
	if err := addRecorded("", *dir); err != nil {
		return err
	}
	exprs, _, err := collect(*dir, vars)
	if err != nil {
		return fmt.Errorf("dashboard lint:\n  %w", err)
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
