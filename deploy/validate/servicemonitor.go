// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// The ServiceMonitor: it selects the Service in its own namespace, and the
// labels of the series it scrapes are the ones the alert rules expect.

// A target as the Prometheus Operator hands it to the ServiceMonitor's
// relabelings: the Operator's own relabelings have already set job
// (the Service's name), namespace, service, pod, container and endpoint.
const (
	testNode      = "node-a"
	testNamespace = "exporter-ns"
	testPod       = "timewait-exporter-x7k2p"
)

func operatorTarget(svc string) map[string]string {
	return map[string]string{
		"__address__":                     "10.0.0.7:9966",
		"__meta_kubernetes_pod_node_name": testNode,
		"__meta_kubernetes_namespace":     testNamespace,
		"__meta_kubernetes_pod_name":      testPod,
		"job":                             svc,
		"namespace":                       testNamespace,
		"service":                         svc,
		"pod":                             testPod,
		"container":                       "timewait-exporter",
		"endpoint":                        portName,
	}
}

func checkServiceMonitor(c *checker, root string, o *objects) {
	svc, sm := o.services[0], o.serviceMonitors[0]
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			c.errorf("ServiceMonitor selector %s=%s does not match the Service's labels", k, v)
		}
	}
	// Empty: the ServiceMonitor's own namespace, wherever it is applied.
	if ns := sm.Spec.NamespaceSelector; ns.Any || len(ns.MatchNames) > 0 {
		c.errorf("ServiceMonitor namespaceSelector %+v: leave it empty, so that it selects the Service in its own namespace", ns)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != portName {
		c.errorf("ServiceMonitor must have one endpoint on port %s", portName)
		return
	}
	want, err := ruleJob(root)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	labels, err := relabel(operatorTarget(svc.Name), sm.Spec.Endpoints[0].RelabelConfigs)
	switch {
	case err != nil:
		c.errorf("ServiceMonitor relabelings: %v", err)
	case labels == nil:
		c.errorf("ServiceMonitor relabelings drop the exporter's target")
	default:
		if labels["job"] != want {
			c.errorf("ServiceMonitor sets job=%q but the alert rules select job=%q (%s)", labels["job"], want, rulesFile)
		}
		if labels["instance"] != testNode {
			c.errorf("ServiceMonitor must set instance to the node name, got instance=%q", labels["instance"])
		}
		// A pod's alerts carry the namespace and pod of the pod they are
		// about; the exporter's own would collide with them.
		for _, l := range []string{"namespace", "pod"} {
			if v, ok := labels[l]; ok {
				c.errorf("ServiceMonitor keeps the exporter's own %s=%q on every series: drop it (the alerts' %s is the watched pod's)", l, v, l)
			}
		}
	}
	checkPromConfigJob(c, root, want)
}

// checkPromConfigJob: the plain-Prometheus example uses the same job name.
func checkPromConfigJob(c *checker, root, want string) {
	data, err := os.ReadFile(filepath.Join(root, promConfig))
	if err != nil {
		c.errorf("%v", err)
		return
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName string `json:"job_name"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &pc); err != nil {
		c.errorf("%s: %v", promConfig, err)
	}
	found := false
	for _, s := range pc.ScrapeConfigs {
		found = found || s.JobName == want
	}
	if !found {
		c.errorf("%s has no scrape job named %q, which the alert rules select", promConfig, want)
	}
}

// relabel applies relabel configs as Prometheus does to a target (the
// actions a ServiceMonitor may use on labels), then drops the __ labels
// and defaults instance to __address__. A dropped target gives nil.
func relabel(in map[string]string, cfgs []monitoringv1.RelabelConfig) (map[string]string, error) {
	ls := map[string]string{}
	for k, v := range in {
		ls[k] = v
	}
	for i, rc := range cfgs {
		re, err := regexp.Compile("^(?:" + orDefault(rc.Regex, "(.*)") + ")$")
		if err != nil {
			return nil, fmt.Errorf("relabeling %d: %v", i+1, err)
		}
		var vals []string
		for _, s := range rc.SourceLabels {
			vals = append(vals, ls[string(s)])
		}
		sep := ";"
		if rc.Separator != nil {
			sep = *rc.Separator
		}
		val := strings.Join(vals, sep)
		repl := "$1"
		if rc.Replacement != nil {
			repl = *rc.Replacement
		}
		switch strings.ToLower(orDefault(rc.Action, "replace")) {
		case "replace":
			m := re.FindStringSubmatchIndex(val)
			if m == nil {
				continue
			}
			target := string(re.ExpandString(nil, rc.TargetLabel, val, m))
			if v := string(re.ExpandString(nil, repl, val, m)); v != "" {
				ls[target] = v
			} else {
				delete(ls, target)
			}
		case "keep":
			if !re.MatchString(val) {
				return nil, nil
			}
		case "drop":
			if re.MatchString(val) {
				return nil, nil
			}
		case "labeldrop", "labelkeep":
			keep := strings.EqualFold(rc.Action, "labelkeep")
			for k := range ls {
				if re.MatchString(k) != keep {
					delete(ls, k)
				}
			}
		case "labelmap":
			for _, k := range sortedKeys(ls) {
				if re.MatchString(k) {
					ls[re.ReplaceAllString(k, repl)] = ls[k]
				}
			}
		default:
			return nil, fmt.Errorf("relabeling %d: action %q is not simulated here", i+1, rc.Action)
		}
	}
	if _, ok := ls["instance"]; !ok {
		ls["instance"] = ls["__address__"]
	}
	for k := range ls {
		if strings.HasPrefix(k, "__") {
			delete(ls, k)
		}
	}
	return ls, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
