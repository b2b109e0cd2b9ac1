// SPDX-License-Identifier: Apache-2.0

// Command mutate is a mutation test of the alert and recording rules: it
// changes one thing at a time in the rendered rules file (each threshold and
// number, comparison, `for:`, label matcher, range window and `offset`),
// runs `promtool test rules` on the unit tests against each mutant, and
// counts the mutants the tests kill (promtool fails). From mixin/:
//
//	go run ./mutate -rules ../deploy/prometheus/rules/timewait.rules.yml \
//	  -tests '../deploy/prometheus/rules/*.test.yml'
//
// It prints every surviving mutant and "mutation: K killed of N" and exits
// non-zero unless all are killed. Equivalent mutants (ones no test can tell
// apart) are skipped by rule in equivalent(), each with its reason printed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

type rule struct {
	Alert       string            `yaml:"alert,omitempty"`
	Record      string            `yaml:"record,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval,omitempty"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

// mutant is one changed rule: where and what.
type mutant struct {
	group, rule int
	desc        string
	r           rule
}

func main() {
	rulesPath := flag.String("rules", "../deploy/prometheus/rules/timewait.rules.yml", "rendered rules file")
	testsGlob := flag.String("tests", "../deploy/prometheus/rules/*.test.yml", "promtool unit test files, a glob (their rule_files name the rules file by base name)")
	parallel := flag.Int("parallel", 2, "promtool runs at once")
	verbose := flag.Bool("v", false, "print killed mutants too")
	flag.Parse()
	if err := run(*rulesPath, *testsGlob, *parallel, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(rulesPath, testsGlob string, parallel int, verbose bool) error {
	b, err := os.ReadFile(rulesPath)
	if err != nil {
		return err
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		return err
	}
	tests, err := readTests(testsGlob)
	if err != nil {
		return err
	}
	// The unmutated rules must pass, or every mutant is "killed".
	if out, ok := promtoolTest(rf, tests, filepath.Base(rulesPath)); !ok {
		return fmt.Errorf("the unmutated rules fail their tests:\n%s", out)
	}
	var ms []mutant
	var skipped []string
	for gi, g := range rf.Groups {
		for ri, r := range g.Rules {
			name := r.Alert + r.Record
			if sev := r.Labels["severity"]; sev != "" {
				name += "/" + sev
			}
			for _, m := range mutations(r) {
				if why := equivalent(r, m); why != "" {
					skipped = append(skipped, fmt.Sprintf("%s: %s (%s)", name, m.desc, why))
					continue
				}
				ms = append(ms, mutant{gi, ri, name + ": " + m.desc, m.r})
			}
		}
	}
	survived := make([]bool, len(ms))
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			mf := clone(rf)
			mf.Groups[ms[i].group].Rules[ms[i].rule] = ms[i].r
			_, survived[i] = promtoolTest(mf, tests, filepath.Base(rulesPath))
		}(i)
	}
	wg.Wait()
	killed := 0
	for i, m := range ms {
		if survived[i] {
			fmt.Printf("SURVIVED %s\n", m.desc)
		} else {
			killed++
			if verbose {
				fmt.Printf("killed   %s\n", m.desc)
			}
		}
	}
	for _, s := range skipped {
		fmt.Printf("skipped (equivalent) %s\n", s)
	}
	fmt.Printf("mutation: %d killed of %d (%d equivalent skipped)\n", killed, len(ms), len(skipped))
	if killed < len(ms) {
		return fmt.Errorf("%d mutant(s) survived the promtool tests", len(ms)-killed)
	}
	return nil
}

// readTests reads every test file the glob matches, by base name.
func readTests(glob string) (map[string][]byte, error) {
	paths, err := filepath.Glob(glob)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no test files match %s", glob)
	}
	tests := make(map[string][]byte, len(paths))
	for _, p := range paths {
		if tests[filepath.Base(p)], err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	return tests, nil
}

func clone(rf ruleFile) ruleFile {
	b, _ := yaml.Marshal(rf)
	var c ruleFile
	yaml.Unmarshal(b, &c)
	return c
}

// promtoolTest writes rf and the tests into a temporary directory and runs
// promtool test rules on every test file; ok is true when all pass.
func promtoolTest(rf ruleFile, tests map[string][]byte, rulesName string) (string, bool) {
	dir, err := os.MkdirTemp("", "mutate")
	if err != nil {
		return err.Error(), false
	}
	defer os.RemoveAll(dir)
	b, err := yaml.Marshal(rf)
	if err != nil {
		return err.Error(), false
	}
	if err := os.WriteFile(filepath.Join(dir, rulesName), b, 0o644); err != nil {
		return err.Error(), false
	}
	args := []string{"test", "rules"}
	for name, b := range tests {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err.Error(), false
		}
		args = append(args, name)
	}
	cmd := exec.Command("promtool", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return strings.TrimSpace(out.String()), err == nil
}
