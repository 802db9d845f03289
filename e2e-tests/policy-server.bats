#!/usr/bin/env bats
# The annotated module in the real Kubewarden policy-server, end to end: pushed to a local OCI
# registry, served over HTTPS with the opt-in example's settings, and asked with AdmissionReviews
# as the API server asks. One policy-server serves the whole file:
#   enabled           policy: enabled,  module pulled from the registry (registry://)
#   disabled          policy: disabled, module read from the file (file://)
#   failing-template  policy: enabled, plus an annotation whose template fails for a Pod whose
#                     name is not a number (a 500 rejection, which the policy logs at warn level)
#   templates         the named-templates example (examples/templates.yaml)

load helpers
load hosts
load policy-server

setup_file() {
  prepare_policy_server || return 1
  [ -z "${PS_SKIP:-}" ] || return 0
  start_registry "$PS_DIR/registry"
  export REGISTRY REGISTRY_PID SOURCES
  export MODULE_URI=registry://$REGISTRY/sidecar-injector:v0.1.0
  kwctl push --sources-path "$SOURCES" "$POLICY" "$MODULE_URI" >"$PS_DIR/push.log" 2>&1 || {
    cat "$PS_DIR/push.log" >&2
    return 1
  }
  {
    policies_entry enabled "$MODULE_URI" "$(opt_in_settings enabled)"
    policies_entry disabled "file://$POLICY" "$(opt_in_settings disabled)"
    policies_entry failing-template "file://$POLICY" \
      "$(opt_in_settings enabled | jq -c '.template.annotations.failing = "{{ pod.metadata.name | int }}"')"
    policies_entry templates "file://$POLICY" "$(yq -c '.spec.settings' "$ROOT/examples/templates.yaml")"
  } >"$PS_DIR/policies.yml"
  start_policy_server "$PS_DIR/policies.yml"
}

setup() {
  skip_without_policy_server
}

teardown_file() {
  stop_process "${PS_PID:-}"
  stop_process "${REGISTRY_PID:-}"
}

teardown() {
  stop_process "${REFUSED_PID:-}"
  stop_process "${DEBUG_PID:-}"
}

@test "policy-server loads the module from the registry and from the file" {
  sha=$(sha256sum "$POLICY" | cut -d' ' -f1)
  pulled=$PS_DIR/downloads/registry/${MODULE_URI#registry://}
  # One line per module URI: the file's two policies share one (named after either).
  downloads=$(jq -R -c 'try fromjson catch empty | select(.fields.message == "policy download") | .fields' "$PS_LOG" |
    jq -s -c 'sort_by(.path) | map({path, sha256sum, mutating, policy: (if .name == "enabled" then "enabled" elif .name == "disabled" or .name == "failing-template" or .name == "templates" then "from the file" else .name end)})')
  expect_eq "$downloads" "$(jq -nc --arg sha "$sha" --arg registry "$pulled" --arg file "$POLICY" '[
    {path: $file, sha256sum: $sha, mutating: true, policy: "from the file"},
    {path: $registry, sha256sum: $sha, mutating: true, policy: "enabled"}] | sort_by(.path)')" "downloaded modules"
  expect_eq "$(sha256sum <"$pulled" | cut -d' ' -f1)" "$sha" "module pulled from the registry"
}

@test "truth table: policy enabled, label \"true\": injected" {
  request=$(review "$(with_label true)")
  post enabled "$request"
  expect_injected "$request" "the Pod's label sidecar.istio.io/inject is \"true\""
}

@test "truth table: policy enabled, label \"false\": not injected" {
  request=$(review "$(with_label false)")
  post enabled "$request"
  expect_not_injected "the Pod's label sidecar.istio.io/inject is \"false\""
}

@test "truth table: policy enabled, no override: injected" {
  request=$(review)
  post enabled "$request"
  expect_injected "$request" "the Pod does not choose, and the policy's default is enabled"
}

@test "truth table: policy disabled, label \"true\": injected" {
  request=$(review "$(with_label true)")
  post disabled "$request"
  expect_injected "$request" "the Pod's label sidecar.istio.io/inject is \"true\""
}

@test "truth table: policy disabled, label \"false\": not injected" {
  request=$(review "$(with_label false)")
  post disabled "$request"
  expect_not_injected "the Pod's label sidecar.istio.io/inject is \"false\""
}

@test "truth table: policy disabled, no override: not injected" {
  request=$(review)
  post disabled "$request"
  expect_not_injected "the Pod does not choose, and the policy's default is disabled"
}

@test "security rule: a Pod in kube-system that asks for the sidecar gets none, and a warning" {
  post enabled "$(review "$(with_label true) | .request.namespace = \"kube-system\" | .request.object.metadata.namespace = \"kube-system\"")"
  reason="namespace kube-system is a Kubernetes system namespace, where sidecars are never injected"
  expect_not_injected "$reason" \
    "the Pod asks for the sidecar with its label sidecar.istio.io/inject is \"true\", but none was injected: $reason"
}

@test "security rule: a Pod in kube-public that asks for the sidecar gets none, and a warning" {
  post enabled "$(review "$(with_label true) | .request.namespace = \"kube-public\" | .request.object.metadata.namespace = \"kube-public\"")"
  reason="namespace kube-public is a Kubernetes system namespace, where sidecars are never injected"
  expect_not_injected "$reason" \
    "the Pod asks for the sidecar with its label sidecar.istio.io/inject is \"true\", but none was injected: $reason"
}

@test "security rule: a Pod on the host's network that asks for the sidecar gets none, and a warning" {
  post enabled "$(review "$(with_label true) | .request.object.spec.hostNetwork = true")"
  reason="the Pod uses the node's network (spec.hostNetwork: true), where a sidecar would capture the node's traffic"
  expect_not_injected "$reason" \
    "the Pod asks for the sidecar with its label sidecar.istio.io/inject is \"true\", but none was injected: $reason"
}

@test "an already injected Pod is accepted unchanged" {
  post enabled "$(review "$(with_label true) | .request.object.metadata.annotations[\"sidecar.istio.io/status\"] = \"{}\"")"
  expect_not_injected "the Pod already has the sidecar (annotation sidecar.istio.io/status is set)"
}

@test "a Pod whose spec.containers is not a list is rejected with 400, naming the field" {
  post enabled "$(review '.request.object.spec.containers = "app"')"
  expect_rejected 400 "invalid admission request: request.object.spec.containers: expected an array, got a string"
}

@test "a container without a name is rejected with 400, naming the field" {
  post enabled "$(review 'del(.request.object.spec.containers[1].name)')"
  expect_rejected 400 "invalid admission request: request.object.spec.containers[1].name: missing"
}

@test "parity: the policy server injects what kwctl injects, with the same hash" {
  request=$(review "$(with_label true)")
  post enabled "$request"
  from_registry=$(applied "$request")
  post disabled "$request"
  from_file=$(applied "$request")
  # kwctl with the same settings, read from YAML as a person writes them.
  yq -y '.spec.settings' "$ROOT/examples/opt-in.yaml" >"$BATS_TEST_TMPDIR/settings.yaml"
  run --separate-stderr kwctl run --settings-path "$BATS_TEST_TMPDIR/settings.yaml" --request-path "$request" "$POLICY"
  expect_eq "$status" 0 "kwctl's exit status"
  expect_eq "$(field .allowed)" true "kwctl: allowed"
  from_kwctl=$(applied "$request")
  hash_of() {
    jq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .hash' <<<"$1"
  }
  [[ "$(hash_of "$from_kwctl")" =~ ^[0-9a-f]{16}$ ]] || {
    echo "kwctl's hash is not 16 hex digits: $(hash_of "$from_kwctl")" >&2
    return 1
  }
  expect_eq "$(hash_of "$from_registry")" "$(hash_of "$from_kwctl")" "hash (enabled, from the registry)"
  expect_eq "$(hash_of "$from_file")" "$(hash_of "$from_kwctl")" "hash (disabled, from the file)"
  expect_eq "$(jq -S -c . <<<"$from_registry")" "$(jq -S -c . <<<"$from_kwctl")" "Pod (enabled, from the registry)"
  expect_eq "$(jq -S -c . <<<"$from_file")" "$(jq -S -c . <<<"$from_kwctl")" "Pod (disabled, from the file)"
}

@test "a template that fails for the Pod is rejected with 500, and the policy's warning is logged at info" {
  wait_log_quiet
  before=$(log_lines)
  post failing-template "$(review)"
  message="the sidecar template could not be rendered for this Pod: template.annotations.failing: invalid operation: invalid float literal (in <expression>:1)"
  expect_rejected 500 "$message"
  wait_until 10 request_logged "$before" failing-template
  # The positive control of the next test: the policy's own events reach this log at info.
  expect_eq "$(log_after "$before" | jq -s -c '[.[] | select(type == "object" and .target == "policy_log") | {level, message: .fields.message,
      data: (.fields.data | fromjson | {namespace, object, policy}),
      policy_id: [.spans[] | select(.name == "validation") | .policy_id]}]')" \
    "$(jq -nc --arg m "request rejected: $message" '[{level: "WARN", message: $m,
      data: {namespace: "shop", object: "web", policy: "sidecar-injector"},
      policy_id: ["failing-template"]}]')" \
    "the policy's log event"
}

@test "at the default log level, an injection adds no log line of the policy's own" {
  wait_log_quiet
  before=$(log_lines)
  post enabled "$(review)"
  expect_eq "$(field .auditAnnotations.injected)" true "injected"
  wait_until 10 request_logged "$before" enabled
  wait_log_quiet
  # policy-server's own line for the request, and nothing else.
  expect_eq "$(log_after "$before" | jq -s -c 'map({level, target, message: .fields.message, status: .fields.status, uri: .span.uri})')" \
    '[{"level":"INFO","target":"tower_http::trace::on_response","message":"finished processing request","status":200,"uri":"/validate/enabled"}]' \
    "log lines of the request"
  expect_eq "$(log_after "$before" | grep -c -e 'sidecar injected' -e "the policy's default is enabled" -e policy_log)" 0 "lines of the policy"
}

@test "at debug level, the policy server's own line for the request carries the reason; the policy sends none" {
  dir=$BATS_TEST_TMPDIR/debug
  mkdir -p "$dir"
  cp "$PS_DIR/cert.pem" "$PS_DIR/key.pem" "$dir/"
  policies_entry enabled "file://$POLICY" "$(opt_in_settings enabled)" >"$dir/policies.yml"
  policy_server_args "$dir" "$dir/policies.yml"
  policy-server "${PS_ARGS[@]}" --log-level debug >"$dir/policy-server.log" 2>&1 3>&- &
  DEBUG_PID=$!
  PS_PID=$DEBUG_PID wait_ready 180 "$dir/policy-server.log"
  PS_LOG=$dir/policy-server.log
  wait_log_quiet
  before=$(log_lines)
  post enabled "$(review '.request.object.metadata.labels["sidecar.istio.io/inject"] = "false"')"
  expect_eq "$(field .auditAnnotations.injected)" false "not injected"
  wait_until 10 request_logged "$before" enabled
  wait_log_quiet
  evaluated=$(log_after "$before" | jq -c 'select(.fields.message == "policy evaluated")')
  expect_eq "$(wc -l <<<"$evaluated")" 1 "policy evaluated lines"
  # The response, as Rust's Debug writes it, with the audit annotations the policy answered.
  expect_eq "$(jq -r --arg reason "the Pod's label sidecar.istio.io/inject is \\\"false\\\"" \
      '.fields.response | contains("\"reason\": \"" + $reason + "\"")' <<<"$evaluated")" true "the reason in the line" || {
    echo "$evaluated" >&2
    return 1
  }
  expect_eq "$(jq -r '[.spans[] | .namespace // empty] | first' <<<"$evaluated")" shop "namespace in the line's span"
  expect_eq "$(log_after "$before" | grep -c policy_log)" 0 "lines of the policy"
}

@test "policy-server refuses to start with invalid settings, with the module's message" {
  dir=$BATS_TEST_TMPDIR/refused
  mkdir -p "$dir"
  cp "$PS_DIR/cert.pem" "$PS_DIR/key.pem" "$dir/"
  policies_entry invalid "file://$POLICY" "$(opt_in_settings Enabled)" >"$dir/policies.yml"
  policy_server_args "$dir" "$dir/policies.yml"
  policy-server "${PS_ARGS[@]}" >"$dir/policy-server.log" 2>&1 3>&- &
  REFUSED_PID=$!
  # It compiles the module before it validates the settings; teardown stops it if it is still up.
  wait_until 180 exited "$REFUSED_PID"
  wait "$REFUSED_PID" && code=0 || code=$?
  REFUSED_PID=
  expect_eq "$code" 1 "exit status"
  grep -qxF 'Error: Policy settings are invalid: policy: expected "enabled" or "disabled", got "Enabled"' "$dir/policy-server.log" || {
    cat "$dir/policy-server.log" >&2
    return 1
  }
}

@test "probe rewriting: the Pod's HTTP and TCP probes go to the agent's status port, the originals to the agent" {
  request=$(review '.request.object.spec.containers[0].readinessProbe = {httpGet: {path: "/ready", port: "http"}, periodSeconds: 5}
    | .request.object.spec.containers[1].livenessProbe = {tcpSocket: {port: 9000}}')
  post enabled "$request"
  expect_eq "$(field .allowed)" true "allowed"
  pod=$(applied "$request")
  expect_eq "$(jq -cS '[.spec.containers[] | select(.name != "istio-proxy") | {readinessProbe, livenessProbe}]' <<<"$pod")" \
    '[{"livenessProbe":null,"readinessProbe":{"httpGet":{"path":"/app-health/app/readyz","port":15020},"periodSeconds":5}},{"livenessProbe":{"httpGet":{"path":"/app-health/worker/livez","port":15020}},"readinessProbe":null}]' \
    "the application's probes"
  expect_eq "$(jq -r '.spec.containers[0].env[] | select(.name == "ISTIO_KUBE_APP_PROBERS") | .value' <<<"$pod")" \
    '{"/app-health/app/readyz":{"httpGet":{"path":"/ready","port":8080}},"/app-health/worker/livez":{"tcpSocket":{"port":9000}}}' \
    "the originals, for the agent"
  expect_eq "$(jq -c '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .probes | [.statusPort, .rewritten]' <<<"$pod")" \
    '[15020,["/app-health/app/readyz","/app-health/worker/livez"]]' "status"
}

@test "named templates: a Pod that chooses sidecar,debug gets both, in that order" {
  request=$(review '.request.object.metadata.annotations["inject.istio.io/templates"] = "sidecar,debug"')
  post templates "$request"
  expect_eq "$(field .allowed)" true "allowed"
  pod=$(applied "$request")
  expect_eq "$(container_names "$pod" initContainers)" "istio-init,istio-proxy,debug-shell,migrate" "init containers"
  expect_eq "$(jq -r '.spec.initContainers[1].image' <<<"$pod")" "docker.io/istio/proxyv2:1.27.3-debug" "the proxy, customized by debug"
  expect_eq "$(jq -c '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .templates' <<<"$pod")" '["sidecar","debug"]' "status"
}

@test "named templates: a name the policy does not have is rejected with 400, naming those it has" {
  post templates "$(review '.request.object.metadata.annotations["inject.istio.io/templates"] = "sidecar,tracing"')"
  expect_rejected 400 'invalid admission request: request.object.metadata.annotations.inject.istio.io/templates: no template named "tracing"; the policy has debug, sidecar'
}
