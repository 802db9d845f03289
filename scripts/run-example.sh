#!/usr/bin/env bash
# Evaluates an example Pod against an example ClusterAdmissionPolicy's settings with the compiled
# module, as the policy server would for a Pod created in namespace $NAMESPACE (default: shop).
# Prints the decision, then the Pod the API server would store, as YAML.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=$1 pod=$2 namespace=${NAMESPACE:-shop}
runner=${RUNNER_BIN:-$HOME/.cache/sidecar-injector/target-runner/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

yq '.spec.settings' "$manifest" >"$work/settings.json"
yq --arg ns "$namespace" '{uid: "make-run", kind: {group: "", version: "v1", kind: "Pod"},
    resource: {group: "", version: "v1", resource: "pods"}, namespace: $ns, operation: "CREATE",
    userInfo: {username: "system:serviceaccount:kube-system:replicaset-controller"}, object: .}' \
  "$pod" >"$work/request.json"
"$runner/policy-runner" --settings-path "$work/settings.json" --request-path "$work/request.json" policy.wasm \
  >"$work/response.json" 2>"$work/log"

echo "# $pod in namespace $namespace, with the settings of $manifest"
echo "# allowed: $(jq -r .allowed "$work/response.json")"
echo "# injected: $(jq -r '.auditAnnotations.injected // "-"' "$work/response.json")"
echo "# reason: $(jq -r '.auditAnnotations.reason // .status.message' "$work/response.json")"
jq -r '.warnings // [] | .[] | "# warning: \(.)"' "$work/response.json"
echo "# patch: $(jq -r '.patch // empty | @base64d' "$work/response.json" | jq 'length' 2>/dev/null || echo 0) operations"
"$runner/apply-patch" --request-path "$work/request.json" <"$work/response.json" | yq -y .
