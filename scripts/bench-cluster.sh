#!/usr/bin/env bash
# What the policy costs a Pod creation through the API server: the control plane of
# e2e-tests/cluster.bash with the opt-in example served by the real policy-server and installed as
# the Kubewarden controller installs it, and e2e-tests/cluster/podload creating the typical Pod
# (examples/pod.yaml) from 8 connections at once, in three namespaces of the same API server:
#   not selected   the webhook's namespaceSelector does not match: the policy is never called
#   injected       selected: the policy injects, the API server applies the patch and validates it
#   minimal        the minimal injector (bench/minimal-injector: the same sidecar, already rendered
#                  for the typical Pod, appended without a decision) instead: the floor of injection
#   declined       selected, the Pod's label sidecar.istio.io/inject: "false": called, no patch
#   namespace-read the policy of examples/istio-namespaces.yaml (namespaceRules: istio) in a
#                  namespace labelled istio-injection=disabled: called, reads the Namespace (from the
#                  policy server's cache), declines at step 5, no patch
#   no-op          the no-op module (bench/baseline-policy: reads the request and accepts), given the
#                  same settings as namespace-read: the floor of a call that injects nothing
# Rounds alternate between them; the medians of ROUNDS rounds (default 3) of PODS Pods (default 400)
# are printed. Every process started here is stopped on exit.
#
# Needs POLICY (the annotated module), CLI_BIN, bench/minimal.wasm and bench/baseline.wasm (scripts/bench.sh builds them), kwctl
# and policy-server on PATH, and Go.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/sidecar-injector}
ROUNDS=${ROUNDS:-3}
PODS=${PODS:-400}
# shellcheck source=/dev/null
source "$ROOT/e2e-tests/hosts.bash"
# shellcheck source=/dev/null
source "$ROOT/e2e-tests/policy-server.bash"
# shellcheck source=/dev/null
source "$ROOT/e2e-tests/cluster.bash"

NAMESPACES="not-selected injected minimal declined namespace-read no-op"
work=$(mktemp -d)
export CLUSTER_DIR=$work
trap 'stop_cluster; rm -rf "$work"' EXIT

podload=$CACHE/cluster/podload
(cd "$ROOT/e2e-tests/cluster" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -o "$podload" ./podload)

start_control_plane "$work" >/dev/null
# The namespace rules' policy, for the namespaces labelled bench=namespace-read.
yq -y '.metadata.name = "namespace-read" | del(.spec.settings.mandatory)
    | .spec.namespaceSelector = {matchExpressions: [{key: "bench", operator: "In", values: ["namespace-read"]}]}' \
  "$ROOT/examples/istio-namespaces.yaml" >"$work/namespace-read.yaml"
serve_policies "$ROOT/examples/opt-in.yaml" "$work/namespace-read.yaml" >/dev/null
# The minimal injector beside ours, in the same policy server, for the namespaces labelled
# bench=minimal.
CARGO_TARGET_DIR="$CACHE/target-runner" cargo run --quiet --locked --release \
  --manifest-path "$ROOT/bench/Cargo.toml" --example fixture -- typical minimal-settings >"$work/minimal-settings.json"
printf 'rules: [{apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["CREATE"]}]\nmutating: true\nexecutionMode: kubewarden-wapc\n' \
  >"$work/minimal-metadata.yml"
kwctl annotate -m "$work/minimal-metadata.yml" -o "$work/minimal.wasm" "$ROOT/bench/minimal.wasm" >/dev/null
printf 'clusterwide-minimal:\n  module: file://%s\n  allowedToMutate: true\n  settings: %s\n' \
  "$work/minimal.wasm" "$(jq -c . "$work/minimal-settings.json")" >>"$PS_DIR/policies.yml"
# The no-op, with the settings of the namespace rules' policy, for the namespaces labelled bench=no-op.
kwctl annotate -m "$work/minimal-metadata.yml" -o "$work/no-op.wasm" "$ROOT/bench/baseline.wasm" >/dev/null
printf 'clusterwide-no-op:\n  module: file://%s\n  allowedToMutate: true\n  settings: %s\n' \
  "$work/no-op.wasm" "$(yq -c '.spec.settings' "$work/namespace-read.yaml")" >>"$PS_DIR/policies.yml"
restart_policy_server >/dev/null
yq -y '.metadata.name = "no-op" | .spec.namespaceSelector = {matchExpressions: [{key: "bench", operator: "In", values: ["no-op"]}]}' \
  "$ROOT/examples/opt-in.yaml" >"$work/no-op.yaml"
yq -y '.metadata.name = "minimal" | .spec.namespaceSelector = {matchExpressions: [{key: "bench", operator: "In", values: ["minimal"]}]}' \
  "$ROOT/examples/opt-in.yaml" >"$work/minimal.yaml"
install_webhook "$ROOT/examples/opt-in.yaml"
install_webhook "$work/minimal.yaml"
install_webhook "$work/namespace-read.yaml"
install_webhook "$work/no-op.yaml"
create_namespace not-selected
create_namespace injected istio-injection=enabled
create_namespace minimal bench=minimal
create_namespace declined istio-injection=enabled
create_namespace namespace-read bench=namespace-read istio-injection=disabled
create_namespace no-op bench=no-op
for namespace in $NAMESPACES; do
  kubectl create serviceaccount shop-web -n "$namespace" >/dev/null
done
wait_for_injection injected yes
# The minimal injector writes no status annotation: its proxy tells.
gets_proxy() {
  kubectl create --dry-run=server -n "$1" -o json -f "$work/pod.json" | jq -e '[.spec.containers[].name] | index("istio-proxy")'
}

# The typical Pod, without the owner the garbage collector would delete it for.
yq '.metadata |= del(.ownerReferences)' "$ROOT/examples/pod.yaml" >"$work/pod.json"
jq '.metadata.labels["sidecar.istio.io/inject"] = "false"' "$work/pod.json" >"$work/declined.json"
wait_until 30 gets_proxy minimal
# The namespace rules' policy answers (its reason is in the audit annotations): the API server
# calls it once its webhook is in use.
declines_by_namespace() {
  kubectl create --dry-run=server -n namespace-read -o json -f "$work/pod.json" >/dev/null &&
    grep -q 'namespaceRules: istio' "$work/audit.log"
}
wait_until 30 declines_by_namespace

echo "API server: Kubernetes $(kubectl version -o json | jq -r .serverVersion.gitVersion), etcd, kube-controller-manager, policy-server and the load on $(nproc) cores; $ROUNDS rounds of $PODS Pods, 8 at once"
for round in $(seq "$ROUNDS"); do
  for namespace in $NAMESPACES; do
    pod=$work/pod.json
    [ "$namespace" != declined ] || pod=$work/declined.json
    "$podload" -server "$CLUSTER_SERVER" -ca "$CLUSTER_CA" -cert "$work/pki/admin.crt" -key "$work/pki/admin.key" \
      -namespace "$namespace" -pod "$pod" -n "$PODS" -c 8 | jq -c --arg round "$round" '. + {round: $round}' >>"$work/results"
  done
  # The next round starts from empty namespaces: etcd and the API server's caches grow otherwise.
  for namespace in $NAMESPACES; do
    kubectl delete pods --all -n "$namespace" --wait=false >/dev/null
  done
  sleep 2
done

jq -s -r '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  group_by(.namespace) | map({namespace: .[0].namespace, perSecond: (map(.perSecond) | median),
    p50: (map(.p50Ms) | median), p99: (map(.p99Ms) | median), errors: (map(.errors) | add),
    injected: (map(.injected) | add), requests: (map(.requests) | add), firstError: (map(.firstError // empty) | first)}) as $rows
  | ($rows | map(select(.namespace == "not-selected"))[0]) as $floor
  | ["| Pods created in | Pods/s | p50 | p99 | p50 added | p99 added | injected | errors |", "|---|---|---|---|---|---|---|---|"]
    + ($rows | sort_by({"not-selected": 0, "injected": 1, "minimal": 2, "declined": 3, "namespace-read": 4, "no-op": 5}[.namespace]) | map(
      "| \(.namespace) | \(.perSecond | round) | \(.p50 * 100 | round / 100) ms | \(.p99 * 100 | round / 100) ms | "
      + (if .namespace == "not-selected" then "| " else "\((.p50 - $floor.p50) * 100 | round / 100) ms | \((.p99 - $floor.p99) * 100 | round / 100) ms " end)
      + "| \(.injected) of \(.requests) | \(.errors)\(if .firstError then " (" + .firstError + ")" else "" end) |"))
  | .[]' "$work/results"
if jq -se 'map(.errors) | add > 0' "$work/results" >/dev/null; then
  echo "bench-cluster: some creations failed" >&2
  exit 1
fi
