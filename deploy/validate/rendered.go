// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"path/filepath"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// expect is what one rendering (a kustomization, a `helm template`) must
// show.
type expect struct {
	name, file string
	mode       string // modeDefault or modeNetns
	namespace  string // every object's namespace; "" = none set (the namespace is chosen at apply time)
	image      string // the exporter's image
	priority   string // the DaemonSet's priorityClassName
	dashboards string // "label=value": each dashboard of dashboards/ as a ConfigMap so labelled; "" = none
	same       bool   // the same workload as the repository's kustomization of that mode
}

// parseExpect parses a -rendered flag: FILE,key=value,... (see main).
func parseExpect(v string) (expect, error) {
	parts := strings.Split(v, ",")
	e := expect{file: parts[0], name: filepath.Base(parts[0]), priority: priorityClass}
	fields := map[string]*string{"mode": &e.mode, "namespace": &e.namespace, "image": &e.image,
		"priority": &e.priority, "dashboards": &e.dashboards}
	for _, p := range parts[1:] {
		key, val, _ := strings.Cut(p, "=")
		if key == "same" {
			e.same = true
			continue
		}
		f, ok := fields[key]
		if !ok {
			return e, fmt.Errorf("unknown key %q in %q", key, v)
		}
		*f = val
	}
	if e.mode != modeDefault && e.mode != modeNetns {
		return e, fmt.Errorf("%q: mode must be %s or %s", v, modeDefault, modeNetns)
	}
	if e.dashboards != "" && !strings.Contains(e.dashboards, "=") {
		return e, fmt.Errorf("%q: dashboards wants LABEL=VALUE", v)
	}
	return e, nil
}

// checkRendering checks one rendering; ref, if not nil, is the repository's
// kustomization of the same mode, which it must equal in substance.
func checkRendering(c *checker, opts options, e expect, o *objects, ref *objects) {
	c.scope = e.name
	defer func() { c.scope = "" }()
	if len(o.namespaces) != 0 {
		c.errorf("creates Namespace %q: deleting the manifests would delete everything in it", o.namespaces[0].Name)
	}
	if !o.complete() {
		c.errorf("want one each of DaemonSet, Service, ServiceAccount, ServiceMonitor, PrometheusRule")
		return
	}
	checkNamespaces(c, e.namespace, o)
	if e.mode == modeNetns {
		checkNetnsMode(c, o)
	} else {
		checkDefaultMode(c, o)
	}
	checkWiring(c, o)
	checkServiceMonitor(c, opts.root, o)
	checkPrometheusRule(c, opts.root, o)
	checkFlags(c, o, opts.helpFile)
	ps := &o.daemonSets[0].Spec.Template.Spec
	if ps.PriorityClassName != e.priority {
		c.errorf("DaemonSet priorityClassName is %q, want %q", ps.PriorityClassName, e.priority)
	}
	for _, ctr := range ps.Containers {
		if ctr.Image != e.image {
			c.errorf("DaemonSet image %q is not %q (the image `make image` tags: scripts/image-build.sh tag)", ctr.Image, e.image)
		}
	}
	if e.dashboards != "" {
		checkDashboards(c, opts.root, e.dashboards, o)
	}
	if ref != nil && ref.complete() {
		checkSame(c, o, ref)
	}
}

// complete: one of each object the exporter needs.
func (o *objects) complete() bool {
	return len(o.daemonSets) == 1 && len(o.services) == 1 && len(o.serviceMonitors) == 1 &&
		len(o.prometheusRules) == 1 && len(o.serviceAccounts) == 1
}

// checkNamespaces: every object in the one namespace the rendering was
// made for, or in none when the namespace is left to `kubectl apply -n`.
func checkNamespaces(c *checker, want string, o *objects) {
	inNamespace(c, want, "ServiceAccount", o.serviceAccounts)
	inNamespace(c, want, "DaemonSet", o.daemonSets)
	inNamespace(c, want, "Service", o.services)
	inNamespace(c, want, "ServiceMonitor", o.serviceMonitors)
	inNamespace(c, want, "PrometheusRule", o.prometheusRules)
	inNamespace(c, want, "ConfigMap", o.configMaps)
}

func inNamespace[T any, P interface {
	*T
	metav1.Object
}](c *checker, want, kind string, list []*T) {
	for _, x := range list {
		if ns := P(x).GetNamespace(); ns != want {
			c.errorf("%s %s is in namespace %q, want %q", kind, P(x).GetName(), ns, want)
		}
	}
}
