// SPDX-License-Identifier: Apache-2.0

// Command validate checks timewait_exporter's Kubernetes manifests and Helm
// chart offline.
//
// It decodes every manifest under deploy/kubernetes strictly (unknown or
// duplicate fields are errors) into the real API types: k8s.io/api for core
// objects, the Prometheus Operator's monitoring/v1 types for ServiceMonitor
// and PrometheusRule, kustomize's own type for kustomization.yaml. It then
// renders each kustomization with kustomize's library (what `kubectl apply
// -k` runs), decodes the result again, and checks the least-privilege and
// wiring rules of docs/deploy.md on it. The PrometheusRule must carry exactly
// the groups of deploy/prometheus/rules/timewait.rules.yml (both rendered by
// the mixin in mixin/). Renderings made elsewhere (`kustomize build`, `helm
// template`) are checked the same way with -rendered.
//
//	go run . -root ../..                          # validate
//	go run . -root ../.. -rules-out FILE          # also write the PrometheusRule's groups for promtool
//	go run . -root ../.. -exporter-help FILE      # also check every flag in args against `--help`
//	go run . -root ../.. -rendered 'FILE,mode=netns,namespace=other,same,dashboards=grafana_dashboard=1'
//
// It is a separate Go module so that the exporter's own go.mod carries no
// Kubernetes dependencies.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	k8sDir     = "deploy/kubernetes"
	rulesFile  = "deploy/prometheus/rules/timewait.rules.yml"
	promConfig = "deploy/prometheus/prometheus.yml"
	port       = 9966
	portName   = "http-metrics"
	procMount  = "/host/proc"
	// priorityClass: node-level agents' class (kube-proxy, CNI node
	// plugins): the kubelet evicts such pods last under node pressure,
	// when the exporter is needed most (deploy/kubernetes/base/daemonset.yaml).
	priorityClass = "system-node-critical"
	modeDefault   = "default"
	modeNetns     = "netns"
)

// objects is one rendered (or one file's) set of decoded manifests.
type objects struct {
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	daemonSets      []*appsv1.DaemonSet
	services        []*corev1.Service
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
	configMaps      []*corev1.ConfigMap
}

type checker struct {
	errs  []string
	scope string // the rendering being checked, prefixed to its problems
}

func (c *checker) errorf(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if c.scope != "" {
		msg = c.scope + ": " + msg
	}
	c.errs = append(c.errs, msg)
}

// options are the command's flags.
type options struct {
	root, rulesOut, helpFile string
	image                    string   // the image every DaemonSet must run; "" = `scripts/image-build.sh tag`
	rendered                 []expect // renderings made by other tools
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", "../..", "repository root")
	flag.StringVar(&o.rulesOut, "rules-out", "", "write the PrometheusRule's spec (a Prometheus rule file) here, for promtool check rules")
	flag.StringVar(&o.helpFile, "exporter-help", "", "output of `timewait_exporter --help`; every --flag in the DaemonSet args must appear in it")
	flag.StringVar(&o.image, "image", "", "the image the DaemonSets must run (default: what `scripts/image-build.sh tag` prints, as `make image` tags it)")
	flag.Func("rendered", "FILE,mode=default|netns[,namespace=NS][,same][,dashboards=LABEL=VALUE][,image=REF][,priority=CLASS]: "+
		"check a rendering made elsewhere (kustomize build, helm template); repeatable", func(v string) error {
		e, err := parseExpect(v)
		o.rendered = append(o.rendered, e)
		return err
	})
	flag.Parse()

	c := &checker{}
	n := run(c, o)
	if len(c.errs) > 0 {
		for _, e := range c.errs {
			fmt.Fprintln(os.Stderr, "FAIL:", e)
		}
		fmt.Fprintf(os.Stderr, "validate: %d problem(s)\n", len(c.errs))
		os.Exit(1)
	}
	fmt.Printf("validate: %d documents decoded strictly, 2 kustomizations and %d other renderings checked: ok\n", n, len(o.rendered))
}

func run(c *checker, o options) int {
	root := o.root
	// 1. Every file on its own, strictly.
	var files []string
	err := filepath.WalkDir(filepath.Join(root, k8sDir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		c.errorf("walk %s: %v", k8sDir, err)
		return 0
	}
	sort.Strings(files)
	generated := generatorFiles(c, root, files)
	docs := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			docs++ // decoded strictly by generatorFiles
			continue
		}
		if generated[f] {
			continue // a ConfigMap's content, checked on the rendered ConfigMap
		}
		data, err := os.ReadFile(f)
		if err != nil {
			c.errorf("%v", err)
			continue
		}
		// A strategic-merge patch (netns-discovery/) is a partial object:
		// it is decoded strictly too, so it must use real field names.
		_, n, err := decodeAll(data)
		docs += n
		if err != nil {
			c.errorf("%s: %v", rel(root, f), err)
		}
	}

	// 2. Render each kustomization as `kubectl apply -k` would, and check the result.
	image := o.image
	if image == "" {
		image = imageTag(c, root)
	}
	base := render(c, root, filepath.Join(k8sDir, "base"))
	overlay := render(c, root, filepath.Join(k8sDir, "netns-discovery"))
	refs := map[string]*objects{modeDefault: base, modeNetns: overlay}
	for _, e := range []expect{
		{name: "kustomize build " + k8sDir + "/base", mode: modeDefault},
		{name: "kustomize build " + k8sDir + "/netns-discovery", mode: modeNetns},
	} {
		e.image, e.priority = image, priorityClass
		if refs[e.mode] != nil {
			checkRendering(c, o, e, refs[e.mode], nil)
		}
	}
	if base != nil && base.complete() && o.rulesOut != "" {
		writeRules(c, base, o.rulesOut)
	}

	// 3. Renderings made by other tools.
	for _, e := range o.rendered {
		if e.image == "" {
			e.image = image
		}
		data, err := os.ReadFile(e.file)
		if err != nil {
			c.errorf("%v", err)
			continue
		}
		got, _, err := decodeAll(data)
		if err != nil {
			c.errorf("%s: %v", e.name, err)
			continue
		}
		var ref *objects
		if e.same {
			ref = refs[e.mode]
		}
		checkRendering(c, o, e, got, ref)
	}
	return docs
}

// imageTag is the image `make image` builds: `scripts/image-build.sh tag`.
func imageTag(c *checker, root string) string {
	out, err := exec.Command("bash", filepath.Join(root, "scripts/image-build.sh"), "tag").Output()
	if err != nil {
		c.errorf("scripts/image-build.sh tag: %v", err)
		return ""
	}
	return strings.TrimSpace(string(out))
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// generatorFiles decodes every kustomization.yaml strictly and returns the
// files its configMapGenerators read (a ConfigMap's content, not a
// manifest).
func generatorFiles(c *checker, root string, files []string) map[string]bool {
	generated := map[string]bool{}
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			c.errorf("%v", err)
			continue
		}
		var k kusttypes.Kustomization
		if err := yaml.UnmarshalStrict(data, &k); err != nil {
			c.errorf("%s: not a valid Kustomization: %v", rel(root, f), err)
			continue
		}
		for _, g := range k.ConfigMapGenerator {
			for _, src := range g.FileSources {
				_, file, _ := strings.Cut(src, "=") // "key=file" or "file"
				if file == "" {
					file = src
				}
				generated[filepath.Join(filepath.Dir(f), file)] = true
			}
		}
	}
	return generated
}

// decodeAll decodes a multi-document YAML stream strictly into API types.
func decodeAll(data []byte) (*objects, int, error) {
	o := &objects{}
	n := 0
	for i, doc := range docSep.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		n++
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return o, n, fmt.Errorf("document %d: %w", i+1, err)
		}
		var target any
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 Namespace":
			target = appendNew(&o.namespaces)
		case "v1 ServiceAccount":
			target = appendNew(&o.serviceAccounts)
		case "apps/v1 DaemonSet":
			target = appendNew(&o.daemonSets)
		case "v1 Service":
			target = appendNew(&o.services)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			target = appendNew(&o.serviceMonitors)
		case "monitoring.coreos.com/v1 PrometheusRule":
			target = appendNew(&o.prometheusRules)
		case "v1 ConfigMap":
			target = appendNew(&o.configMaps)
		default:
			return o, n, fmt.Errorf("document %d: unexpected apiVersion/kind %q %q", i+1, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), target); err != nil {
			return o, n, fmt.Errorf("document %d (%s): %w", i+1, meta.Kind, err)
		}
	}
	return o, n, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func render(c *checker, root, dir string) *objects {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, dir))
	if err != nil {
		c.errorf("kustomize build %s: %v", dir, err)
		return nil
	}
	out, err := m.AsYaml()
	if err != nil {
		c.errorf("kustomize build %s: %v", dir, err)
		return nil
	}
	o, _, err := decodeAll(out)
	if err != nil {
		c.errorf("kustomize build %s output: %v", dir, err)
		return nil
	}
	return o
}

// appendNew appends a new zero T to list and returns it, for the decoder to
// fill.
func appendNew[T any](list *[]*T) any {
	v := new(T)
	*list = append(*list, v)
	return v
}
