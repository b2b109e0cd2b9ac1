// SPDX-License-Identifier: Apache-2.0

// Command render writes every file the mixin renders (mixin/render.jsonnet:
// the Prometheus rules, the PrometheusRule, the dashboards, the doctor's
// default thresholds) into the repository, or checks that the committed ones
// are up to date. Run from mixin/:
//
//	go run ./render                      # write ../deploy/..., ../dashboards/..., ../config/...
//	go run ./render -check               # fail when a committed file differs
//	go run ./render -patch p.jsonnet -only deploy/prometheus/rules/timewait.rules.yml -out DIR
//	                                     # the mixin + a _config override, one file, under DIR
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-jsonnet"
	"gopkg.in/yaml.v3"
)

func main() {
	dir := flag.String("mixin", ".", "directory holding mixin.libsonnet and render.jsonnet")
	out := flag.String("out", "..", "write (or compare) the files under this directory (the repository root)")
	check := flag.Bool("check", false, "do not write; fail if a file differs from its rendering")
	patch := flag.String("patch", "", "a jsonnet file added to the mixin (e.g. { _config+:: {...} })")
	only := flag.String("only", "", "render only this path (as in render.jsonnet)")
	flag.Parse()
	if err := run(*dir, *out, *patch, *only, *check); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

// Render evaluates render.jsonnet in dir over the mixin (plus patch) and
// returns its files by path.
func Render(dir, patch string) (map[string]string, error) {
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{dir}})
	m := "(import 'mixin.libsonnet')"
	if patch != "" {
		abs, err := filepath.Abs(patch)
		if err != nil {
			return nil, err
		}
		m += " + (import " + strconv.Quote(abs) + ")"
	}
	js, err := vm.EvaluateAnonymousSnippet(filepath.Join(dir, "render-main.jsonnet"), "(import 'render.jsonnet')("+m+")")
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return nil, fmt.Errorf("render.jsonnet must give an object: %w", err)
	}
	files := map[string]string{}
	for p, v := range raw {
		if files[p], err = content(v); err != nil {
			return nil, fmt.Errorf("render.jsonnet: %s: %w", p, err)
		}
	}
	return files, nil
}

// content is a file's text: a string as it is, or {header, yaml} as the
// header followed by the value in YAML (2-space indent; multi-line strings
// as literal blocks).
func content(v json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, nil
	}
	var y struct {
		Header string `json:"header"`
		YAML   any    `json:"yaml"`
	}
	if err := json.Unmarshal(v, &y); err != nil || y.YAML == nil {
		return "", fmt.Errorf("want a string or {header, yaml}")
	}
	var b bytes.Buffer
	b.WriteString(y.Header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(y.YAML); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func run(dir, out, patch, only string, check bool) error {
	files, err := Render(dir, patch)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		if only == "" || p == only {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return fmt.Errorf("render.jsonnet has no file %q", only)
	}
	sort.Strings(paths)
	var stale []string
	for _, p := range paths {
		dst := filepath.Join(out, filepath.FromSlash(p))
		if check {
			if old, err := os.ReadFile(dst); err != nil || !bytes.Equal(old, []byte(files[p])) {
				stale = append(stale, p)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(files[p]), 0o644); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("out of date (run `make mixin`): %s", strings.Join(stale, " "))
	}
	return nil
}
