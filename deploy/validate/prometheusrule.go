// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// The PrometheusRule against the rules the mixin renders, and the flags of
// the manifests against the exporter's --help.

var jobRE = regexp.MustCompile(`(?:^|[,{\s])job="([^"]+)"`)

// ruleJob reads the job name from the alert rules' selector (the first
// expression of the rendered rules file).
func ruleJob(root string) (string, error) {
	spec, _, err := rulesSpec(root)
	if err != nil {
		return "", err
	}
	expr := spec.Groups[0].Rules[0].Expr.String()
	m := jobRE.FindStringSubmatch(expr)
	if m == nil {
		return "", fmt.Errorf("%s: expression %q has no job=\"...\" matcher", rulesFile, expr)
	}
	return m[1], nil
}

// rulesSpec decodes the Prometheus rule file strictly into the CRD's spec type.
func rulesSpec(root string) (*monitoringv1.PrometheusRuleSpec, []byte, error) {
	data, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		return nil, nil, err
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		return nil, nil, fmt.Errorf("%s as a PrometheusRule spec: %w", rulesFile, err)
	}
	if len(spec.Groups) == 0 {
		return nil, nil, fmt.Errorf("%s has no rule groups", rulesFile)
	}
	return &spec, data, nil
}

func checkPrometheusRule(c *checker, root string, o *objects) {
	want, _, err := rulesSpec(root)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	got := o.prometheusRules[0]
	if !reflect.DeepEqual(&got.Spec, want) {
		c.errorf("the PrometheusRule does not carry the groups of %s: run `make mixin`", rulesFile)
	}
	if got.Labels["app.kubernetes.io/name"] != "timewait-exporter" {
		c.errorf("PrometheusRule must be labelled app.kubernetes.io/name=timewait-exporter")
	}
}

// writeRules writes the PrometheusRule's groups as a rule file, for
// promtool check rules.
func writeRules(c *checker, o *objects, file string) {
	out, err := yaml.Marshal(o.prometheusRules[0].Spec)
	if err == nil {
		err = os.WriteFile(file, out, 0o644)
	}
	if err != nil {
		c.errorf("write %s: %v", file, err)
	}
}

var flagRE = regexp.MustCompile(`^--(?:\[no-\])?([a-z0-9][a-z0-9.\-_]*)`)

// checkFlags checks every --flag in the container args against the
// exporter's --help output.
func checkFlags(c *checker, o *objects, helpFile string) {
	if helpFile == "" {
		return
	}
	data, err := os.ReadFile(helpFile)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	known := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		// kingpin: "--[no-]collector.x", "--web.listen-address=...", "-h, --[no-]help"
		l = strings.TrimPrefix(l, "-h, ")
		if m := flagRE.FindStringSubmatch(l); m != nil {
			known[m[1]] = true
		}
	}
	if len(known) == 0 {
		c.errorf("%s lists no flags", helpFile)
		return
	}
	for _, ctr := range o.daemonSets[0].Spec.Template.Spec.Containers {
		for _, a := range ctr.Args {
			name := strings.TrimPrefix(strings.SplitN(a, "=", 2)[0], "--")
			if !known[name] && !(strings.HasPrefix(name, "no-") && known[strings.TrimPrefix(name, "no-")]) {
				c.errorf("DaemonSet arg %q: the exporter has no flag --%s", a, name)
			}
		}
	}
}
