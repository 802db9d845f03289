#!/usr/bin/env bats
# The stand-in against the real host: policy-runner (e2e-tests/runner) must answer exactly as
# kwctl does wherever both can run a request, so that what the runner alone still does (raw
# payloads, benchmarks, machines without kwctl) is evidence about the real host.

load helpers

setup() {
  command -v kwctl >/dev/null || skip "kwctl is not on PATH: nothing to compare the runner with"
}

# expect_same_answer NAME KWCTL RUNNER: the same AdmissionResponse byte for byte (field order, the
# base64 of the JSONPatch, so its operations, their order and the key order inside their values),
# except for the order of auditAnnotations' keys: kwctl keeps them in a hash map, whose order changes
# from run to run, so they are compared as an object.
expect_same_answer() {
  expect_eq "$(jq -c 'del(.auditAnnotations)' <<<"$3")" "$(jq -c 'del(.auditAnnotations)' <<<"$2")" "$1: response"
  expect_eq "$(jq -cS '.auditAnnotations' <<<"$3")" "$(jq -cS '.auditAnnotations' <<<"$2")" "$1: auditAnnotations"
}

@test "runner: every request fixture gets kwctl's exact answer, with each placement of the sidecar" {
  local compared=0 patched=0 requests=("$E2E_DIR"/requests/*.json)
  for settings in "$E2E_DIR/settings/sidecar.json" "$(settings_with '.nativeSidecars = true')" \
    "$(settings_with '.holdApplicationUntilProxyStarts = true')"; do
    # The runner compiles the module once for all the requests, and answers one line each.
    run --separate-stderr "$RUNNER_BIN/policy-runner" --settings-path "$settings" \
      $(printf -- '--request-path %s ' "${requests[@]}") "$POLICY"
    expect_eq "$status" 0 "runner exit status ($stderr)"
    mapfile -t answers <<<"$output"
    expect_eq "${#answers[@]}" "${#requests[@]}" "one answer per request"
    for index in "${!requests[@]}"; do
      # Read before `run`, which changes variables of the caller's (bats 1.8 sets `i`).
      local request=${requests[$index]} answer=${answers[$index]}
      run --separate-stderr kwctl run --settings-path "$settings" --request-path "$request" "$POLICY"
      expect_eq "$status" 0 "kwctl exit status ($stderr)"
      expect_same_answer "$(basename "$request") with $(jq -c 'del(.template)' "$settings")" "$output" "$answer"
      compared=$((compared + 1))
      [ -z "$(jq -r '.patch // empty' <<<"$output")" ] || patched=$((patched + 1))
    done
  done
  # Guards against a loop that compares nothing, or only answers without a patch.
  [ "$compared" -ge 75 ] && [ "$patched" -ge 30 ] || {
    echo "compared $compared answers, $patched with a patch: fewer than the fixtures hold" >&2
    return 1
  }
}

@test "runner: invalid settings get kwctl's exit status and message" {
  local settings
  settings=$(settings_with '.policy = "Enabled"')
  run --separate-stderr kwctl run --settings-path "$settings" --request-path "$E2E_DIR/requests/pod-no-override.json" "$POLICY"
  expect_eq "$status" 1 "kwctl exit status"
  expect_eq "$(refusal_message)" 'policy: expected "enabled" or "disabled", got "Enabled"' "kwctl message"
  run --separate-stderr "$RUNNER_BIN/policy-runner" --settings-path "$settings" --request-path "$E2E_DIR/requests/pod-no-override.json" "$POLICY"
  expect_eq "$status" 1 "runner exit status"
  expect_eq "$stderr" 'Provided settings are not valid: policy: expected "enabled" or "disabled", got "Enabled"' "runner message"
}
