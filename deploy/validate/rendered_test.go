// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

func TestParseExpect(t *testing.T) {
	e, err := parseExpect("out/h.yaml,mode=netns,namespace=other,same,dashboards=grafana_dashboard=1,image=r/i:1,priority=p")
	want := expect{name: "h.yaml", file: "out/h.yaml", mode: modeNetns, namespace: "other", same: true,
		dashboards: "grafana_dashboard=1", image: "r/i:1", priority: "p"}
	if err != nil || e != want {
		t.Fatalf("got %+v, %v; want %+v", e, err, want)
	}
	for _, bad := range []string{"f.yaml", "f.yaml,mode=all", "f.yaml,mode=netns,colour=red", "f.yaml,mode=netns,dashboards=grafana"} {
		if _, err := parseExpect(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// kustomized is the repository's kustomization dir as `kustomize build`
// writes it.
func kustomized(t *testing.T, dir string) string {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("../..", dir))
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// dashboardMaps is every dashboard of dashboards/ as a ConfigMap labelled
// grafana_dashboard=1, as the Helm chart renders them.
func dashboardMaps(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../../dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cm := corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: "dash-" + filepath.Base(f), Labels: map[string]string{"grafana_dashboard": "1"}},
			Data:       map[string]string{filepath.Base(f): string(data)},
		}
		y, err := yaml.Marshal(cm)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

// A rendering made elsewhere passes when it is the kustomization plus the
// dashboards, and each difference is caught.
func TestRenderedChecks(t *testing.T) {
	base := kustomized(t, k8sDir+"/base") + dashboardMaps(t)
	overlay := kustomized(t, k8sDir+"/netns-discovery") + dashboardMaps(t)
	const opts = ",same,dashboards=grafana_dashboard=1"
	cases := []struct {
		name, text, flags, old, new, want string
	}{
		{"base as is", base, "mode=default" + opts, "", "", ""},
		{"overlay as is", overlay, "mode=netns" + opts, "", "", ""},
		{"overlay as the base", overlay, "mode=default" + opts, "", "", "hostPID must be false"},
		{"resources differ", base, "mode=default" + opts, "cpu: 500m", "cpu: 600m", "DaemonSet pod spec differs from the kustomization's; lines only here (+) and only there (-):\n+       cpu: 600m\n-       cpu: 500m"},
		{"config differs", overlay, "mode=netns" + opts, "      dump: busy", "      dump: busy\n      max_namespaces: 7", "exporter configuration differs"},
		{"rules differ", base, "mode=default" + opts, "for: 10m", "for: 11m", "does not carry the groups"},
		{"scrape differs", base, "mode=default" + opts, "interval: 30s", "interval: 15s", "ServiceMonitor endpoints differ"},
		{"dashboard differs", base, "mode=default" + opts, `"title": "`, `"title": "x`, "differs from dashboards/"},
		{"dashboard unlabelled", base, "mode=default" + opts, "grafana_dashboard: \"1\"", "grafana_dashboard: \"0\"", `is not labelled grafana_dashboard="1"`},
		{"no dashboards", kustomized(t, k8sDir+"/base"), "mode=default" + opts, "", "", "is in 0 ConfigMaps, want 1"},
		{"other namespace expected", base, "mode=default,namespace=other", "", "", `Service timewait-exporter is in namespace "", want "other"`},
		{"another image expected", base, "mode=default,image=r/timewait-exporter:9", "", "", `is not "r/timewait-exporter:9"`},
		{"another priority expected", base, "mode=default,priority=high", "", "", `priorityClassName is "system-node-critical", want "high"`},
		{"Namespace object", base, "mode=default", "---\n", "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n---\n", `creates Namespace "monitoring"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if tc.old != "" {
				if !strings.Contains(text, tc.old) {
					t.Fatalf("rendering has no %q", tc.old)
				}
				text = strings.Replace(text, tc.old, tc.new, 1)
			}
			file := filepath.Join(t.TempDir(), "r.yaml")
			if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := parseExpect(file + "," + tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			c := &checker{}
			run(c, options{root: "../..", rendered: []expect{e}})
			all := strings.Join(c.errs, "\n")
			if tc.want == "" && all != "" || !strings.Contains(all, tc.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", tc.want, all)
			}
		})
	}
}
