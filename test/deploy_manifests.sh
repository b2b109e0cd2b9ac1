#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Deployment manifests, checked by real tools, offline:
# - every Kubernetes manifest decoded strictly into the Kubernetes / Prometheus
#   Operator / kustomize Go types, both kustomizations rendered with the
#   kustomize library, least-privilege rules checked (deploy/validate, plus its
#   own tests that broken manifests are caught);
# - `kustomize build` of the base, the overlay and both re-used in another
#   namespace, `helm lint` and `helm template` of the chart with default and
#   non-default values (kustomize and Helm as `make deps` builds them), each
#   rendering checked by deploy/validate: no Namespace, every object in the
#   namespace it was rendered for, the ServiceMonitor's selector and labels,
#   AppArmor, priority class, image; the chart's defaults render the same
#   workload as the kustomizations, and its rules and dashboards are the
#   mixin's;
# - the PrometheusRule's groups equal deploy/prometheus/rules/timewait.rules.yml
#   and pass `promtool check rules`;
# - every flag in the DaemonSet args exists in `./timewait_exporter --help`,
#   and the overlay's config file passes the exporter's --config.check;
# - prometheus.yml passes `promtool check config`, alertmanager.yml passes
#   `amtool check-config` and routes our alerts to the intended receivers.
set -euo pipefail
# shellcheck source=test/lib/prelude.bash
. "$(dirname "$0")/lib/prelude.bash"
tw_init deploy_manifests 900 10 "" go promtool amtool -- "$@"
tmp=$TMP

echo "--- deploy/validate: go test (strict decoding, broken manifests are caught)"
(cd deploy/validate && timeout 300 go test -count=1 ./...)

help_args=()
if [ -x ./timewait_exporter ]; then
  ./timewait_exporter --help >"$tmp/help.txt" 2>&1 || true
  if ! grep -Eq -- '--(\[no-\])?netns\.discover' "$tmp/help.txt"; then
    echo "WARN: ./timewait_exporter has no --netns.discover yet; the netns-discovery overlay's flag is not checked" >&2
    echo "      --netns.discover" >>"$tmp/help.txt"
  fi
  help_args=(-exporter-help "$tmp/help.txt")
else
  echo "WARN: ./timewait_exporter not built (run make build); DaemonSet flags not checked against --help" >&2
fi

if [ -x ./timewait_exporter ]; then
  echo "--- the netns-discovery overlay's config file passes --config.check"
  ./timewait_exporter --config.check --config.file=deploy/kubernetes/netns-discovery/config.yml
fi

helm=$PWD/.tools/helm kustomize=$PWD/.tools/kustomize
[ -x "$helm" ] && [ -x "$kustomize" ] || fail "no .tools/helm or .tools/kustomize: run make deps"

echo "--- kustomize build: the base, the overlay, and both in namespace other"
"$kustomize" build deploy/kubernetes/base >"$tmp/k-base.yaml"
"$kustomize" build deploy/kubernetes/netns-discovery >"$tmp/k-netns.yaml"
for v in base netns-discovery; do
  mkdir "$tmp/other-$v"
  # kustomize takes only relative paths to a directory it builds on
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: other\nresources:\n  - %s\n' \
    "$(realpath --relative-to="$tmp/other-$v" "deploy/kubernetes/$v")" >"$tmp/other-$v/kustomization.yaml"
  "$kustomize" build "$tmp/other-$v" >"$tmp/k-other-$v.yaml"
done

chart=deploy/helm/timewait-exporter
custom=$chart/ci/custom-values.yaml
echo "--- helm lint and helm template, default and non-default values ($custom)"
"$helm" lint --strict "$chart"
"$helm" lint --strict "$chart" -f "$custom"
"$helm" template timewait-exporter "$chart" -n monitoring >"$tmp/h-default.yaml"
"$helm" template timewait-exporter "$chart" -n monitoring --set netnsDiscovery.enabled=true >"$tmp/h-netns.yaml"
"$helm" template tw "$chart" -n tw-test -f "$custom" >"$tmp/h-custom.yaml"
# Without the Prometheus Operator (no CRDs) and without Grafana: core objects only.
kinds=$("$helm" template x "$chart" --set prometheus.monitor.enabled=false,prometheusRule.enabled=false,dashboards.enabled=false |
  sed -n 's/^kind: //p' | sort | tr '\n' ' ')
[ "$kinds" = "DaemonSet Service ServiceAccount " ] || fail "helm template without the Operator and dashboards renders: $kinds"
# Before Kubernetes 1.30 the API server has no appArmorProfile field: the
# annotation alone.
"$helm" template timewait-exporter "$chart" -n monitoring --set netnsDiscovery.enabled=true --kube-version 1.29.0 >"$tmp/h-netns-1.29.yaml"
grep -q '^        container.apparmor.security.beta.kubernetes.io/timewait-exporter: unconfined$' "$tmp/h-netns-1.29.yaml" ||
  fail "helm template --kube-version 1.29.0: no AppArmor annotation"
! grep -q appArmorProfile "$tmp/h-netns-1.29.yaml" || fail "helm template --kube-version 1.29.0: appArmorProfile, which 1.29 rejects"
[ "$(sed -n 's/^appVersion: "\(.*\)"$/\1/p' $chart/Chart.yaml)" = "$(cat VERSION)" ] || fail "$chart/Chart.yaml appVersion is not VERSION"
[ "$(sed -n 's/^version: //p' $chart/Chart.yaml)" = "$(cat VERSION)" ] || fail "$chart/Chart.yaml version is not VERSION"

echo "--- deploy/validate: the repository's manifests and the renderings above"
dash=dashboards=grafana_dashboard=1
(cd deploy/validate && timeout 300 go run . -root ../.. -rules-out "$tmp/prometheusrule-groups.yml" "${help_args[@]}" \
  -rendered "$tmp/k-base.yaml,mode=default,same" \
  -rendered "$tmp/k-netns.yaml,mode=netns,same" \
  -rendered "$tmp/k-other-base.yaml,mode=default,namespace=other,same" \
  -rendered "$tmp/k-other-netns-discovery.yaml,mode=netns,namespace=other,same" \
  -rendered "$tmp/h-default.yaml,mode=default,namespace=monitoring,same,$dash" \
  -rendered "$tmp/h-netns.yaml,mode=netns,namespace=monitoring,same,$dash" \
  -rendered "$tmp/h-custom.yaml,mode=netns,namespace=tw-test,dashboards=my_dashboards=yes,priority=timewait-critical,image=registry.example.com/mirror/timewait-exporter:0.1.0-custom")

if [ -x ./timewait_exporter ]; then
  echo "--- the chart's non-default configuration passes --config.check"
  # the ConfigMap's config.yml, as the DaemonSet mounts it
  awk '/^kind: ConfigMap/{cm=1} cm && /^  config.yml: \|/{on=1; next} on && /^    /{sub(/^    /,""); print; next} on{exit}' \
    "$tmp/h-custom.yaml" >"$tmp/custom-config.yml"
  grep -q 'max_namespaces: 300' "$tmp/custom-config.yml" || fail "no config.yml in the custom rendering's ConfigMap"
  ./timewait_exporter --config.check --config.file="$tmp/custom-config.yml"
fi

echo "--- promtool check rules on the PrometheusRule's groups"
promtool check rules "$tmp/prometheusrule-groups.yml"

echo "--- promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml

echo "--- amtool check-config deploy/prometheus/alertmanager.yml"
amtool check-config deploy/prometheus/alertmanager.yml
route() { amtool config routes test --config.file=deploy/prometheus/alertmanager.yml "$@" 2>/dev/null; }
[ "$(route alertname=TimeWaitEphemeralPortsExhausting severity=critical)" = oncall-pager ] || fail "critical TimeWait alert not routed to oncall-pager"
[ "$(route alertname=TimeWaitBucketOverflow severity=warning)" = network-team ] || fail "warning TimeWait alert not routed to network-team"
[ "$(route alertname=SomethingElse severity=critical)" = default ] || fail "other alerts must fall through to default"

echo "deploy_manifests: ok"
RC=0
