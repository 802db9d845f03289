# Shared by the e2e suites: run the compiled policy the way users do, and read its answers.
#
# With kwctl on PATH the policy runs in kwctl (against annotated-policy.wasm, as `make e2e-tests`
# passes it); otherwise in policy-runner, this repository's waPC host built on the same engine
# (wasmtime) as the policy server. E2E_ENGINE=runner forces the runner.

bats_require_minimum_version 1.5.0

E2E_DIR=${BATS_TEST_DIRNAME}
ROOT=$(cd "$E2E_DIR/.." && pwd)
POLICY=${POLICY:-$ROOT/policy.wasm}
RUNNER_BIN=${RUNNER_BIN:-${HOME}/.cache/sidecar-injector/target-runner/release}

uses_kwctl() {
  [ "${E2E_ENGINE:-}" != runner ] && command -v kwctl >/dev/null 2>&1
}

# evaluate SETTINGS REQUEST: the AdmissionResponse in $output (stdout), logs in $stderr.
evaluate() {
  if uses_kwctl; then
    run --separate-stderr kwctl run --settings-path "$1" --request-path "$2" "$POLICY"
  else
    run --separate-stderr "$RUNNER_BIN/policy-runner" --settings-path "$1" --request-path "$2" "$POLICY"
  fi
  if [ "$status" -ne 0 ]; then
    printf 'evaluation failed (%s): %s\n' "$status" "$stderr" >&2
  elif [ -n "$(patch)" ]; then
    expect_patch_gives_injected_pod "$2"
  fi
}

# Every patch must turn the request's Pod into a valid Pod that holds every container the
# status annotation names.
expect_patch_gives_injected_pod() {
  local pod
  pod=$(applied "$1") || {
    echo "the patch does not give a valid Pod" >&2
    return 1
  }
  jq -e '(.metadata.annotations["sidecar.istio.io/status"] | fromjson) as $status
    | [.spec.containers[]?.name, .spec.initContainers[]?.name] as $names
    | ($status.containers + $status.initContainers) | length > 0 and all(. as $n | $names | index($n) != null)' \
    <<<"$pod" >/dev/null || {
    echo "the patched Pod lacks the injected containers: $pod" >&2
    return 1
  }
}

# settings_with JQ_FILTER: the sidecar settings changed by the filter, as a file path.
settings_with() {
  local file="$BATS_TEST_TMPDIR/settings-$RANDOM.json"
  jq "$1" "$E2E_DIR/settings/sidecar.json" >"$file"
  echo "$file"
}

# expect_eq ACTUAL EXPECTED [WHAT]
expect_eq() {
  if [ "$1" != "$2" ]; then
    printf '%s\n  expected: %s\n  actual:   %s\n' "${3:-mismatch}" "$2" "$1" >&2
    return 1
  fi
}

field() {
  jq -r "$1" <<<"$output"
}

# The JSONPatch of the response, decoded; empty when there is none.
patch() {
  jq -r '.patch // empty | @base64d' <<<"$output"
}

# One "op path" line per operation of the patch, in order.
patch_ops() {
  patch | jq -r '.[] | "\(.op) \(.path)"'
}

expect_no_patch() {
  expect_eq "$(field '.patch // "none"')" none "patch"
  expect_eq "$(field '.patchType // "none"')" none "patchType"
}

expect_allowed_with_reason() {
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" true "allowed"
  expect_eq "$(field '.auditAnnotations.reason')" "$1" "reason"
}

# applied REQUEST: the request's object with the response's patch applied, checked to be a valid
# Kubernetes Pod; prints it.
applied() {
  "$RUNNER_BIN/apply-patch" --request-path "$1" <<<"$output"
}

# container_names POD_JSON LIST: "a,b,c"
container_names() {
  jq -r "[.spec.$2[]?.name] | join(\",\")" <<<"$1"
}
