// SPDX-License-Identifier: Apache-2.0

// Command mutate is a mutation test of the alert and recording rules: it
// changes one thing at a time in the rendered rules file (each threshold and
// number, comparison, `for:`, label matcher, range window and `offset`),
// runs `promtool test rules` on the unit tests against each mutant, and
// counts the mutants the tests kill (promtool fails). With several
// -promtool binaries (Prometheus 2 and 3) a mutant is killed only when the
// tests fail on each. From mixin/:
//
//	go run ./mutate -rules ../deploy/prometheus/rules/timewait.rules.yml \
//	  -tests 'tests/*.yml' -promtool promtool,../.tools/promtool3
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
	"regexp"
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
	testsGlob := flag.String("tests", "tests/*.yml", "promtool unit test files, a glob (their rule_files are replaced by the mutant)")
	promtools := flag.String("promtool", "promtool", "promtool binaries, comma-separated: every mutant must fail the tests on each")
	parallel := flag.Int("parallel", 2, "promtool runs at once")
	verbose := flag.Bool("v", false, "print killed mutants too")
	only := flag.String("only", "", "run only the mutants whose description matches this regexp (e.g. TimeWaitSpike)")
	flag.Parse()
	onlyRE, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate: -only:", err)
		os.Exit(2)
	}
	if err := run(*rulesPath, *testsGlob, strings.Split(*promtools, ","), onlyRE, *parallel, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(rulesPath, testsGlob string, promtools []string, only *regexp.Regexp, parallel int, verbose bool) error {
	b, err := os.ReadFile(rulesPath)
	if err != nil {
		return err
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		return err
	}
	tests, err := readTests(testsGlob, filepath.Base(rulesPath))
	if err != nil {
		return err
	}
	rulesName := filepath.Base(rulesPath)
	for i, p := range promtools {
		if strings.ContainsRune(p, filepath.Separator) { // a path: promtool runs in a temporary directory
			if promtools[i], err = filepath.Abs(p); err != nil {
				return err
			}
		}
	}
	// The unmutated rules must pass on each promtool, or every mutant is "killed".
	for _, p := range promtools {
		if out, ok := promtoolTest(p, rf, tests, rulesName); !ok {
			return fmt.Errorf("the unmutated rules fail their tests on %s:\n%s", p, out)
		}
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
				desc := name + ": " + m.desc
				switch why := equivalent(r, m); {
				case !only.MatchString(desc):
				case why != "":
					skipped = append(skipped, fmt.Sprintf("%s (%s)", desc, why))
				default:
					ms = append(ms, mutant{gi, ri, desc, m.r})
				}
			}
		}
	}
	survivedOn := make([]string, len(ms))
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			mf := clone(rf)
			mf.Groups[ms[i].group].Rules[ms[i].rule] = ms[i].r
			survivedOn[i] = passesOn(promtools, mf, tests, rulesName)
		}(i)
	}
	wg.Wait()
	killed := 0
	for i, m := range ms {
		if survivedOn[i] != "" {
			fmt.Printf("SURVIVED (%s) %s\n", survivedOn[i], m.desc)
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

// readTests reads every test file the glob matches, by base name, with
// rule_files naming rulesName only: promtoolTest writes the (mutated) rules
// under that name beside them.
func readTests(glob, rulesName string) (map[string][]byte, error) {
	paths, err := filepath.Glob(glob)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no test files match %s", glob)
	}
	tests := make(map[string][]byte, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if tests[filepath.Base(p)], err = withRuleFiles(b, rulesName); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return tests, nil
}

// withRuleFiles returns the promtool test file b with rule_files set to
// [name], the rest as it was.
func withRuleFiles(b []byte, name string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a promtool test file (a YAML mapping)")
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "rule_files" {
			top.Content[i+1] = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq",
				Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}}}
			return yaml.Marshal(&doc)
		}
	}
	return nil, fmt.Errorf("no rule_files")
}

func clone(rf ruleFile) ruleFile {
	b, _ := yaml.Marshal(rf)
	var c ruleFile
	yaml.Unmarshal(b, &c)
	return c
}

// passesOn returns the first of promtools on which the tests pass with rf,
// or "" when they fail on each.
func passesOn(promtools []string, rf ruleFile, tests map[string][]byte, rulesName string) string {
	for _, p := range promtools {
		if _, ok := promtoolTest(p, rf, tests, rulesName); ok {
			return p
		}
	}
	return ""
}

// promtoolTest writes rf and the tests into a temporary directory and runs
// `promtool test rules` on every test file; ok is true when all pass.
func promtoolTest(promtool string, rf ruleFile, tests map[string][]byte, rulesName string) (string, bool) {
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
	cmd := exec.Command(promtool, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return strings.TrimSpace(out.String()), err == nil
}
