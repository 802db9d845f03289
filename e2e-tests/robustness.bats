#!/usr/bin/env bats
# Adversarial input through the compiled module: each gets a clear rejection naming what is wrong,
# or a correct acceptance; never a trap (which the policy server would turn into a failure of
# every Pod creation in the namespace).

load helpers

expect_rejected() {
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" "$2" "code"
  expect_eq "$(field .status.message)" "$1" "message"
  expect_no_patch
}

# raw PAYLOAD_FILE: the guest's own answer to bytes the policy server would never send. kwctl
# cannot send them (it reads the request first), so these run on policy-runner wherever kwctl is.
raw() {
  run --separate-stderr "$RUNNER_BIN/policy-runner" --raw-payload "$1" "$POLICY"
  expect_eq "$status" 0 "exit status (3 is a guest failure: $stderr)"
}

@test "a payload that is not JSON" {
  raw "$E2E_DIR/payloads/truncated.json"
  expect_eq "$(field .accepted)" false "accepted"
  expect_eq "$(field .code)" 400 "code"
  expect_eq "$(field .message)" "the admission request is not valid JSON: EOF while parsing an object at line 1 column 47" "message"
}

# raw_request REQUEST_FILE: the guest's own answer to that request with the sidecar settings, sent
# as raw bytes: for requests no host can send, such as JSON nested deeper than serde_json reads.
raw_request() {
  jq -c --slurpfile settings "$E2E_DIR/settings/sidecar.json" '{request: ., settings: $settings[0]}' "$1" >"$BATS_TEST_TMPDIR/payload.json"
  raw "$BATS_TEST_TMPDIR/payload.json"
}

# A value nested 200 levels deep, deeper than the hosts' JSON parser (and ours) goes.
DEEP=$(printf '[%.0s' $(seq 200))$(printf ']%.0s' $(seq 200))

@test "a Pod field the policy does not read may be nested deeper than the JSON parser goes: it is carried" {
  jq --argjson deep "$DEEP" '.object.spec.futureField = $deep' "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/request.json"
  raw_request "$BATS_TEST_TMPDIR/request.json"
  expect_eq "$(field .accepted)" true "accepted"
  expect_eq "$(field '.mutated_object.spec.futureField | tojson')" "$DEEP" "carried as it was"
}

@test "Pod labels nested deeper than the JSON parser goes are refused, naming them" {
  jq --argjson deep "$DEEP" '.object.metadata.labels = {"x": $deep}' "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/request.json"
  raw_request "$BATS_TEST_TMPDIR/request.json"
  expect_eq "$(field .accepted)" false "accepted"
  expect_eq "$(field .code)" 400 "code"
  expect_eq "$(field .message)" "invalid admission request: request.object.metadata.labels: nested deeper than the JSON parser goes (128 levels)" "message"
}

@test "a metadata field the policy does not read may be nested deeper than the JSON parser goes: it is carried" {
  jq --argjson deep "$DEEP" '.object.metadata.futureField = $deep' "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/request.json"
  raw_request "$BATS_TEST_TMPDIR/request.json"
  expect_eq "$(field .accepted)" true "accepted"
  expect_eq "$(field '.mutated_object.metadata.futureField | tojson')" "$DEEP" "carried as it was"
}

@test "a request without an object" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/no-object.json"
  expect_rejected "invalid admission request: request.object: expected an object, got null" 400
}

@test "an object that is an array" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/object-array.json"
  expect_rejected "invalid admission request: request.object: expected an object, got an array" 400
}

@test "an object that is a string" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/object-string.json"
  expect_rejected "invalid admission request: request.object: expected an object, got a string" 400
}

@test "a Pod with spec: null" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/spec-null.json"
  expect_rejected "invalid admission request: request.object.spec: expected an object, got null" 400
}

@test "two containers with one name" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/duplicate-container-names.json"
  expect_rejected "invalid admission request: request.object.spec.containers[1].name: \"app\" is the name of another container of the Pod" 400
}

@test "an unknown field nested 64 levels deep is carried through" {
  deep=$(printf '{"a":%.0s' $(seq 63))'"bottom"'$(printf '}%.0s' $(seq 63))
  jq --argjson deep "$deep" '.object.spec.futureField = $deep' "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/request.json"
  evaluate "$E2E_DIR/settings/sidecar.json" "$BATS_TEST_TMPDIR/request.json"
  expect_eq "$(patch_ops)" "add /metadata/annotations
add /metadata/labels/mesh
add /spec/containers/1
add /spec/initContainers
add /spec/volumes" "patch operations"
  pod=$(applied "$BATS_TEST_TMPDIR/request.json")
  expect_eq "$(jq '[paths] | map(length) | max' <<<"$(jq .spec.futureField <<<"$pod")")" 63 "depth"
}

@test "very long strings are carried through and rendered" {
  head -c 1048576 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/long.txt"
  jq --rawfile long "$BATS_TEST_TMPDIR/long.txt" '.object.metadata.annotations = {"blob": $long} | .object.spec.containers[0].args = [$long]' \
    "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/request.json"
  settings=$(settings_with '.template.containers[0].args = ["{{ pod.metadata.annotations.blob | length }}"]')
  evaluate "$settings" "$BATS_TEST_TMPDIR/request.json"
  expect_eq "$(field .allowed)" true "allowed"
  expect_eq "$(patch | jq -c '.[] | select(.path == "/spec/containers/1") | .value.args')" '["1048576"]' "rendered"
  expect_eq "$(patch_ops | grep -c /spec/containers/0)" 0 "the Pod's container is untouched"
}

@test "non-ASCII names and values" {
  settings=$(settings_with '.template.containers[0].args = ["--pod={{ pod.metadata.name }}", "--team={{ pod.metadata.labels.team }}"] | .template.annotations = {"sidecar.example/for": "{{ pod.spec.containers[0].name }} ✓"}')
  evaluate "$settings" "$E2E_DIR/requests/non-ascii.json"
  expect_eq "$(field .allowed)" true "allowed"
  pod=$(applied "$E2E_DIR/requests/non-ascii.json")
  expect_eq "$(jq -c '.spec.containers[1].args' <<<"$pod")" '["--pod=ウェブ-1","--team=équipe"]' "args"
  expect_eq "$(jq -r '.metadata.annotations["sidecar.example/for"]' <<<"$pod")" "приложение ✓" "annotation"
  expect_eq "$(jq -r '.metadata.annotations.description' <<<"$pod")" "服务 🚀" "the Pod's annotation"
}

@test "annotation values cannot break out of the template string they fill" {
  settings=$(settings_with '.template.containers[0].args = ["--cpu={{ pod.metadata.annotations.cpu }}", "{{ pod.metadata.annotations.yaml }}", "{{ pod.metadata.annotations.jinja }}"]')
  evaluate "$settings" "$E2E_DIR/requests/template-breakout.json"
  sidecar=$(patch | jq -c '.[] | select(.path == "/spec/containers/1") | .value')
  expect_eq "$(jq -c '.args' <<<"$sidecar")" \
    "$(jq -c '.object.metadata.annotations | ["--cpu=" + .cpu, .yaml, .jinja]' "$E2E_DIR/requests/template-breakout.json")" "args hold the values verbatim"
  expect_eq "$(jq -c 'keys' <<<"$sidecar")" '["args","env","image","name","resources","volumeMounts"]' "no field was added"
}

@test "a template string that fails for this Pod is a rejection naming the string" {
  evaluate "$(settings_with '.template.annotations = {"x": "{{ pod.metadata.name | int }}"}')" "$E2E_DIR/requests/pod-no-override.json"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 500 "code"
  [[ "$(field .status.message)" == "the sidecar template could not be rendered for this Pod: template.annotations.x: "* ]]
}

@test "a Pod of about 1.5 MB, the API server's largest, is injected" {
  jq '.object.spec.containers = [range(60) as $i | {name: "app-\($i)", image: "registry.example/app:\($i)",
      env: [range(400) as $j | {name: "VAR_\($i)_\($j)", value: "value-\($j)-abcdefghijklmnopqrstuvwxyz"}]}]' \
    "$E2E_DIR/requests/pod-no-override.json" >"$BATS_TEST_TMPDIR/request.json"
  size=$(stat -c %s "$BATS_TEST_TMPDIR/request.json")
  [ "$size" -gt 1400000 ]
  evaluate "$E2E_DIR/settings/sidecar.json" "$BATS_TEST_TMPDIR/request.json"
  expect_eq "$(patch_ops)" "add /metadata/annotations
add /metadata/labels/mesh
add /spec/containers/60
add /spec/initContainers
add /spec/volumes" "patch operations"
}
