// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The Helm chart against its sources: the dashboards the mixin renders,
// and the workload of the kustomizations.

const dashboardsDir = "dashboards"

// checkDashboards: each dashboards/*.json in exactly one ConfigMap labelled
// for the Grafana sidecar (label=value), with the same JSON.
func checkDashboards(c *checker, root, label string, o *objects) {
	key, value, _ := strings.Cut(label, "=")
	files, err := filepath.Glob(filepath.Join(root, dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		c.errorf("no dashboards in %s (%v)", dashboardsDir, err)
		return
	}
	for _, f := range files {
		name := filepath.Base(f)
		var found []*corev1.ConfigMap
		for _, cm := range o.configMaps {
			if _, ok := cm.Data[name]; ok {
				found = append(found, cm)
			}
		}
		if len(found) != 1 {
			c.errorf("dashboard %s is in %d ConfigMaps, want 1", name, len(found))
			continue
		}
		cm := found[0]
		if cm.Labels[key] != value {
			c.errorf("ConfigMap %s (dashboard %s) is not labelled %s=%q for the Grafana sidecar", cm.Name, name, key, value)
		}
		if !sameJSON(c, f, cm.Data[name]) {
			c.errorf("ConfigMap %s: dashboard %s differs from %s/%s: run `make mixin`", cm.Name, name, dashboardsDir, name)
		}
	}
}

func sameJSON(c *checker, file, got string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		c.errorf("%v", err)
		return false
	}
	var a, b any
	if err := json.Unmarshal(data, &a); err != nil {
		c.errorf("%s: %v", file, err)
		return false
	}
	if err := json.Unmarshal([]byte(got), &b); err != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// checkSame: the rendering runs the same workload as the repository's
// kustomization of its mode (ref): pod template (annotations and spec),
// update strategy, Service ports, scrape endpoint, rules and the exporter's
// configuration. Names and labels may differ (a Helm release adds its
// own); so may the ConfigMap's name (kustomize appends a content hash).
func checkSame(c *checker, o, ref *objects) {
	ds, rds := o.daemonSets[0], ref.daemonSets[0]
	same := func(what string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			ya, _ := yaml.Marshal(a)
			yb, _ := yaml.Marshal(b)
			c.errorf("%s differs from the kustomization's; lines only here (+) and only there (-):\n%s", what, lineDiff(string(ya), string(yb)))
		}
	}
	same("DaemonSet pod spec", podSpec(ds), podSpec(rds))
	same("DaemonSet pod annotations", ds.Spec.Template.Annotations, rds.Spec.Template.Annotations)
	same("DaemonSet updateStrategy", ds.Spec.UpdateStrategy, rds.Spec.UpdateStrategy)
	same("Service ports", o.services[0].Spec.Ports, ref.services[0].Spec.Ports)
	same("Service clusterIP", o.services[0].Spec.ClusterIP, ref.services[0].Spec.ClusterIP)
	same("ServiceMonitor endpoints", o.serviceMonitors[0].Spec.Endpoints, ref.serviceMonitors[0].Spec.Endpoints)
	same("PrometheusRule spec", o.prometheusRules[0].Spec, ref.prometheusRules[0].Spec)
	same("exporter configuration", configs(c, o), configs(c, ref))
}

// podSpec is the pod spec without the names that differ by tool (the
// ServiceAccount's and the ConfigMaps'), volumes and mounts in one order
// (a kustomize patch puts its own first).
func podSpec(ds *appsv1.DaemonSet) corev1.PodSpec {
	ps := *ds.Spec.Template.Spec.DeepCopy()
	ps.ServiceAccountName = ""
	for i := range ps.Volumes {
		if cm := ps.Volumes[i].ConfigMap; cm != nil {
			cm.Name = ""
		}
	}
	slices.SortFunc(ps.Volumes, func(a, b corev1.Volume) int { return strings.Compare(a.Name, b.Name) })
	for i := range ps.Containers {
		slices.SortFunc(ps.Containers[i].VolumeMounts, func(a, b corev1.VolumeMount) int { return strings.Compare(a.MountPath, b.MountPath) })
	}
	return ps
}

// configs is the parsed content of every ConfigMap the DaemonSet mounts.
func configs(c *checker, o *objects) map[string]any {
	out := map[string]any{}
	for _, v := range o.daemonSets[0].Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, cm := range o.configMaps {
			if cm.Name != v.ConfigMap.Name {
				continue
			}
			for k, text := range cm.Data {
				var parsed any
				if err := yaml.Unmarshal([]byte(text), &parsed); err != nil {
					c.errorf("ConfigMap %s key %s: %v", cm.Name, k, err)
				}
				out[v.Name+"/"+k] = parsed
			}
		}
	}
	return out
}

// lineDiff lists the YAML lines only in a (+) and only in b (-): enough to
// point at a field that differs.
func lineDiff(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out strings.Builder
	for _, x := range []struct {
		sign       string
		text       string
		mine, them map[string]int
	}{{"+", a, ca, cb}, {"-", b, cb, ca}} {
		for _, l := range strings.Split(x.text, "\n") {
			if x.mine[l] > x.them[l] {
				x.mine[l]--
				fmt.Fprintf(&out, "%s %s\n", x.sign, l)
			}
		}
	}
	return out.String()
}
