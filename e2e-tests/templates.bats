#!/usr/bin/env bats
# Named templates through the compiled module (examples/templates.yaml): the defaults, a Pod that
# chooses with inject.istio.io/templates, a later template customizing an earlier one, and a
# name the policy does not have; typed template values (examples/istio/istio.yaml): integers,
# fields left out and JSON from a Pod's annotations, and a value its field cannot hold.

load helpers

CLI=${CLI_BIN:-${HOME}/.cache/sidecar-injector/target-host/debug/sidecar-injector}

# request TEMPLATES: the example Pod's creation in namespace shop, choosing TEMPLATES (none: "").
request() {
  yq -c '.spec.settings' "$ROOT/examples/templates.yaml" >"$BATS_TEST_TMPDIR/settings.json"
  yq --arg templates "$1" '(if $templates == "" then . else .metadata.annotations["inject.istio.io/templates"] = $templates end)
      | {uid: "e2e-templates", kind: {group: "", version: "v1", kind: "Pod"}, resource: {group: "", version: "v1", resource: "pods"},
         namespace: "shop", operation: "CREATE", userInfo: {username: "system:serviceaccount:kube-system:replicaset-controller"}, object: .}' \
    "$ROOT/examples/pod.yaml" >"$BATS_TEST_TMPDIR/request.json"
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/request.json"
}

status_of() {
  jq -c '.metadata.annotations["sidecar.istio.io/status"] | fromjson | del(.hash)' <<<"$1"
}

@test "templates: a Pod that does not choose gets the defaults, and the status says which" {
  request ""
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(container_names "$pod" initContainers)" "istio-init,istio-proxy" "init containers (native sidecar)"
  expect_eq "$(container_names "$pod" containers)" "web" "containers"
  expect_eq "$(jq -r '.spec.initContainers[1].image' <<<"$pod")" "docker.io/istio/proxyv2:1.27.3" "proxy image"
  expect_eq "$(status_of "$pod")" \
    '{"initContainers":["istio-init","istio-proxy"],"containers":[],"volumes":["istio-envoy"],"imagePullSecrets":[],"templates":["sidecar"],"labels":["security.istio.io/tlsMode"],"annotations":["prometheus.io/path","prometheus.io/port","prometheus.io/scrape"],"metrics":{"container":"istio-proxy"},"revision":"default"}' "status"
}

@test "templates: a Pod that chooses sidecar,debug gets both, the later customizing the earlier's proxy" {
  request "sidecar,debug"
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(container_names "$pod" initContainers)" "istio-init,istio-proxy,debug-shell" "init containers"
  expect_eq "$(jq -c '.spec.initContainers[1] | [.image, .args[4], (.env | map(.name + "=" + (.value // "…")) | join(" ")), .resources.limits.memory, .resources.requests.cpu]' <<<"$pod")" \
    '["docker.io/istio/proxyv2:1.27.3-debug","--proxyLogLevel=warning","POD_NAMESPACE=… ISTIO_META_APP_CONTAINERS=web PROXY_LOG_LEVEL=debug","2Gi","100m"]' \
    "the proxy, customized by debug"
  expect_eq "$(jq -r '.metadata.annotations["sidecar.example/debug"]' <<<"$pod")" "shop-web-7c9d8b5f4-" "debug's annotation, rendered"
  expect_eq "$(status_of "$pod")" \
    '{"initContainers":["istio-init","istio-proxy","debug-shell"],"containers":[],"volumes":["istio-envoy"],"imagePullSecrets":[],"templates":["sidecar","debug"],"labels":["security.istio.io/tlsMode"],"annotations":["prometheus.io/path","prometheus.io/port","prometheus.io/scrape","sidecar.example/debug"],"metrics":{"container":"istio-proxy"},"revision":"default"}' "status"
  # The CLI gives the same Pod, hash included.
  jq .object "$BATS_TEST_TMPDIR/request.json" >"$BATS_TEST_TMPDIR/pod.json"
  run --separate-stderr "$CLI" inject --quiet --settings "$ROOT/examples/templates.yaml" --namespace shop "$BATS_TEST_TMPDIR/pod.json"
  expect_eq "$status" 0 "CLI exit status ($stderr)"
  expect_eq "$(jq -cS . <<<"$output")" "$(jq -cS . <<<"$pod")" "the CLI's Pod"
}

@test "templates: the hash covers the templates applied, in their order" {
  hash_of() {
    request "$1"
    applied "$BATS_TEST_TMPDIR/request.json" | jq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .hash'
  }
  sidecar=$(hash_of "") both=$(hash_of "sidecar,debug") reversed=$(hash_of "debug,sidecar")
  expect_eq "$(hash_of sidecar)" "$sidecar" "the defaults, chosen by name"
  [ "$sidecar" != "$both" ] && [ "$both" != "$reversed" ] && [ "$sidecar" != "$reversed" ] || {
    echo "hashes should differ: $sidecar $both $reversed" >&2
    return 1
  }
}

@test "templates: a name the policy does not have is refused with 400, naming those it has" {
  request "sidecar,tracing"
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 400 "code"
  expect_eq "$(field .status.message)" \
    'invalid admission request: request.object.metadata.annotations.inject.istio.io/templates: no template named "tracing"; the policy has debug, sidecar' "message"
  expect_no_patch
}

# istio_request ANNOTATIONS: the example Pod's creation in namespace shop with ANNOTATIONS (a JSON
# object), under examples/istio/istio.yaml, whose sidecar template has typed values.
istio_request() {
  yq -c '.spec.settings' "$ROOT/examples/istio/istio.yaml" >"$BATS_TEST_TMPDIR/settings.json"
  yq --argjson annotations "$1" '.metadata.annotations = $annotations
      | {uid: "e2e-typed", kind: {group: "", version: "v1", kind: "Pod"}, resource: {group: "", version: "v1", resource: "pods"},
         namespace: "shop", operation: "CREATE", userInfo: {username: "system:serviceaccount:kube-system:replicaset-controller"}, object: .}' \
    "$ROOT/examples/pod.yaml" >"$BATS_TEST_TMPDIR/request.json"
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/request.json"
}

@test "templates: typed values give integers, fields left out and JSON from the Pod's annotations" {
  istio_request '{}'
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  proxy='.spec.initContainers[] | select(.name == "istio-proxy")'
  expect_eq "$(jq -c "$proxy | [.readinessProbe.periodSeconds, .readinessProbe.failureThreshold, .readinessProbe.initialDelaySeconds, .resources]" <<<"$pod")" \
    '[15,4,null,{"limits":{"cpu":"2000m","memory":"1024Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}]' "the profile's values"
  expect_eq "$(jq -c '.spec.initContainers[0].args | index("-c")' <<<"$pod")" null "no -c without its annotation"

  istio_request '{"readiness.status.sidecar.istio.io/periodSeconds": "20", "sidecar.istio.io/proxyCPULimit": "3",
    "traffic.sidecar.istio.io/excludeInterfaces": "eth1",
    "sidecar.istio.io/userVolume": "{\"data\": {\"emptyDir\": {}}}", "sidecar.istio.io/userVolumeMount": "{\"data\": {\"mountPath\": \"/data\"}}"}'
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(jq -c "$proxy | [.readinessProbe.periodSeconds, .resources, .volumeMounts[-1]]" <<<"$pod")" \
    '[20,{"limits":{"cpu":"3"}},{"mountPath":"/data","name":"data"}]' "integer, only the limit set, the mount"
  expect_eq "$(jq -c '.spec.initContainers[0].args | .[index("-c"):index("-c") + 2]' <<<"$pod")" '["-c","eth1"]' "-c and its value"
  expect_eq "$(jq -c '.spec.volumes[-1]' <<<"$pod")" '{"emptyDir":{},"name":"data"}' "the volume"
  expect_eq "$(jq -c '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .volumes[-1]' <<<"$pod")" '"data"' "recorded for uninject"
}

@test "templates: a typed value its field cannot hold is refused with 400, naming the field" {
  istio_request '{"readiness.status.sidecar.istio.io/periodSeconds": "often"}'
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 400 "code"
  expect_eq "$(field .status.message)" \
    "the sidecar cannot be injected into this Pod, because the API server would refuse the result: templates.sidecar.containers[0].readinessProbe.periodSeconds: expected a 32-bit integer, got the string \"often\"; the template string \"{{ none if (pod.metadata.annotations['status.sidecar.istio.io/port'] | default('15020')) == '0' else pod.metadata.annotations['readiness.status.sidecar.istio.io/periodSeconds'] | default(15) }}\" gave it for this Pod" "message"
  expect_no_patch
}
