#!/usr/bin/env bats
# Probe rewriting through the compiled module, with the opt-in example's settings (probeRewrite:
# istio-proxy, status port 15020): the probes the kubelet gets, the originals the agent gets, and
# the Pod's annotations that turn it off, move the port, or are refused.

load helpers

CLI=${CLI_BIN:-${HOME}/.cache/sidecar-injector/target-host/debug/sidecar-injector}

# request ANNOTATIONS_JSON: the creation in namespace shop of a Pod with an HTTPS readiness probe
# on a named port, a TCP liveness probe, an exec startup probe and a gRPC worker, annotated so.
request() {
  yq -c '.spec.settings' "$ROOT/examples/opt-in.yaml" >"$BATS_TEST_TMPDIR/settings.json"
  jq -n --argjson annotations "$1" '{
    uid: "e2e-probes", kind: {group: "", version: "v1", kind: "Pod"}, resource: {group: "", version: "v1", resource: "pods"},
    namespace: "shop", operation: "CREATE", userInfo: {username: "system:serviceaccount:kube-system:replicaset-controller"},
    object: {apiVersion: "v1", kind: "Pod", metadata: {name: "web-1", labels: {app: "web"}, annotations: $annotations},
      spec: {containers: [
        {name: "web", image: "registry.example/web:1", ports: [{name: "https", containerPort: 8443}],
         readinessProbe: {httpGet: {path: "/ready", port: "https", scheme: "HTTPS"}, periodSeconds: 5, timeoutSeconds: 3},
         livenessProbe: {tcpSocket: {port: 8443}, failureThreshold: 4},
         startupProbe: {exec: {command: ["cat", "/tmp/started"]}}},
        {name: "worker", image: "registry.example/worker:1", livenessProbe: {grpc: {port: 9090}}}]}}}' \
    >"$BATS_TEST_TMPDIR/request.json"
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/request.json"
}

# expect_cli_gives REQUEST POD_JSON: the CLI injects REQUEST's Pod (written to pod.json) into POD_JSON.
expect_cli_gives() {
  jq .object "$1" >"$BATS_TEST_TMPDIR/pod.json"
  run --separate-stderr "$CLI" inject --quiet --settings "$ROOT/examples/opt-in.yaml" --namespace shop "$BATS_TEST_TMPDIR/pod.json"
  expect_eq "$status" 0 "CLI exit status ($stderr)"
  expect_eq "$(jq -cS . <<<"$output")" "$(jq -cS . <<<"$2")" "the CLI's Pod"
}

probe() {
  jq -cS --arg c "$2" --arg p "$3" '.spec.containers[] | select(.name == $c) | .[$p]' <<<"$1"
}

agent_env() {
  jq -r '.spec.containers[] | select(.name == "istio-proxy") | .env[] | select(.name == "ISTIO_KUBE_APP_PROBERS") | .value' <<<"$1"
}

@test "probes: HTTP, TCP and gRPC probes go to the status port, exec stays, every other field is kept" {
  request '{}'
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(probe "$pod" web readinessProbe)" \
    '{"httpGet":{"path":"/app-health/web/readyz","port":15020,"scheme":"HTTP"},"periodSeconds":5,"timeoutSeconds":3}' "readiness"
  expect_eq "$(probe "$pod" web livenessProbe)" \
    '{"failureThreshold":4,"httpGet":{"path":"/app-health/web/livez","port":15020}}' "liveness"
  expect_eq "$(probe "$pod" web startupProbe)" '{"exec":{"command":["cat","/tmp/started"]}}' "exec startup"
  expect_eq "$(probe "$pod" worker livenessProbe)" \
    '{"httpGet":{"path":"/app-health/worker/livez","port":15020}}' "gRPC liveness"
  # Istio's shape, keys sorted, the named port resolved.
  expect_eq "$(agent_env "$pod")" \
    '{"/app-health/web/livez":{"tcpSocket":{"port":8443}},"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8443,"scheme":"HTTPS"},"timeoutSeconds":3},"/app-health/worker/livez":{"grpc":{"port":9090,"service":null}}}' \
    "the originals, for the agent"
  expect_eq "$(jq -c '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .probes' <<<"$pod")" \
    '{"container":"istio-proxy","env":"ISTIO_KUBE_APP_PROBERS","statusPort":15020,"rewritten":["/app-health/web/livez","/app-health/web/readyz","/app-health/worker/livez"],"portNames":{"/app-health/web/readyz":"https"}}' \
    "the status records the rewrite"
  expect_cli_gives "$BATS_TEST_TMPDIR/request.json" "$pod"
}

@test "probes: lifecycle hooks with httpGet or tcpSocket go to the agent too, exec and sleep stay, uninject puts them back" {
  request '{}'
  jq '.object.spec.containers[0].lifecycle = {preStop: {httpGet: {path: "/drain", port: "https", scheme: "HTTPS"}}, postStart: {tcpSocket: {port: 8443}}}
    | .object.spec.containers[1].lifecycle = {preStop: {exec: {command: ["drain"]}}, postStart: {sleep: {seconds: 2}}}' \
    "$BATS_TEST_TMPDIR/request.json" >"$BATS_TEST_TMPDIR/hooks.json"
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$BATS_TEST_TMPDIR/hooks.json"
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  pod=$(applied "$BATS_TEST_TMPDIR/hooks.json")
  expect_eq "$(probe "$pod" web lifecycle)" \
    '{"postStart":{"httpGet":{"path":"/app-lifecycle/web/poststartz","port":15020}},"preStop":{"httpGet":{"path":"/app-lifecycle/web/prestopz","port":15020,"scheme":"HTTP"}}}' \
    "web's hooks"
  expect_eq "$(probe "$pod" worker lifecycle)" '{"postStart":{"sleep":{"seconds":2}},"preStop":{"exec":{"command":["drain"]}}}' "worker's hooks"
  # As Istio writes them: keyed by path, sorted, the named port resolved, no timeout.
  expect_eq "$(agent_env "$pod" | jq -c 'with_entries(select(.key | startswith("/app-lifecycle/")))')" \
    '{"/app-lifecycle/web/poststartz":{"tcpSocket":{"port":8443}},"/app-lifecycle/web/prestopz":{"httpGet":{"path":"/drain","port":8443,"scheme":"HTTPS"}}}' \
    "the originals, for the agent"
  # The CLI gives the same Pod, and takes the sidecar out with the hooks as they were.
  expect_cli_gives "$BATS_TEST_TMPDIR/hooks.json" "$pod"
  run --separate-stderr "$CLI" uninject <<<"$pod"
  expect_eq "$status" 0 "uninject exit status ($stderr)"
  expect_eq "$(yq -cS '.spec.containers' <<<"$output")" \
    "$(jq -cS .spec.containers "$BATS_TEST_TMPDIR/pod.json")" "the containers after uninject"
}

@test "probes: rewriteAppHTTPProbers \"false\" and status port \"0\" leave them as they are" {
  for annotations in '{"sidecar.istio.io/rewriteAppHTTPProbers": "false"}' '{"status.sidecar.istio.io/port": "0"}'; do
    request "$annotations"
    pod=$(applied "$BATS_TEST_TMPDIR/request.json")
    expect_eq "$(jq -cS '[.spec.containers[] | select(.name != "istio-proxy")]' <<<"$pod")" \
      "$(jq -cS '.object.spec.containers' "$BATS_TEST_TMPDIR/request.json")" "the Pod's containers ($annotations)"
    expect_eq "$(agent_env "$pod")" "" "no originals for the agent ($annotations)"
    expect_eq "$(jq -c '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .probes' <<<"$pod")" null "status ($annotations)"
  done
}

@test "probes: status.sidecar.istio.io/port moves them to another port" {
  request '{"status.sidecar.istio.io/port": "15999"}'
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(probe "$pod" web readinessProbe | jq -c .httpGet.port)" 15999 "readiness port"
}

@test "probes: a status port annotation that is not a port is refused with 400" {
  request '{"status.sidecar.istio.io/port": "15020a"}'
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 400 "code"
  expect_eq "$(field .status.message)" \
    'invalid admission request: request.object.metadata.annotations.status.sidecar.istio.io/port: expected a port number from 1 to 65535, or "0" to leave the probes as they are; got "15020a"' "message"
  expect_no_patch
}
