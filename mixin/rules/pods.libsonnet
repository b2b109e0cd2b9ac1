// SPDX-License-Identifier: Apache-2.0

// Recording rules that name the Kubernetes pod of each network namespace
// (exporters run with --netns.discover). timewait_netns_info carries the
// pod's UID (from the cgroup of the namespace's processes) and, where the
// kubelet's /var/log/pods is mounted, its namespace and name; the pod's
// namespace and name come from kube-state-metrics' kube_pod_info (joined
// by UID) when it has the pod, else from those labels.
//
// Any per-namespace series gets namespace and pod by
//   <series> * on (cluster, job, instance, netns) group_left (namespace, pod)
//     instance_netns:timewait_pod:info
{
  local c = $._config,
  local sel = c.selector,
  local host = c.hostLabels,
  local ns = c.netnsLabels,
  local r = import '../lib/rules.libsonnet',
  local rec = r.rec,
  local withPod(expr) = r.withPod(expr, ns),

  prometheusRules+:: {
    groups+: [{
      name: 'timewait-pods',
      rules: [
        // one series (value 1) per namespace that belongs to a pod
        rec('instance_netns:timewait_pod:info', |||
          max by (%(ns)s, pod_uid, namespace, pod) (
              max by (%(ns)s, pod_uid) (timewait_netns_info{%(sel)s})
            * on (%(cl)s, pod_uid) group_left (namespace, pod)
              label_replace(max by (%(cl)s, uid, namespace, pod) (kube_pod_info{%(ksm)s}), "pod_uid", "$1", "uid", "(.+)")
          )
          or on (%(ns)s)
          max by (%(ns)s, pod_uid, namespace, pod) (
            label_replace(
              label_replace(timewait_netns_info{%(sel)s,pod_uid!=""}, "namespace", "$1", "pod_namespace", "(.*)"),
              "pod", "$1", "pod_name", "(.*)"
            )
          )
        ||| % { ns: ns, cl: c.clusterLabel, sel: sel, ksm: c.kubeStateMetricsSelector }),
        // the pod views of the dashboards: per pod, its busiest pair's
        // ratio and its timewait mini-sockets. No selector: the join with
        // instance_netns:timewait_pod:info (on job) selects the exporter.
        rec('pod:timewait_ephemeral_port_utilization:max',
            withPod('max by (%s) (timewait_ephemeral_port_utilization_max_ratio)' % ns)),
        rec('pod:timewait_sockstat_tw_sockets:sum',
            withPod('sum by (%s) (timewait_sockstat_tw_sockets)' % ns)),
      ],
    }],
  },
}
