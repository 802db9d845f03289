#!/usr/bin/env bats
# Every example manifest works as written: the module accepts its settings, and the example Pod
# (a Deployment's Pod, as the API server admits it) comes out with the sidecar, as a valid Pod.

load helpers

# example_request MANIFEST NAMESPACE: settings and request files for one example.
prepare() {
  yq '.spec.settings' "$ROOT/examples/$1" >"$BATS_TEST_TMPDIR/settings.json"
  yq --arg ns "$2" '{uid: "e2e-example", kind: {group: "", version: "v1", kind: "Pod"},
      resource: {group: "", version: "v1", resource: "pods"}, namespace: $ns,
      operation: "CREATE", userInfo: {username: "system:serviceaccount:kube-system:replicaset-controller"},
      object: .}' "$ROOT/examples/pod.yaml" >"$BATS_TEST_TMPDIR/request.json"
}

@test "every example is a ClusterAdmissionPolicy for Pod creation, selecting with matchExpressions only" {
  policies=0
  for manifest in $(cd "$ROOT/examples" && ls *.yaml */*.yaml 2>/dev/null); do
    [ "$(yq -r '.kind' "$ROOT/examples/$manifest" | head -n 1)" = ClusterAdmissionPolicy ] || continue
    policies=$((policies + 1))
    yq -e '.kind == "ClusterAdmissionPolicy" and .spec.mutating == true
      and .spec.rules == [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}]
      and (.spec.namespaceSelector | keys) == ["matchExpressions"]
      and (.spec.timeoutSeconds | type) == "number"' "$ROOT/examples/$manifest" >/dev/null || {
      echo "$manifest does not have the expected shape" >&2
      return 1
    }
  done
  [ "$policies" -ge 4 ] || {
    echo "only $policies example policies found" >&2
    return 1
  }
}

@test "opt-in: selects istio-injection=enabled, Istio-like proxy held before the application" {
  expect_eq "$(yq -c '.spec.namespaceSelector.matchExpressions' "$ROOT/examples/opt-in.yaml")" \
    '[{"key":"istio-injection","operator":"In","values":["enabled"]}]' "namespaceSelector"
  expect_eq "$(yq -r '.spec.failurePolicy' "$ROOT/examples/opt-in.yaml")" Fail "failurePolicy"
  prepare opt-in.yaml shop
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/request.json"
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(container_names "$pod" containers)" "istio-proxy,web" "containers"
  expect_eq "$(container_names "$pod" initContainers)" "istio-init" "init containers"
  # Resources overridable per Pod through annotations: the Pod sets proxyCPU, not proxyMemory.
  expect_eq "$(jq -c '.spec.containers[0].resources.requests' <<<"$pod")" '{"cpu":"200m","memory":"128Mi"}' "proxy requests"
  expect_eq "$(jq -r '.spec.containers[0].env[] | select(.name == "ISTIO_META_APP_CONTAINERS") | .value' <<<"$pod")" web "app containers"
  expect_eq "$(jq -r '.metadata.labels["service.istio.io/canonical-name"]' <<<"$pod")" shop-web "canonical name"
  expect_eq "$(jq -r '.metadata.annotations["kubectl.kubernetes.io/default-container"]' <<<"$pod")" web "default container"
  expect_eq "$(jq -r '[.spec.volumes[].name] | join(",")' <<<"$pod")" \
    "workload-socket,workload-certs,istio-envoy,istio-data,istio-podinfo,istio-token,istiod-ca-cert" "volumes"
}

@test "opt-out: selects every namespace not labelled istio-injection=disabled, proxy as a native sidecar" {
  expect_eq "$(yq -c '.spec.namespaceSelector.matchExpressions[0]' "$ROOT/examples/opt-out.yaml")" \
    '{"key":"istio-injection","operator":"NotIn","values":["disabled"]}' "namespaceSelector"
  prepare opt-out.yaml shop
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/request.json"
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(container_names "$pod" containers)" "web" "containers"
  expect_eq "$(container_names "$pod" initContainers)" "istio-init,istio-proxy" "init containers"
  expect_eq "$(jq -r '.spec.initContainers[1].restartPolicy' <<<"$pod")" Always "restartPolicy"
}

@test "logging sidecar: injected into components selected by alwaysInjectSelector only" {
  prepare logging-sidecar.yaml shop
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/request.json"
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is disabled"
  expect_no_patch
  jq '.object.metadata.labels["app.kubernetes.io/component"] = "web"' "$BATS_TEST_TMPDIR/request.json" >"$BATS_TEST_TMPDIR/web.json"
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/web.json"
  expect_allowed_with_reason "the Pod's labels match alwaysInjectSelector[0]"
  pod=$(applied "$BATS_TEST_TMPDIR/web.json")
  expect_eq "$(container_names "$pod" containers)" "web,log-shipper" "containers"
  expect_eq "$(jq -r '.spec.containers[1].args[-1]' <<<"$pod")" "tag=shop.shop-web" "rendered tag"
}
