#!/usr/bin/env bats
# The decision, through the compiled module: the seed truth table (the rows this policy owns),
# security rules, precedence, selectors, and requests that are not Pod creations.

load helpers

INJECTED_OPS='add /metadata/annotations
add /metadata/labels/mesh
add /spec/containers/1
add /spec/initContainers
add /spec/volumes'

# expect_injected REQUEST REASON: the exact patch, and a valid Pod that has the sidecar.
expect_injected() {
  expect_allowed_with_reason "$2"
  expect_eq "$(field .auditAnnotations.injected)" true "injected"
  expect_eq "$(field .patchType)" JSONPatch "patchType"
  expect_eq "$(patch_ops)" "$INJECTED_OPS" "patch operations"
  pod=$(applied "$E2E_DIR/requests/$1.json")
  expect_eq "$(container_names "$pod" containers)" "app,sidecar" "containers"
  expect_eq "$(container_names "$pod" initContainers)" "mesh-init" "init containers"
}

expect_not_injected() {
  expect_allowed_with_reason "$1"
  expect_eq "$(field .auditAnnotations.injected)" false "injected"
  expect_no_patch
}

@test "truth table: policy enabled, pod says true: injected" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-label-true.json"
  expect_injected pod-label-true "the Pod's label sidecar.istio.io/inject is \"true\""
}

@test "truth table: policy enabled, pod says false: not injected" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-label-false.json"
  expect_not_injected "the Pod's label sidecar.istio.io/inject is \"false\""
  expect_eq "$(field '.warnings // "none"')" none "warnings"
}

@test "truth table: policy enabled, no override: injected" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-no-override.json"
  expect_injected pod-no-override "the Pod does not choose, and the policy's default is enabled"
}

@test "truth table: policy disabled, pod says true: injected" {
  evaluate "$(settings_with '.policy = "disabled"')" "$E2E_DIR/requests/pod-label-true.json"
  expect_injected pod-label-true "the Pod's label sidecar.istio.io/inject is \"true\""
}

@test "truth table: policy disabled, pod says false: not injected" {
  evaluate "$(settings_with '.policy = "disabled"')" "$E2E_DIR/requests/pod-label-false.json"
  expect_not_injected "the Pod's label sidecar.istio.io/inject is \"false\""
}

@test "truth table: policy disabled, no override: not injected" {
  evaluate "$(settings_with '.policy = "disabled"')" "$E2E_DIR/requests/pod-no-override.json"
  expect_not_injected "the Pod does not choose, and the policy's default is disabled"
}

@test "the annotation counts when there is no label" {
  evaluate "$(settings_with '.policy = "disabled"')" "$E2E_DIR/requests/pod-annotation-true.json"
  expect_allowed_with_reason "the Pod's annotation sidecar.istio.io/inject is \"true\""
  expect_eq "$(field .patchType)" JSONPatch "patchType"
}

@test "the label wins over the annotation: label false, annotation true" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-label-false-annotation-true.json"
  expect_not_injected "the Pod's label sidecar.istio.io/inject is \"false\""
}

@test "the label wins over the annotation: label true, annotation false" {
  evaluate "$(settings_with '.policy = "disabled"')" "$E2E_DIR/requests/pod-label-true-annotation-false.json"
  expect_allowed_with_reason "the Pod's label sidecar.istio.io/inject is \"true\""
  # The Pod has annotations already: the status annotation is added to them.
  expect_eq "$(patch_ops)" "${INJECTED_OPS/add \/metadata\/annotations/add /metadata/annotations/sidecar.istio.io~1status}" "patch operations"
}

@test "only the exact value true counts" {
  evaluate "$(settings_with '.policy = "disabled"')" "$E2E_DIR/requests/pod-label-not-exact.json"
  expect_not_injected "the Pod does not choose, and the policy's default is disabled; its label sidecar.istio.io/inject is \"True\", which does not count: only \"true\" or \"false\" do"
}

@test "kube-system is never injected, even when the Pod asks" {
  evaluate "$(settings_with '.alwaysInjectSelector = [{"matchLabels": {"app": "web"}}]')" "$E2E_DIR/requests/kube-system-asks.json"
  reason="namespace kube-system is a Kubernetes system namespace, where sidecars are never injected"
  expect_not_injected "$reason"
  expect_eq "$(field '.warnings | length')" 1 "warnings"
  expect_eq "$(field '.warnings[0]')" "the Pod asks for the sidecar with its label sidecar.istio.io/inject is \"true\", but none was injected: $reason" "warning"
}

@test "kube-public is never injected, even when the Pod asks" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/kube-public-asks.json"
  expect_not_injected "namespace kube-public is a Kubernetes system namespace, where sidecars are never injected"
  expect_eq "$(field '.warnings | length')" 1 "warnings"
}

@test "a configured ignored namespace is never injected" {
  evaluate "$(settings_with '.ignoredNamespaces = ["shop"]')" "$E2E_DIR/requests/pod-label-true.json"
  expect_not_injected "namespace shop is in the policy's ignoredNamespaces"
  expect_eq "$(field '.warnings | length')" 1 "warnings"
}

@test "a host-network Pod is never injected, and is told why when it asks" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/host-network-asks.json"
  reason="the Pod uses the node's network (spec.hostNetwork: true), where a sidecar would capture the node's traffic"
  expect_not_injected "$reason"
  expect_eq "$(field '.warnings[0]')" "the Pod asks for the sidecar with its annotation sidecar.istio.io/inject is \"true\", but none was injected: $reason" "warning"
}

@test "alwaysInjectSelector injects a matching Pod under policy disabled" {
  settings=$(settings_with '.policy = "disabled" | .alwaysInjectSelector = [{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}] | .neverInjectSelector = [{"matchExpressions": [{"key": "legacy", "operator": "Exists"}]}]')
  evaluate "$settings" "$E2E_DIR/requests/pod-tier-web.json"
  expect_allowed_with_reason "the Pod's labels match alwaysInjectSelector[0]"
  expect_eq "$(patch_ops)" "$INJECTED_OPS" "patch operations"
}

@test "neverInjectSelector is checked before alwaysInjectSelector" {
  settings=$(settings_with '.policy = "disabled" | .alwaysInjectSelector = [{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}] | .neverInjectSelector = [{"matchExpressions": [{"key": "legacy", "operator": "Exists"}]}]')
  evaluate "$settings" "$E2E_DIR/requests/pod-tier-web-legacy.json"
  expect_not_injected "the Pod's labels match neverInjectSelector[0]"
}

@test "the Pod's own choice beats a neverInjectSelector" {
  evaluate "$(settings_with '.neverInjectSelector = [{"matchLabels": {"app": "web"}}]')" "$E2E_DIR/requests/pod-label-true.json"
  expect_allowed_with_reason "the Pod's label sidecar.istio.io/inject is \"true\""
  expect_eq "$(patch_ops)" "$INJECTED_OPS" "patch operations"
}

@test "an already injected Pod is left as it is" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/already-injected.json"
  expect_not_injected "the Pod already has the sidecar (annotation sidecar.istio.io/status is set)"
}

@test "a Deployment is not a Pod" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/deployment-create.json"
  expect_not_injected "the object is a Deployment of API group apps, not a core Pod"
}

@test "an UPDATE is not a creation" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-update.json"
  expect_not_injected "the operation is UPDATE, and sidecars are only injected when a Pod is created"
}

@test "a Pod whose containers are not a list is rejected with the field, not trapped" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/malformed-containers.json"
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 400 "code"
  expect_eq "$(field .status.message)" "invalid admission request: request.object.spec.containers: expected an array, got a string" "message"
}

@test "a container without a name is rejected with the field" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/malformed-container-without-name.json"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.message)" "invalid admission request: request.object.spec.containers[0].name: missing" "message"
}
