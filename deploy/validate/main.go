// Command validate checks timewait_exporter's Kubernetes manifests offline.
//
// It decodes every manifest under deploy/kubernetes strictly (unknown or
// duplicate fields are errors) into the real API types: k8s.io/api for core
// objects, the Prometheus Operator's monitoring/v1 types for ServiceMonitor
// and PrometheusRule, kustomize's own type for kustomization.yaml. It then
// renders each kustomization with kustomize's library (what `kubectl apply
// -k` runs), decodes the result again, and checks the least-privilege and
// wiring rules of docs/deploy.md on it. The PrometheusRule must carry exactly
// the groups of deploy/prometheus/rules/timewait.rules.yml (both rendered by
// the mixin in mixin/).
//
//	go run . -root ../..                          # validate
//	go run . -root ../.. -rules-out FILE          # also write the PrometheusRule's groups for promtool
//	go run . -root ../.. -exporter-help FILE      # also check every flag in args against `--help`
//
// It is a separate Go module so that the exporter's own go.mod carries no
// Kubernetes dependencies.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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
	promRule   = "deploy/kubernetes/base/prometheusrule.yaml"
	port       = 9966
	portName   = "http-metrics"
	procMount  = "/host/proc"
)

// objects is one rendered (or one file's) set of decoded manifests.
type objects struct {
	namespaces      []*corev1.Namespace
	serviceAccounts []*corev1.ServiceAccount
	daemonSets      []*appsv1.DaemonSet
	services        []*corev1.Service
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
}

type checker struct{ errs []string }

func (c *checker) errorf(format string, a ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, a...))
}

func main() {
	root := flag.String("root", "../..", "repository root")
	rulesOut := flag.String("rules-out", "", "write the PrometheusRule's spec (a Prometheus rule file) here, for promtool check rules")
	helpFile := flag.String("exporter-help", "", "output of `timewait_exporter --help`; every --flag in the DaemonSet args must appear in it")
	flag.Parse()

	c := &checker{}
	n := run(c, *root, *rulesOut, *helpFile)
	if len(c.errs) > 0 {
		for _, e := range c.errs {
			fmt.Fprintln(os.Stderr, "FAIL:", e)
		}
		fmt.Fprintf(os.Stderr, "validate: %d problem(s)\n", len(c.errs))
		os.Exit(1)
	}
	fmt.Printf("validate: %d documents decoded strictly, 2 kustomizations rendered and checked: ok\n", n)
}

func run(c *checker, root, rulesOut, helpFile string) int {
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
	docs := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			c.errorf("%v", err)
			continue
		}
		if filepath.Base(f) == "kustomization.yaml" {
			var k kusttypes.Kustomization
			if err := yaml.UnmarshalStrict(data, &k); err != nil {
				c.errorf("%s: not a valid Kustomization: %v", rel(root, f), err)
			}
			docs++
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
	base := render(c, root, filepath.Join(k8sDir, "base"))
	overlay := render(c, root, filepath.Join(k8sDir, "netns-discovery"))
	if base != nil {
		checkDefaultMode(c, base)
		checkWiring(c, root, base)
		checkPrometheusRule(c, root, base, rulesOut)
		checkFlags(c, base, helpFile)
	}
	if overlay != nil {
		checkNetnsMode(c, overlay)
		checkWiring(c, root, overlay)
		checkFlags(c, overlay, helpFile)
	}
	return docs
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

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
			v := &corev1.Namespace{}
			o.namespaces, target = append(o.namespaces, v), v
		case "v1 ServiceAccount":
			v := &corev1.ServiceAccount{}
			o.serviceAccounts, target = append(o.serviceAccounts, v), v
		case "apps/v1 DaemonSet":
			v := &appsv1.DaemonSet{}
			o.daemonSets, target = append(o.daemonSets, v), v
		case "v1 Service":
			v := &corev1.Service{}
			o.services, target = append(o.services, v), v
		case "monitoring.coreos.com/v1 ServiceMonitor":
			v := &monitoringv1.ServiceMonitor{}
			o.serviceMonitors, target = append(o.serviceMonitors, v), v
		case "monitoring.coreos.com/v1 PrometheusRule":
			v := &monitoringv1.PrometheusRule{}
			o.prometheusRules, target = append(o.prometheusRules, v), v
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
	if len(o.daemonSets) != 1 || len(o.services) != 1 || len(o.serviceMonitors) != 1 || len(o.prometheusRules) != 1 || len(o.serviceAccounts) != 1 {
		c.errorf("kustomize build %s: want one each of DaemonSet, Service, ServiceAccount, ServiceMonitor, PrometheusRule", dir)
		return nil
	}
	return o
}

// exporterContainer returns the DaemonSet's exporter container.
func exporterContainer(c *checker, ds *appsv1.DaemonSet) *corev1.Container {
	cs := ds.Spec.Template.Spec.Containers
	if len(cs) != 1 || len(ds.Spec.Template.Spec.InitContainers) != 0 {
		c.errorf("DaemonSet %s: want exactly one container and no init containers", ds.Name)
		return nil
	}
	return &cs[0]
}

// checkCommon holds for both modes.
func checkCommon(c *checker, o *objects, mode string) (*appsv1.DaemonSet, *corev1.Container) {
	ds := o.daemonSets[0]
	ps := &ds.Spec.Template.Spec
	ctr := exporterContainer(c, ds)
	if ctr == nil {
		return ds, nil
	}
	sc := ctr.SecurityContext
	errf := func(f string, a ...any) { c.errorf("[%s] DaemonSet: "+f, append([]any{mode}, a...)...) }

	if !ps.HostNetwork {
		errf("hostNetwork must be true (the node's sockets live in the node's network namespace)")
	}
	if ps.HostIPC {
		errf("hostIPC must be false")
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		errf("automountServiceAccountToken must be false (no API access needed)")
	}
	if ps.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		errf("dnsPolicy should be ClusterFirstWithHostNet with hostNetwork")
	}
	if len(ps.Tolerations) == 0 {
		errf("tolerations missing: a node-level exporter must run on tainted nodes too")
	}
	if ps.SecurityContext == nil || ps.SecurityContext.SeccompProfile == nil || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errf("pod seccompProfile must be RuntimeDefault")
	}
	if sc == nil {
		errf("container securityContext missing")
		return ds, ctr
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		errf("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		errf("readOnlyRootFilesystem must be true")
	}
	if sc.Privileged != nil && *sc.Privileged {
		errf("privileged must not be set")
	}
	if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		errf("capabilities.drop must be [ALL]")
	}
	// Requests and limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := ctr.Resources.Requests[r]; !ok {
			errf("resources.requests.%s missing", r)
		}
		if _, ok := ctr.Resources.Limits[r]; !ok {
			errf("resources.limits.%s missing", r)
		}
	}
	// Port and probes.
	okPort := false
	for _, p := range ctr.Ports {
		if p.Name == portName && p.ContainerPort == port && p.HostPort == port && p.Protocol == corev1.ProtocolTCP {
			okPort = true
		}
	}
	if !okPort {
		errf("want port %s %d/TCP (hostPort = containerPort with hostNetwork)", portName, port)
	}
	for name, pr := range map[string]*corev1.Probe{"livenessProbe": ctr.LivenessProbe, "readinessProbe": ctr.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/-/healthy" || pr.HTTPGet.Port.String() != portName {
			errf("%s must be httpGet /-/healthy on port %s", name, portName)
		}
	}
	if !hasArg(ctr.Args, "--web.listen-address=:9966") {
		errf("args must listen on :%d", port)
	}
	if len(ctr.Command) != 0 {
		errf("command must not be set: the image's ENTRYPOINT is the exporter")
	}
	// Host /proc, read-only, passed as --path.procfs.
	if !hasArg(ctr.Args, "--path.procfs="+procMount) {
		errf("args must pass --path.procfs=%s", procMount)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
	}
	procOK := false
	for _, m := range ctr.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			errf("volumeMount %s has no volume", m.Name)
			continue
		}
		if v.HostPath != nil && !m.ReadOnly {
			errf("hostPath %s must be mounted readOnly", v.HostPath.Path)
		}
		if v.HostPath != nil && v.HostPath.Path == "/proc" && m.MountPath == procMount {
			procOK = true
		}
	}
	if !procOK {
		errf("host /proc must be mounted at %s", procMount)
	}
	// Selector must select the template.
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			errf("selector %s=%s does not match the pod template labels", k, v)
		}
	}
	return ds, ctr
}

func hasArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

// checkDefaultMode: no privilege at all.
func checkDefaultMode(c *checker, o *objects) {
	ds, ctr := checkCommon(c, o, "default")
	ps := &ds.Spec.Template.Spec
	errf := func(f string, a ...any) { c.errorf("[default] DaemonSet: "+f, a...) }
	if ps.HostPID {
		errf("hostPID must be false in the default mode")
	}
	if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot ||
		ps.SecurityContext.RunAsUser == nil || *ps.SecurityContext.RunAsUser == 0 {
		errf("pod must run as a non-root uid with runAsNonRoot: true")
	}
	if ctr == nil || ctr.SecurityContext == nil {
		return
	}
	if ctr.SecurityContext.RunAsNonRoot == nil || !*ctr.SecurityContext.RunAsNonRoot {
		errf("container runAsNonRoot must be true")
	}
	if ctr.SecurityContext.Capabilities != nil && len(ctr.SecurityContext.Capabilities.Add) != 0 {
		errf("the default mode needs no capabilities, got add %v", ctr.SecurityContext.Capabilities.Add)
	}
	if hasArg(ctr.Args, "--netns.discover") {
		errf("--netns.discover belongs to the netns-discovery variant only")
	}
	if len(ps.Volumes) != 1 {
		errf("the default mode mounts only host /proc, got %d volumes", len(ps.Volumes))
	}
}

// checkNetnsMode: exactly the extra privilege namespace discovery needs.
func checkNetnsMode(c *checker, o *objects) {
	ds, ctr := checkCommon(c, o, "netns")
	ps := &ds.Spec.Template.Spec
	errf := func(f string, a ...any) { c.errorf("[netns] DaemonSet: "+f, a...) }
	if !ps.HostPID {
		errf("hostPID must be true to see other processes' /proc/<pid>/ns/net")
	}
	if ctr == nil || ctr.SecurityContext == nil || ctr.SecurityContext.Capabilities == nil {
		return
	}
	add := append([]corev1.Capability(nil), ctr.SecurityContext.Capabilities.Add...)
	sort.Slice(add, func(i, j int) bool { return add[i] < add[j] })
	if !reflect.DeepEqual(add, []corev1.Capability{"SYS_ADMIN", "SYS_PTRACE"}) {
		errf("capabilities.add must be exactly [SYS_ADMIN SYS_PTRACE], got %v", add)
	}
	if !hasArg(ctr.Args, "--netns.discover") {
		errf("args must include --netns.discover")
	}
	found := false
	for _, m := range ctr.VolumeMounts {
		if m.MountPath == "/run/netns" && m.ReadOnly {
			found = true
		}
	}
	if !found {
		errf("/run/netns must be mounted read-only")
	}
}

// checkWiring: Service selects the pods, ServiceMonitor selects the Service
// and its port, and the job label matches the alert rules' selector.
func checkWiring(c *checker, root string, o *objects) {
	ds, svc, sm := o.daemonSets[0], o.services[0], o.serviceMonitors[0]
	pod := ds.Spec.Template.Labels
	if len(svc.Spec.Selector) == 0 {
		c.errorf("Service has no selector")
	}
	for k, v := range svc.Spec.Selector {
		if pod[k] != v {
			c.errorf("Service selector %s=%s does not match the DaemonSet's pods", k, v)
		}
	}
	if ds.Spec.Template.Spec.ServiceAccountName != o.serviceAccounts[0].Name {
		c.errorf("DaemonSet serviceAccountName %q is not the ServiceAccount %q", ds.Spec.Template.Spec.ServiceAccountName, o.serviceAccounts[0].Name)
	}
	// The image tag follows the release version (VERSION), so a release
	// bump cannot leave the manifests on the old image.
	if v, err := os.ReadFile(filepath.Join(root, "VERSION")); err == nil {
		want := ":v" + strings.TrimSpace(string(v))
		if img := ds.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, want) {
			c.errorf("DaemonSet image %q is not tagged %s (VERSION); update deploy/kubernetes/base/kustomization.yaml and daemonset.yaml", img, want)
		}
	}
	svcPort := false
	for _, p := range svc.Spec.Ports {
		if p.Name == portName && p.Port == port && p.TargetPort.String() == portName {
			svcPort = true
		}
	}
	if !svcPort {
		c.errorf("Service must expose %s %d -> %s", portName, port, portName)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			c.errorf("ServiceMonitor selector %s=%s does not match the Service's labels", k, v)
		}
	}
	if len(sm.Spec.NamespaceSelector.MatchNames) > 0 && !contains(sm.Spec.NamespaceSelector.MatchNames, svc.Namespace) {
		c.errorf("ServiceMonitor namespaceSelector %v does not include the Service's namespace %q", sm.Spec.NamespaceSelector.MatchNames, svc.Namespace)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != portName {
		c.errorf("ServiceMonitor must have one endpoint on port %s", portName)
		return
	}
	job := ""
	for _, r := range sm.Spec.Endpoints[0].RelabelConfigs {
		if r.TargetLabel == "job" && r.Replacement != nil {
			job = *r.Replacement
		}
	}
	want, err := ruleJob(root)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	if job != want {
		c.errorf("ServiceMonitor sets job=%q but the alert rules select job=%q (%s)", job, want, rulesFile)
	}
	// The plain-Prometheus example must use the same job name.
	if data, err := os.ReadFile(filepath.Join(root, promConfig)); err != nil {
		c.errorf("%v", err)
	} else {
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
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

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

func checkPrometheusRule(c *checker, root string, o *objects, rulesOut string) {
	want, _, err := rulesSpec(root)
	if err != nil {
		c.errorf("%v", err)
		return
	}
	got := o.prometheusRules[0]
	if !reflect.DeepEqual(&got.Spec, want) {
		c.errorf("%s does not carry the groups of %s: run `make mixin`", promRule, rulesFile)
	}
	if got.Labels["app.kubernetes.io/name"] != "timewait-exporter" {
		c.errorf("PrometheusRule must be labelled app.kubernetes.io/name=timewait-exporter")
	}
	if rulesOut != "" {
		out, err := yaml.Marshal(got.Spec)
		if err == nil {
			err = os.WriteFile(rulesOut, out, 0o644)
		}
		if err != nil {
			c.errorf("write %s: %v", rulesOut, err)
		}
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
	ctr := o.daemonSets[0].Spec.Template.Spec.Containers[0]
	for _, a := range ctr.Args {
		name := strings.TrimPrefix(strings.SplitN(a, "=", 2)[0], "--")
		if !known[name] && !(strings.HasPrefix(name, "no-") && known[strings.TrimPrefix(name, "no-")]) {
			c.errorf("DaemonSet arg %q: the exporter has no flag --%s", a, name)
		}
	}
}
