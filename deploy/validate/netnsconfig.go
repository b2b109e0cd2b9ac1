// SPDX-License-Identifier: Apache-2.0

package main

import (
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// configFlag is the exporter's flag for its configuration file.
const configFlag = "--config.file="

// checkNetnsConfig: the netns-discovery DaemonSet reads its --config.file
// from a ConfigMap mounted read-only, and that file sets netns.dump: busy
// (docs/netns.md: on a node with many pods the dump of every namespace
// walks every socket of the node once per pod). The file's full validation
// is the exporter's own --config.check (test/deploy_manifests.sh).
func checkNetnsConfig(c *checker, configMaps []*corev1.ConfigMap, ds *appsv1.DaemonSet, ctr *corev1.Container) {
	errf := func(f string, a ...any) { c.errorf("[netns] "+f, a...) }
	i := slices.IndexFunc(ctr.Args, func(a string) bool { return strings.HasPrefix(a, configFlag) })
	if i < 0 {
		errf("args must include %s<file> (the ConfigMap that sets netns.dump: busy)", configFlag)
		return
	}
	file := strings.TrimPrefix(ctr.Args[i], configFlag)
	dir, key := path.Split(file)
	mi := slices.IndexFunc(ctr.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == path.Clean(dir) })
	if mi < 0 || !ctr.VolumeMounts[mi].ReadOnly {
		errf("%s must be mounted read-only (the directory of %s)", path.Clean(dir), file)
		return
	}
	vol := ctr.VolumeMounts[mi].Name
	vi := slices.IndexFunc(ds.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vol })
	if vi < 0 || ds.Spec.Template.Spec.Volumes[vi].ConfigMap == nil {
		errf("volume %q (mounted for %s) must be a ConfigMap", vol, file)
		return
	}
	name := ds.Spec.Template.Spec.Volumes[vi].ConfigMap.Name
	ci := slices.IndexFunc(configMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == name && cm.Namespace == ds.Namespace })
	if ci < 0 {
		errf("ConfigMap %q (volume %q) is not in the kustomization's output", name, vol)
		return
	}
	data, ok := configMaps[ci].Data[key]
	if !ok {
		errf("ConfigMap %q has no key %q (%s)", name, key, file)
		return
	}
	var cfg struct {
		Netns struct {
			Dump string `json:"dump"`
		} `json:"netns"`
	}
	if err := yaml.Unmarshal([]byte(data), &cfg); err != nil {
		errf("ConfigMap %q key %q: %v", name, key, err)
	} else if cfg.Netns.Dump != "busy" {
		errf("ConfigMap %q key %q must set netns.dump: busy, got %q", name, key, cfg.Netns.Dump)
	}
}
