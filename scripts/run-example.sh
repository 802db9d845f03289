#!/usr/bin/env bash
# Evaluates an example Pod against an example ClusterAdmissionPolicy's settings with the compiled
# module, as the policy server would for a Pod created in namespace $NAMESPACE (default: shop).
# Prints the decision, then the Pod the API server would store, as YAML.
# The module runs in kwctl when it is on PATH, otherwise in this repository's policy-runner;
# $POLICY is the module (default policy.wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=$1 pod=$2 namespace=${NAMESPACE:-shop} policy=${POLICY:-policy.wasm}
runner=${RUNNER_BIN:-$HOME/.cache/sidecar-injector/target-runner/release}
if command -v kwctl >/dev/null; then host=(kwctl run) host_name=kwctl; else host=("$runner/policy-runner") host_name=policy-runner; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

yq '.spec.settings' "$manifest" >"$work/settings.json"
yq --arg ns "$namespace" '{uid: "make-run", kind: {group: "", version: "v1", kind: "Pod"},
    resource: {group: "", version: "v1", resource: "pods"}, namespace: $ns, operation: "CREATE",
    userInfo: {username: "system:serviceaccount:kube-system:replicaset-controller"}, object: .}' \
  "$pod" >"$work/request.json"
"${host[@]}" --settings-path "$work/settings.json" --request-path "$work/request.json" "$policy" \
  >"$work/response.json" 2>"$work/log" || {
  cat "$work/log" >&2
  exit 1
}

echo "# $pod in namespace $namespace, with the settings of $manifest, run by $host_name"
echo "# allowed: $(jq -r .allowed "$work/response.json")"
echo "# injected: $(jq -r '.auditAnnotations.injected // "-"' "$work/response.json")"
echo "# reason: $(jq -r '.auditAnnotations.reason // .status.message' "$work/response.json")"
jq -r '.warnings // [] | .[] | "# warning: \(.)"' "$work/response.json"
echo "# patch: $(jq -r '.patch // empty | @base64d' "$work/response.json" | jq 'length' 2>/dev/null || echo 0) operations"
"$runner/apply-patch" --request-path "$work/request.json" <"$work/response.json" | yq -y .
