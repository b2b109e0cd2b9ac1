// SPDX-License-Identifier: Apache-2.0

package main

import (
	"reflect"
	"slices"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The least-privilege and wiring rules of docs/deploy.md, on the rendered
// objects.

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
	if !slices.Contains(ctr.Args, "--web.listen-address=:9966") {
		errf("args must listen on :%d", port)
	}
	if len(ctr.Command) != 0 {
		errf("command must not be set: the image's ENTRYPOINT is the exporter")
	}
	// Host /proc, read-only, passed as --path.procfs.
	if !slices.Contains(ctr.Args, "--path.procfs="+procMount) {
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
	if slices.Contains(ctr.Args, "--netns.discover") {
		errf("--netns.discover belongs to the netns-discovery variant only")
	}
	if len(ps.Volumes) != 1 {
		errf("the default mode mounts only host /proc, got %d volumes", len(ps.Volumes))
	}
	if field, annotation := appArmorUnconfined(ds, ctr); field || annotation {
		errf("the default mode needs no exemption from the runtime's AppArmor profile")
	}
}

// appArmorAnnotation is the per-container AppArmor annotation Kubernetes
// read before the securityContext field (1.30).
const appArmorAnnotation = "container.apparmor.security.beta.kubernetes.io/"

// appArmorUnconfined reports whether the container runs AppArmor
// unconfined by the securityContext field (the container's, else the
// pod's) and by the annotation older clusters read.
func appArmorUnconfined(ds *appsv1.DaemonSet, ctr *corev1.Container) (field, annotation bool) {
	p := ds.Spec.Template.Spec.SecurityContext
	var prof *corev1.AppArmorProfile
	if p != nil {
		prof = p.AppArmorProfile
	}
	if ctr.SecurityContext != nil && ctr.SecurityContext.AppArmorProfile != nil {
		prof = ctr.SecurityContext.AppArmorProfile
	}
	field = prof != nil && prof.Type == corev1.AppArmorProfileTypeUnconfined
	annotation = ds.Spec.Template.Annotations[appArmorAnnotation+ctr.Name] == "unconfined"
	return field, annotation
}

// checkNetnsMode: exactly the extra privilege namespace discovery needs.
func checkNetnsMode(c *checker, o *objects) {
	ds, ctr := checkCommon(c, o, "netns")
	ps := &ds.Spec.Template.Spec
	errf := func(f string, a ...any) { c.errorf("[netns] DaemonSet: "+f, a...) }
	if !ps.HostPID {
		errf("hostPID must be true to see other processes' /proc/<pid>/ns/net")
	}
	if ctr == nil {
		return
	}
	checkNetnsConfig(c, o.configMaps, ds, ctr)
	// Opening /proc/<pid>/ns/net is a ptrace-read check (proc_ns_get_link ->
	// ptrace_may_access), which the runtimes' default AppArmor profiles
	// allow only towards processes under the same profile.
	field, annotation := appArmorUnconfined(ds, ctr)
	if !field {
		errf("securityContext.appArmorProfile must be {type: Unconfined}: the runtime's default profile hides other processes' network namespaces")
	}
	if !annotation {
		errf("pod annotation %s%s: unconfined missing (Kubernetes before 1.30 reads only the annotation)", appArmorAnnotation, ctr.Name)
	}
	if ctr.SecurityContext == nil || ctr.SecurityContext.Capabilities == nil {
		return
	}
	add := append([]corev1.Capability(nil), ctr.SecurityContext.Capabilities.Add...)
	sort.Slice(add, func(i, j int) bool { return add[i] < add[j] })
	if !reflect.DeepEqual(add, []corev1.Capability{"SYS_ADMIN", "SYS_PTRACE"}) {
		errf("capabilities.add must be exactly [SYS_ADMIN SYS_PTRACE], got %v", add)
	}
	if !slices.Contains(ctr.Args, "--netns.discover") {
		errf("args must include --netns.discover")
	}
	// named namespaces, and the kubelet's pod log directories (their
	// names only: <namespace>_<name>_<uid>)
	for _, path := range []string{"/run/netns", "/var/log/pods"} {
		if !slices.ContainsFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path && m.ReadOnly }) {
			errf("%s must be mounted read-only", path)
		}
	}
}

// checkWiring: the Service selects the pods and names their port, the
// DaemonSet runs as the ServiceAccount.
func checkWiring(c *checker, o *objects) {
	ds, svc := o.daemonSets[0], o.services[0]
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
	svcPort := false
	for _, p := range svc.Spec.Ports {
		if p.Name == portName && p.Port == port && p.TargetPort.String() == portName {
			svcPort = true
		}
	}
	if !svcPort {
		c.errorf("Service must expose %s %d -> %s", portName, port, portName)
	}
}
