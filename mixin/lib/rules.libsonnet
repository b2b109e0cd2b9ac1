// SPDX-License-Identifier: Apache-2.0

// Builders of Prometheus rules, and the join that names a namespace's pod.
{
  // rec is a recording rule.
  rec(name, expr):: { record: name, expr: expr },

  // alert is an alerting rule whose runbook_url is c.runbook(name).
  alert(c, name, expr, forDur, severity, summary, description):: {
    alert: name,
    expr: expr,
    'for': forDur,
    labels: { severity: severity },
    annotations: { summary: summary, description: description, runbook_url: c.runbook(name) },
  },

  // withPod(expr, ns) gives each series of expr the namespace and pod labels
  // of the pod of its network namespace (instance_netns:timewait_pod:info,
  // rules/pods.libsonnet), joined on the labels ns names; series of no pod
  // drop out (an inner join, for the pod views).
  withPod(expr, ns)::
    '%s\n* on (%s) group_left (namespace, pod)\n  instance_netns:timewait_pod:info' % [expr, ns],

  // ofPod(expr, m, ns): expr with the namespace and pod labels of the pod
  // whose network namespace each series is from, so that a pod's alert
  // routes to its team like kubernetes-mixin's per-pod alerts. Every other
  // series (the host's or a non-pod namespace, a pod known by UID only, or
  // no netns label at all) matches the fallback, one series per namespace of
  // m, which has neither label: group_left removes a label the matched
  // series lacks, so no alert carries the scrape target's own namespace or
  // pod. An outer join: a series never goes missing for want of a pod.
  ofPod(expr, m, ns)::
    '(\n%s\n)\n* on (%s) group_left (namespace, pod)\n(\n    instance_netns:timewait_pod:info\n  or on (%s)\n    group by (%s) (%s)\n)'
    % ['  ' + std.strReplace(expr, '\n', '\n  '), ns, ns, ns, m],
}
