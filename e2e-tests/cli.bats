#!/usr/bin/env bats
# The CLI against the compiled module: for every Pod fixture, `sidecar-injector inject` must give
# the Pod that the module's patch gives (or the Pod unchanged, or a refusal, as the module does),
# and `check` the same decision and reason.

load helpers

CLI=${CLI_BIN:-${HOME}/.cache/sidecar-injector/target-host/debug/sidecar-injector}
SETTINGS="$E2E_DIR/settings/sidecar.json"

# Pod creations with a Pod object: the requests the CLI can be given as manifests.
pod_fixtures() {
  for request in "$E2E_DIR"/requests/*.json; do
    jq -e '.kind.kind == "Pod" and .operation == "CREATE" and (.object | type) == "object"' \
      "$request" >/dev/null && echo "$request"
  done
}

@test "cli: inject gives the Pod the compiled module gives, for every Pod fixture" {
  local compared=0 refused=0
  for request in $(pod_fixtures); do
    local name namespace pod expected cli_status actual
    name=$(basename "$request" .json)
    namespace=$(jq -r .namespace "$request")
    pod="$BATS_TEST_TMPDIR/$name.json"
    jq .object "$request" >"$pod"

    evaluate "$SETTINGS" "$request"
    expect_eq "$status" 0 "$name: module exit status"
    actual=$("$CLI" inject --quiet --settings "$SETTINGS" --namespace "$namespace" "$pod" 2>"$BATS_TEST_TMPDIR/err") && cli_status=0 || cli_status=$?
    if [ "$(field .allowed)" = false ]; then
      expect_eq "$cli_status" 2 "$name: the module refuses the Pod, the CLI must too"
      refused=$((refused + 1))
      continue
    fi
    expect_eq "$cli_status" 0 "$name: CLI exit status ($(cat "$BATS_TEST_TMPDIR/err"))"
    if [ -n "$(patch)" ]; then
      expected=$(applied "$request")
    else
      expected=$(cat "$pod")
    fi
    expect_eq "$(jq -cS . <<<"$actual")" "$(jq -cS . <<<"$expected")" "$name: injected Pod"
    compared=$((compared + 1))
  done
  # Guards against a fixture loop that silently compares nothing.
  [ "$compared" -ge 15 ] && [ "$refused" -ge 2 ] || {
    echo "compared $compared Pods and $refused refusals: fewer than the fixtures hold" >&2
    return 1
  }
}

@test "cli: check gives the compiled module's decision and reason, for every Pod fixture" {
  local compared=0
  for request in $(pod_fixtures); do
    local name pod report
    name=$(basename "$request" .json)
    pod="$BATS_TEST_TMPDIR/$name.json"
    jq .object "$request" >"$pod"
    evaluate "$SETTINGS" "$request"
    [ "$(field .allowed)" = true ] || continue
    report=$("$CLI" check --output json --settings "$SETTINGS" --namespace "$(jq -r .namespace "$request")" "$pod")
    expect_eq "$(jq -r '.[0].decision.reason' <<<"$report")" "$(field .auditAnnotations.reason)" "$name: reason"
    expect_eq "$(jq -r '.[0].injected' <<<"$report")" "$(field .auditAnnotations.injected)" "$name: injected"
    compared=$((compared + 1))
  done
  [ "$compared" -ge 15 ]
}

@test "cli: invalid settings are refused with the module's message" {
  local settings
  settings=$(settings_with '.template.containers[0].restartPolicy = "Always"')
  evaluate "$settings" "$E2E_DIR/requests/pod-no-override.json"
  expect_eq "$status" 1 "module exit status"
  local message
  message=$(refusal_message)
  [ -n "$message" ]
  run --separate-stderr "$CLI" check --settings "$settings" "$ROOT/examples/pod.yaml"
  expect_eq "$status" 2 "CLI exit status"
  expect_eq "$stderr" "sidecar-injector: $settings: invalid settings: $message" "CLI message"
}

@test "cli: the examples' Pod is injected through each example policy" {
  local pod="$BATS_TEST_TMPDIR/pod.yaml"
  for policy in opt-in opt-out logging-sidecar; do
    # The logging sidecar is opt-in per Pod (policy: disabled).
    yq -y '.metadata.labels["sidecar.istio.io/inject"] = "true"' "$ROOT/examples/pod.yaml" >"$pod"
    [ "$policy" = logging-sidecar ] || cp "$ROOT/examples/pod.yaml" "$pod"
    run --separate-stderr "$CLI" inject --fail-if-not-injected --settings "$ROOT/examples/$policy.yaml" "$pod"
    expect_eq "$status" 0 "$policy: exit status ($stderr)"
    expect_eq "$(yq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .containers + .initContainers | length > 0' <<<"$output")" true "$policy: injected"
  done
}

@test "cli: make install puts the command and its kubectl plugin name in DESTDIR/PREFIX/bin" {
  local bin=$BATS_TEST_TMPDIR/root/opt/tools/bin
  run make -s -C "$ROOT" install INSTALL_BIN="$CLI" DESTDIR="$BATS_TEST_TMPDIR/root" PREFIX=/opt/tools
  expect_eq "$status" 0 "make install ($output)"
  [ -x "$bin/sidecar-injector" ]
  expect_eq "$(readlink "$bin/kubectl-sidecar_injector")" sidecar-injector "the plugin's symlink"
  expected=$("$CLI" check --settings "$ROOT/examples/opt-in.yaml" "$ROOT/examples/pod.yaml")
  expect_eq "$(PATH=$bin:$PATH kubectl-sidecar_injector check --settings "$ROOT/examples/opt-in.yaml" "$ROOT/examples/pod.yaml")" "$expected" "as kubectl-sidecar_injector"
  if command -v kubectl >/dev/null; then
    # kubectl finds plugins on PATH, "-" in the command being "_" in the file name; no cluster needed.
    expect_eq "$(PATH=$bin:$PATH kubectl sidecar-injector check --settings "$ROOT/examples/opt-in.yaml" "$ROOT/examples/pod.yaml")" "$expected" "as kubectl sidecar-injector"
  fi
}
