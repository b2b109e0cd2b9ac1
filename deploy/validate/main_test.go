// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies the parts of the repository the validator reads.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, dir := range []string{"VERSION", "scripts/image-build.sh", "dashboards", "deploy/kubernetes", "deploy/prometheus"} {
		src := filepath.Join("..", "..", dir)
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			r, _ := filepath.Rel(src, p)
			out := filepath.Join(dst, dir, r)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if d.IsDir() {
				return os.MkdirAll(out, 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func edit(t *testing.T, root, file, old, new string) {
	t.Helper()
	p := filepath.Join(root, file)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRepositoryManifestsPass(t *testing.T) {
	c := &checker{}
	if n := run(c, options{root: "../.."}); n == 0 {
		t.Fatal("no documents decoded")
	}
	if len(c.errs) != 0 {
		t.Fatalf("unexpected problems:\n%s", strings.Join(c.errs, "\n"))
	}
}

// Each broken manifest must be caught, with a message naming the problem.
func TestBrokenManifestsFail(t *testing.T) {
	const (
		ds      = "deploy/kubernetes/base/daemonset.yaml"
		kust    = "deploy/kubernetes/base/kustomization.yaml"
		sm      = "deploy/kubernetes/base/servicemonitor.yaml"
		overlay = "deploy/kubernetes/netns-discovery/daemonset-netns.yaml"
	)
	version, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	tag := "newTag: " + strings.TrimSpace(string(version))
	cases := []struct {
		name, file, old, new, want string
	}{
		{"misspelt field", ds, "readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true", `unknown field "readOnlyRootFilesytem"`},
		{"wrong type", ds, "containerPort: 9966", "containerPort: http", "cannot unmarshal"},
		{"no hostNetwork", ds, "hostNetwork: true", "hostNetwork: false", "hostNetwork must be true"},
		{"writable root fs", ds, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem must be true"},
		{"capability in default mode", ds, "              drop:\n                - ALL", "              drop:\n                - ALL\n              add:\n                - NET_ADMIN", "needs no capabilities"},
		{"root in default mode", ds, "runAsUser: 65534", "runAsUser: 0", "non-root uid"},
		{"escalation", ds, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation must be false"},
		{"writable /proc", ds, "              readOnly: true\n              mountPropagation", "              readOnly: false\n              mountPropagation", "must be mounted readOnly"},
		{"no procfs flag", ds, "- --path.procfs=/host/proc", "- --log.level=info", "--path.procfs=/host/proc"},
		{"probe path", ds, "path: /-/healthy\n              port: http-metrics\n            initialDelaySeconds", "path: /metrics\n              port: http-metrics\n            initialDelaySeconds", "livenessProbe must be httpGet /-/healthy"},
		{"no limits", ds, "            limits:\n              cpu: 500m\n", "            limits:\n", "resources.limits.cpu missing"},
		{"service selector", "deploy/kubernetes/base/service.yaml", "  selector:\n    app.kubernetes.io/name: timewait-exporter", "  selector:\n    app.kubernetes.io/name: other", "Service selector"},
		{"servicemonitor port", sm, "- port: http-metrics", "- port: metrics", "one endpoint on port"},
		{"job label", sm, "replacement: timewait", "replacement: timewait-exporter", `the alert rules select job="timewait"`},
		{"job label dropped", sm, "regex: namespace|pod|container|endpoint", "regex: namespace|pod|container|endpoint|job", `sets job="" but the alert rules select job="timewait"`},
		{"exporter namespace kept", sm, "regex: namespace|pod|container|endpoint", "regex: pod|container|endpoint", `keeps the exporter's own namespace="exporter-ns"`},
		{"exporter pod kept", sm, "regex: namespace|pod|container|endpoint", "regex: namespace|container|endpoint", `keeps the exporter's own pod="timewait-exporter-x7k2p"`},
		{"instance not the node", sm, "- __meta_kubernetes_pod_node_name", "- __meta_kubernetes_pod_name", "instance to the node name"},
		{"unsimulated action", sm, "- action: labeldrop", "- action: hashmod", `action "hashmod" is not simulated`},
		{"foreign namespaceSelector", sm, "spec:\n  selector:", "spec:\n  namespaceSelector:\n    matchNames:\n      - monitoring\n  selector:", "namespaceSelector"},
		{"every namespace selected", sm, "spec:\n  selector:", "spec:\n  namespaceSelector:\n    any: true\n  selector:", "namespaceSelector"},
		{"namespace set", kust, "kind: Kustomization\n", "kind: Kustomization\nnamespace: monitoring\n", `DaemonSet timewait-exporter is in namespace "monitoring", want ""`},
		{"owns a Namespace", "deploy/kubernetes/base/serviceaccount.yaml", "automountServiceAccountToken: false", "automountServiceAccountToken: false\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring", `creates Namespace "monitoring"`},
		{"no priority class", ds, "      priorityClassName: system-node-critical\n", "", `priorityClassName is "", want "system-node-critical"`},
		{"default mode unconfined", ds, "  template:\n    metadata:\n", "  template:\n    metadata:\n      annotations:\n        container.apparmor.security.beta.kubernetes.io/timewait-exporter: unconfined\n", "[default] DaemonSet: the default mode needs no exemption"},
		{"netns without AppArmor field", overlay, "            appArmorProfile:\n              type: Unconfined\n", "", "appArmorProfile must be {type: Unconfined}"},
		{"netns AppArmor RuntimeDefault", overlay, "type: Unconfined", "type: RuntimeDefault", "appArmorProfile must be {type: Unconfined}"},
		{"netns without AppArmor annotation", overlay, "container.apparmor.security.beta.kubernetes.io/timewait-exporter: unconfined", "container.apparmor.security.beta.kubernetes.io/other: unconfined", "timewait-exporter: unconfined missing"},
		{"prometheus.yml job", "deploy/prometheus/prometheus.yml", "job_name: timewait", "job_name: tw", `no scrape job named "timewait"`},
		{"rules out of sync", "deploy/prometheus/rules/timewait.rules.yml", "for: 10m", "for: 11m", "does not carry the groups"},
		{"image tag with a v", kust, tag, "newTag: v" + strings.TrimSpace(string(version)), "is not \"ghcr.io/timewait-exporter/timewait-exporter:" + strings.TrimSpace(string(version)) + "\""},
		{"image tag behind VERSION", "VERSION", strings.TrimSpace(string(version)), "9.9.9", "is not \"ghcr.io/timewait-exporter/timewait-exporter:9.9.9\""},
		{"make image repository", "scripts/image-build.sh", "IMAGE=${IMAGE:-ghcr.io/timewait-exporter/timewait-exporter}", "IMAGE=${IMAGE:-quay.io/tw/tw}", "is not \"quay.io/tw/tw:"},
		{"unknown kind", "deploy/kubernetes/base/service.yaml", "kind: Service", "kind: Services", "unexpected apiVersion/kind"},
		{"netns without SYS_PTRACE", overlay, "                - SYS_PTRACE\n", "", "exactly [SYS_ADMIN SYS_PTRACE]"},
		{"netns without hostPID", overlay, "hostPID: true", "hostPID: false", "hostPID must be true"},
		{"netns writable pod logs", overlay, "              mountPath: /var/log/pods\n              readOnly: true", "              mountPath: /var/log/pods\n              readOnly: false", "/var/log/pods must be mounted read-only"},
		{"netns without config file", overlay, "            - --config.file=/etc/timewait_exporter/config.yml\n", "", "args must include --config.file="},
		{"netns writable config", overlay, "              mountPath: /etc/timewait_exporter\n              readOnly: true", "              mountPath: /etc/timewait_exporter\n              readOnly: false", "/etc/timewait_exporter must be mounted read-only"},
		{"netns config not a ConfigMap", overlay, "          configMap:\n            name: timewait-exporter-config", "          emptyDir: {}", `volume "config" (mounted for /etc/timewait_exporter/config.yml) must be a ConfigMap`},
		{"netns dump all", "deploy/kubernetes/netns-discovery/config.yml", "dump: busy", "dump: all", `must set netns.dump: busy, got "all"`},
		{"netns extra capability", overlay, "                - SYS_PTRACE\n", "                - SYS_PTRACE\n                - NET_RAW\n", "exactly [SYS_ADMIN SYS_PTRACE]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t)
			edit(t, root, tc.file, tc.old, tc.new)
			c := &checker{}
			run(c, options{root: root})
			all := strings.Join(c.errs, "\n")
			if !strings.Contains(all, tc.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", tc.want, all)
			}
		})
	}
}

func TestFlagsCheckedAgainstHelp(t *testing.T) {
	help := filepath.Join(t.TempDir(), "help.txt")
	text := "Flags:\n  -h, --[no-]help  Show help.\n      --web.listen-address=:9966 ...\n      --path.procfs=\"/proc\"\n      --log.format=logfmt\n      --netns.pod-log-dir=\"/var/log/pods\"\n      --config.file=CONFIG.FILE\n"
	if err := os.WriteFile(help, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &checker{}
	run(c, options{root: "../..", helpFile: help})
	all := strings.Join(c.errs, "\n")
	// The base's flags all exist; the overlay's --netns.discover does not in this help text.
	if !strings.Contains(all, `the exporter has no flag --netns.discover`) || strings.Count(all, "has no flag") != 1 {
		t.Fatalf("want exactly the missing --netns.discover reported, got:\n%s", all)
	}
}
