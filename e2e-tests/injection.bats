#!/usr/bin/env bats
# What the compiled module injects, checked on the Pod the API server would get: the request's
# object with the returned JSONPatch applied (and validated as a Kubernetes Pod).

load helpers

@test "a Deployment's Pod: no name, no namespace in metadata, the request's namespace is used" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/deployment-pod.json"
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$E2E_DIR/requests/deployment-pod.json")
  expect_eq "$(jq -c '.spec.containers[1].args' <<<"$pod")" '["--pod=","--namespace=shop"]' "rendered args"
  expect_eq "$(jq -r '.metadata.generateName' <<<"$pod")" "web-6d4cf56db6-" "generateName"
  expect_eq "$(jq -cS '.metadata.ownerReferences' <<<"$pod")" "$(jq -cS '.object.metadata.ownerReferences' "$E2E_DIR/requests/deployment-pod.json")" "ownerReferences"
}

@test "the status annotation records what was injected, the revision's name and the hash" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-no-override.json"
  status=$(patch | jq -r '.[] | select(.path == "/metadata/annotations") | .value["sidecar.istio.io/status"]')
  expect_eq "$(jq -c 'del(.hash)' <<<"$status")" '{"initContainers":["mesh-init"],"containers":["sidecar"],"volumes":["sidecar-data"],"imagePullSecrets":[],"labels":["mesh"],"revision":"default"}' "status"
  [[ $(jq -r .hash <<<"$status") =~ ^[0-9a-f]{16}$ ]]
}

@test "the status annotation names the revision the settings name, and its hash stays" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-no-override.json"
  default=$(patch | jq -r '.[] | select(.path == "/metadata/annotations") | .value["sidecar.istio.io/status"]')
  jq '. + {revision: "canary"}' "$E2E_DIR/settings/sidecar.json" >"$BATS_TEST_TMPDIR/settings.json"
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$E2E_DIR/requests/pod-no-override.json"
  canary=$(patch | jq -r '.[] | select(.path == "/metadata/annotations") | .value["sidecar.istio.io/status"]')
  expect_eq "$(jq -r .revision <<<"$canary")" canary "revision"
  expect_eq "$(jq -r .hash <<<"$canary")" "$(jq -r .hash <<<"$default")" "hash"
}

@test "the exact sidecar is added after the Pod's container" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-no-override.json"
  # Compared with keys sorted: the host serializes objects with sorted keys, and key order is no
  # part of a Kubernetes object's meaning. List order is compared as it is.
  expect_eq "$(patch | jq -cS '.[] | select(.path == "/spec/containers/1") | .value')" \
    "$(jq -cS . <<<'{"name":"sidecar","image":"registry.example/sidecar:1.0","args":["--pod=web","--namespace=shop"],"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"MODE","value":"sidecar"}],"resources":{"requests":{"cpu":"100m"},"limits":{"memory":"128Mi"}},"volumeMounts":[{"name":"sidecar-data","mountPath":"/var/lib/sidecar"}]}')" \
    "sidecar"
  expect_eq "$(patch | jq -cS '.[] | select(.path == "/spec/volumes") | .value')" '[{"emptyDir":{},"name":"sidecar-data"}]' "volumes"
}

@test "injecting the injected Pod again changes nothing" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-no-override.json"
  pod=$(applied "$E2E_DIR/requests/pod-no-override.json")
  jq --argjson pod "$pod" '.object = $pod' "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/again.json"
  evaluate "$E2E_DIR/settings/sidecar.json" "$BATS_TEST_TMPDIR/again.json"
  expect_allowed_with_reason "the Pod already has the sidecar (annotation sidecar.istio.io/status is set)"
  expect_no_patch
}

@test "a Pod container named like the sidecar customizes it" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/customized-sidecar.json"
  expect_eq "$(field .patchType)" JSONPatch "patchType"
  pod=$(applied "$E2E_DIR/requests/customized-sidecar.json")
  expect_eq "$(container_names "$pod" containers)" "app,sidecar" "containers"
  expect_eq "$(jq -c '.spec.containers[1].image' <<<"$pod")" '"registry.example/sidecar:debug"' "image from the Pod"
  expect_eq "$(jq -c '.spec.containers[1].env' <<<"$pod")" '[{"name":"LOG_LEVEL","value":"debug"},{"name":"MODE","value":"sidecar"},{"name":"EXTRA","value":"1"}]' "env merged by name"
  expect_eq "$(jq -cS '.spec.containers[1].resources' <<<"$pod")" '{"limits":{"memory":"256Mi"},"requests":{"cpu":"100m"}}' "resources merged"
  expect_eq "$(jq -c '.spec.containers[1].args' <<<"$pod")" '["--pod=web","--namespace=shop"]' "args from the template"
}

@test "a Pod container named like the sidecar with image: auto keeps the template's image" {
  request=$BATS_TEST_TMPDIR/auto.json
  jq '(.object.spec.containers[] | select(.name == "sidecar") | .image) = "auto"' "$E2E_DIR/requests/customized-sidecar.json" >"$request"
  evaluate "$E2E_DIR/settings/sidecar.json" "$request"
  pod=$(applied "$request")
  expect_eq "$(jq -c '[.spec.containers[] | select(.name == "sidecar") | .image, .resources.limits.memory]' <<<"$pod")" '["registry.example/sidecar:1.0","256Mi"]' "image from the template, resources from the Pod"
}

@test "native sidecars: init containers of the template, then the sidecar, then the Pod's" {
  evaluate "$(settings_with '.nativeSidecars = true')" "$E2E_DIR/requests/pod-with-init-container.json"
  pod=$(applied "$E2E_DIR/requests/pod-with-init-container.json")
  expect_eq "$(container_names "$pod" initContainers)" "mesh-init,sidecar,migrate" "init containers"
  expect_eq "$(container_names "$pod" containers)" "app" "containers"
  expect_eq "$(jq -r '.spec.initContainers[1].restartPolicy' <<<"$pod")" Always "restartPolicy"
  expect_eq "$(jq -r '.spec.initContainers[0].restartPolicy // "none"' <<<"$pod")" none "init container restartPolicy"
}

@test "networkInitContainers: without native sidecars, the network is set up after the Pod's own init containers" {
  evaluate "$(settings_with '.networkInitContainers = ["mesh-init"]')" "$E2E_DIR/requests/pod-with-init-container.json"
  pod=$(applied "$E2E_DIR/requests/pod-with-init-container.json")
  expect_eq "$(container_names "$pod" initContainers)" "migrate,mesh-init" "init containers"
  expect_eq "$(container_names "$pod" containers)" "app,sidecar" "containers"
  # With native sidecars the proxy runs before the Pod's own, so the network is set up first.
  evaluate "$(settings_with '.networkInitContainers = ["mesh-init"] | .nativeSidecars = true')" "$E2E_DIR/requests/pod-with-init-container.json"
  pod=$(applied "$E2E_DIR/requests/pod-with-init-container.json")
  expect_eq "$(container_names "$pod" initContainers)" "mesh-init,sidecar,migrate" "init containers, native"
  # A Pod injected before the setting keeps its order: it is not injected again.
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-with-init-container.json"
  pod=$(applied "$E2E_DIR/requests/pod-with-init-container.json")
  expect_eq "$(container_names "$pod" initContainers)" "mesh-init,migrate" "init containers before the setting"
  jq --argjson pod "$pod" '.object = $pod' "$E2E_DIR/requests/pod-with-init-container.json" >"$BATS_TEST_TMPDIR/again.json"
  evaluate "$(settings_with '.networkInitContainers = ["mesh-init"]')" "$BATS_TEST_TMPDIR/again.json"
  expect_allowed_with_reason "the Pod already has the sidecar (annotation sidecar.istio.io/status is set)"
  expect_no_patch
}

@test "a Pod chooses its placement: sidecar.istio.io/nativeSidecar and proxy.istio.io/config" {
  request=$BATS_TEST_TMPDIR/native.json
  jq '.object.metadata.annotations = {"sidecar.istio.io/nativeSidecar": "true"}' "$E2E_DIR/requests/pod-with-init-container.json" >"$request"
  evaluate "$(settings_with '.networkInitContainers = ["mesh-init"]')" "$request"
  pod=$(applied "$request")
  expect_eq "$(container_names "$pod" initContainers)" "mesh-init,sidecar,migrate" "init containers, native by the Pod"
  expect_eq "$(jq -r '.spec.initContainers[1].restartPolicy' <<<"$pod")" Always "restartPolicy"
  jq '.object.metadata.annotations = {"proxy.istio.io/config": "holdApplicationUntilProxyStarts: true\n"}' "$E2E_DIR/requests/pod-with-init-container.json" >"$request"
  evaluate "$E2E_DIR/settings/sidecar.json" "$request"
  pod=$(applied "$request")
  expect_eq "$(container_names "$pod" containers)" "sidecar,app" "containers, held by the Pod"
  # A proxy config this policy cannot read for sure refuses the Pod, saying how to write it.
  jq '.object.metadata.annotations = {"proxy.istio.io/config": "{holdApplicationUntilProxyStarts: true}"}' "$E2E_DIR/requests/pod-with-init-container.json" >"$request"
  evaluate "$E2E_DIR/settings/sidecar.json" "$request"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 400 "code"
  [[ $(field .status.message) == *"request.object.metadata.annotations.proxy.istio.io/config: holdApplicationUntilProxyStarts is set in a form this policy does not read"* ]]
}

@test "prometheusMerge: the Pod's scrape settings go to the agent, its annotations point at the agent" {
  merge='.prometheusMerge = {"container": "sidecar", "port": 15020, "reservedPorts": {"15090": "Envoy Prometheus"}}'
  request=$BATS_TEST_TMPDIR/scraped.json
  jq '.object.metadata.annotations = {"prometheus.io/scrape": "true", "prometheus-io/port": "8080"}' "$E2E_DIR/requests/pod-no-override.json" >"$request"
  evaluate "$(settings_with "$merge")" "$request"
  pod=$(applied "$request")
  expect_eq "$(jq -S -c '.metadata.annotations | del(."sidecar.istio.io/status")' <<<"$pod")" \
    '{"prometheus.io/path":"/stats/prometheus","prometheus.io/port":"15020","prometheus.io/scrape":"true"}' "annotations"
  expect_eq "$(jq -c '.spec.containers[] | select(.name == "sidecar") | .env[-1]' <<<"$pod")" \
    '{"name":"ISTIO_PROMETHEUS_ANNOTATIONS","value":"{\"scrape\":\"true\",\"path\":\"\",\"port\":\"8080\"}"}' "env"
  expect_eq "$(jq -c '.metadata.annotations."sidecar.istio.io/status" | fromjson | .metrics' <<<"$pod")" \
    '{"container":"sidecar","env":"ISTIO_PROMETHEUS_ANNOTATIONS","replaced":{"prometheus-io/port":"8080","prometheus.io/scrape":"true"}}' "status"
  # A Pod that is not scraped keeps its annotations.
  jq '.object.metadata.annotations = {"prometheus.io/scrape": "false", "prometheus.io/port": "8080"}' "$E2E_DIR/requests/pod-no-override.json" >"$request"
  evaluate "$(settings_with "$merge")" "$request"
  pod=$(applied "$request")
  expect_eq "$(jq -r '.metadata.annotations."prometheus.io/port"' <<<"$pod")" 8080 "port kept"
  # A reserved port refuses the Pod, naming the annotation and why.
  jq '.object.metadata.annotations = {"prometheus.io/port": "15090"}' "$E2E_DIR/requests/pod-no-override.json" >"$request"
  evaluate "$(settings_with "$merge")" "$request"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 400 "code"
  [[ $(field .status.message) == *"request.object.metadata.annotations.prometheus.io/port: port 15090 is reserved for the proxy (Envoy Prometheus) and cannot be scraped"* ]]
}

@test "holdApplicationUntilProxyStarts puts the sidecar first" {
  evaluate "$(settings_with '.holdApplicationUntilProxyStarts = true')" "$E2E_DIR/requests/pod-no-override.json"
  pod=$(applied "$E2E_DIR/requests/pod-no-override.json")
  expect_eq "$(container_names "$pod" containers)" "sidecar,app" "containers"
}

@test "fields unknown to Kubernetes survive injection" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-with-future-fields.json"
  # The patch touches nothing of the Pod's own.
  expect_eq "$(patch_ops)" 'add /metadata/annotations
add /metadata/labels/mesh
add /spec/containers/1
add /spec/initContainers
add /spec/volumes' "patch operations"
  pod=$(applied "$E2E_DIR/requests/pod-with-future-fields.json")
  expect_eq "$(jq -c '.spec.futureField' <<<"$pod")" '{"enabled":true}' "spec.futureField"
  expect_eq "$(jq -cS '.spec.containers[0]' <<<"$pod")" "$(jq -cS '.object.spec.containers[0]' "$E2E_DIR/requests/pod-with-future-fields.json")" "the Pod's container"
}

@test "a volume name the Pod already uses stays the Pod's" {
  jq '.object.spec.volumes = [{"name": "sidecar-data", "hostPath": {"path": "/data"}}]' "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/request.json"
  evaluate "$E2E_DIR/settings/sidecar.json" "$BATS_TEST_TMPDIR/request.json"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(jq -cS '.spec.volumes' <<<"$pod")" '[{"hostPath":{"path":"/data"},"name":"sidecar-data"}]' "volumes"
}
