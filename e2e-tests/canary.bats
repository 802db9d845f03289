#!/usr/bin/env bats
# Canary upgrades (examples/canary/) in the real Kubewarden policy-server: the stable and the
# canary policy served side by side, each namespace routed to the policy whose namespaceSelector
# matches its labels (the API server's job, decided here by the CLI's `check` on the Namespace
# manifests), and each namespace's Pod gets its own proxy. Then a namespace moves to the canary,
# and the stale report names the Pod injected by the stable policy, with the revision's name and
# the hash the canary policy-server gave the other namespace's Pod.

load helpers
load hosts
load policy-server

CLI=${CLI_BIN:-${HOME}/.cache/sidecar-injector/target-host/debug/sidecar-injector}
CANARY=$ROOT/examples/canary

setup_file() {
  prepare_policy_server || return 1
  [ -z "${PS_SKIP:-}" ] || return 0
  # Both modules are files: no registry.
  export SOURCES=$PS_DIR/sources.yml
  echo 'insecure_sources: []' >"$SOURCES"
  {
    policies_entry stable "file://$POLICY" "$(yq -c .spec.settings "$CANARY/stable.yaml")"
    policies_entry canary "file://$POLICY" "$(yq -c .spec.settings "$CANARY/canary.yaml")"
  } >"$PS_DIR/policies.yml"
  start_policy_server "$PS_DIR/policies.yml"
}

setup() {
  skip_without_policy_server
}

teardown_file() {
  stop_process "${PS_PID:-}"
}

# routed NAMESPACE: the policies (stable, canary) that `check` says apply to NAMESPACE, given the
# walk-through's Namespace manifests, separated by spaces.
routed() {
  local policy applying=()
  for policy in stable canary; do
    if "$CLI" check --settings "$CANARY/$policy.yaml" "$CANARY/namespaces.yaml" |
      grep -qxF "Namespace $1: policy sidecar-injector-$policy applies: namespace $1 matches the namespaceSelector kubernetes.io/metadata.name notin (kubewarden),istio.io/rev=$policy"; then
      applying+=("$policy")
    fi
  done
  echo "${applying[*]}"
}

# injected_in NAMESPACE POLICY: the fixture Pod created in NAMESPACE, as POLICY's policy-server
# endpoint mutates it; prints the Pod.
injected_in() {
  local request
  request=$(review ".request.namespace = \"$1\" | .request.object.metadata.namespace = \"$1\"")
  post "$2" "$request"
  # (Run in a command substitution, where a failed expect_eq would not stop the function.)
  expect_eq "$http_status" 200 "HTTP status" || return 1
  expect_eq "$(field .allowed)" true "allowed" || return 1
  applied "$request"
}

@test "canary: check on the Namespace manifests routes shop to stable and payments to canary" {
  expect_eq "$(routed shop)" stable "the policies for shop"
  expect_eq "$(routed payments)" canary "the policies for payments"
}

@test "canary: in policy-server, each namespace's Pod gets its own proxy" {
  local ns policy pod image
  for ns in shop payments; do
    case $ns in shop) policy=stable image=1.27.3 ;; payments) policy=canary image=1.28.0 ;; esac
    expect_eq "$(routed "$ns")" "$policy" "the policies for $ns"
    pod=$(injected_in "$ns" "$policy")
    expect_eq "$(jq -c '[.spec.containers[], .spec.initContainers[] | select(.name | startswith("istio-")) | {(.name): .image}] | add' <<<"$pod")" \
      "{\"istio-proxy\":\"docker.io/istio/proxyv2:$image\",\"istio-init\":\"docker.io/istio/proxyv2:$image\"}" "$ns: proxy images"
    expect_eq "$(jq -r '.spec.containers[0].env[] | select(.name == "ISTIO_META_REVISION") | .value' <<<"$pod")" "$policy" "$ns: revision in the proxy"
    expect_eq "$(jq -r '.metadata.labels["istio.io/rev"]' <<<"$pod")" "$policy" "$ns: istio.io/rev label"
    # Where Istio's tooling reads the revision's name.
    expect_eq "$(jq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .revision' <<<"$pod")" "$policy" "$ns: revision in the status annotation"
  done
}

@test "canary: after shop moves to canary, the stale report names its Pod, with the canary's revision and hash from policy-server" {
  local shop payments old new report
  shop=$(injected_in shop stable)
  payments=$(injected_in payments canary)
  old=$(jq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .hash' <<<"$shop")
  new=$(jq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .hash' <<<"$payments")
  [[ $old =~ ^[0-9a-f]{16}$ && $new =~ ^[0-9a-f]{16}$ && $old != "$new" ]]
  # The running Pod, as kubectl lists it: owned by its ReplicaSet.
  jq '{apiVersion: "v1", kind: "List", items: [. + {metadata: (.metadata + {ownerReferences: [
      {apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-5d4f", uid: "u", controller: true}]})}]}' \
    <<<"$shop" >"$BATS_TEST_TMPDIR/pods.json"
  run --separate-stderr "$CLI" check --fail-if-stale --settings "$CANARY/canary.yaml" "$BATS_TEST_TMPDIR/pods.json"
  expect_eq "$status" 1 "exit status with a stale Pod ($stderr)"
  expect_eq "$(grep -F '  stale: ' <<<"$output")" \
    "  stale: injected with revision stable (hash $old), the policy now injects revision canary (hash $new): the revision name and the hash differ; restart its owner ReplicaSet/web-5d4f" "stale report"
  expect_eq "$(tail -n 1 <<<"$output")" "Pods: 0 up to date, 1 stale, 0 uninjected" "summary"
  # Against the stable policy it is up to date.
  run --separate-stderr "$CLI" check --fail-if-stale --settings "$CANARY/stable.yaml" "$BATS_TEST_TMPDIR/pods.json"
  expect_eq "$status" 0 "exit status, up to date ($stderr)"
  expect_eq "$(tail -n 1 <<<"$output")" "Pods: 1 up to date, 0 stale, 0 uninjected" "summary"
}
