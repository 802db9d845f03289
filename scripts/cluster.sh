#!/usr/bin/env bash
# `make cluster`: a local Kubernetes control plane with the policy in front of it, as a cluster runs
# it, for a person to try: etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, a registry
# holding the module, the real policy-server serving it with the settings of MANIFEST (default
# examples/opt-in.yaml), and the webhook the Kubewarden controller would install for MANIFEST.
#
#   scripts/cluster.sh up [MANIFEST]   starts it all in the background, prints the KUBECONFIG line
#   scripts/cluster.sh down            stops every process `up` started
#
# State (certificates, logs, the kubeconfig) lives in $CACHE/cluster-run. Needs POLICY (the
# annotated module), CLI_BIN (the sidecar-injector command), and kwctl and policy-server on PATH.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/sidecar-injector}
DIR=$CACHE/cluster-run
# shellcheck source=/dev/null
source "$ROOT/e2e-tests/hosts.bash"
# shellcheck source=/dev/null
source "$ROOT/e2e-tests/policy-server.bash"
# shellcheck source=/dev/null
source "$ROOT/e2e-tests/cluster.bash"

running_cluster() {
  [ -f "$DIR/pids" ] && [ -n "$(cut -d' ' -f2 "$DIR/pids" | while read -r pid; do kill -0 "$pid" 2>/dev/null && echo "$pid"; done)" ]
}

case "${1:-}" in
  up)
    manifest=${2:-$ROOT/examples/opt-in.yaml}
    for tool in kwctl policy-server; do
      command -v "$tool" >/dev/null || { echo "cluster: $tool is not on PATH (Kubewarden 1.31)" >&2; exit 1; }
    done
    if running_cluster; then
      echo "cluster: already running; KUBECONFIG=$DIR/admin.kubeconfig (make cluster-down stops it)" >&2
      exit 1
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    export CLUSTER_DIR=$DIR
    # A half-started cluster is stopped, not left behind.
    trap 'status=$?; [ "$status" -eq 0 ] || { echo "cluster: could not start; logs are in $DIR" >&2; stop_cluster; }' EXIT
    start_control_plane "$DIR"
    serve_policies "$manifest"
    install_webhook "$manifest"
    selector=$("$CLI_BIN" webhook --settings "$manifest" --output json |
      jq -r '.webhooks[0].namespaceSelector.matchExpressions // [] | map("\(.key) \(.operator) \(.values)") | join(", ")')
    cat <<EOF
The cluster is up: Kubernetes $(kubectl version -o json | jq -r .serverVersion.gitVersion) on 127.0.0.1, with the policy of
$manifest served by the real policy-server, and installed as
MutatingWebhookConfiguration $(yq -r '"clusterwide-" + .metadata.name' "$manifest") (namespaceSelector: $selector).
No kubelet runs: Pods are stored, and stay Pending.

  export KUBECONFIG=$DIR/admin.kubeconfig
  export PATH=$(dirname "$(command -v kubectl)"):\$PATH    # kubectl $(kubectl version --client -o json | jq -r .clientVersion.gitVersion)

Then, for example:
  kubectl create namespace shop && kubectl label namespace shop istio-injection=enabled
  kubectl apply -f $ROOT/tests/cli/manifests/deployment.yaml      # 3 Pods, made by a ReplicaSet
  kubectl get pods -n shop -o jsonpath='{range .items[*]}{.metadata.name}: {.spec.containers[*].name}{"\n"}{end}'
  kubectl get pods -n shop -o yaml | $CLI_BIN check --settings $manifest -n shop --namespace-labels istio-injection=enabled

Logs: $DIR/*.log, the policy server's in $DIR/policy-server/. Stop it all with: make cluster-down
EOF
    ;;
  down)
    if [ ! -f "$DIR/pids" ]; then
      echo "cluster: not running" >&2
      exit 0
    fi
    export CLUSTER_DIR=$DIR
    stop_cluster
    echo "cluster: stopped"
    ;;
  *)
    echo "usage: $0 up [MANIFEST] | down" >&2
    exit 2
    ;;
esac
