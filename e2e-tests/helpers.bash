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

# kwctl fetches Sigstore's trust root each time it starts; without a network it retries for about
# a second, on every one of the suites' few hundred runs. Given a trust root of its own, it reads
# that instead. This one trusts a throwaway certificate authority made here, and nothing depends
# on it: no test verifies a signature (that needs a verification config, which none gives).
offline_trust_config() {
  local config=$BATS_RUN_TMPDIR/sigstore-offline.json dir=$BATS_RUN_TMPDIR/sigstore-offline
  if [ ! -s "$config" ]; then
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=offline \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    local cert key key_id
    cert=$(openssl x509 -in "$dir/cert.pem" -outform DER | base64 -w0)
    key=$(openssl ec -in "$dir/key.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
    key_id=$(base64 -d <<<"$key" | openssl dgst -sha256 -binary | base64 -w0)
    jq -n --arg cert "$cert" --arg key "$key" --arg id "$key_id" '
      {baseUrl: "http://127.0.0.1:9", hashAlgorithm: "SHA2_256", logId: {keyId: $id},
       publicKey: {rawBytes: $key, keyDetails: "PKIX_ECDSA_P256_SHA_256", validFor: {start: "2020-01-01T00:00:00Z"}}} as $log
      | {mediaType: "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
         trustedRoot: {mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
           tlogs: [$log], ctlogs: [$log], timestampAuthorities: [],
           certificateAuthorities: [{subject: {commonName: "offline"}, uri: "http://127.0.0.1:9",
             certChain: {certificates: [{rawBytes: $cert}]}, validFor: {start: "2020-01-01T00:00:00Z"}}]},
         signingConfig: {mediaType: "application/vnd.dev.sigstore.signingconfig.v0.2+json",
           caUrls: [], oidcUrls: [], rekorTlogUrls: [], tsaUrls: []}}' >"$config.new"
    mv "$config.new" "$config"
  fi
  echo "$config"
}

# kwctl, with that trust root for the commands that fetch one.
kwctl() {
  case "${1:-}" in
    run | pull | bench | verify) command kwctl "$1" --sigstore-trust-config "$(offline_trust_config)" "${@:2}" ;;
    *) command kwctl "$@" ;;
  esac
}

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

# refusal_message: the module's message when the host refused the settings (from $stderr). Both
# hosts print it on one line after "Provided settings are not valid: "; kwctl adds its own warnings
# before it, and a stack trace after it when RUST_BACKTRACE is set.
refusal_message() {
  sed -n 's/^.*Provided settings are not valid: //p' <<<"$stderr"
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

# One "op path" line per operation of the patch, sorted. The host derives the patch by diffing
# the Pod it sent with the Pod the policy returned, walking keys in its own (sorted) order, so the
# order of operations is the host's, not a contract of the policy. What is the contract: which
# operations there are (only additions, only at these paths); where order matters (containers),
# the tests assert it on the patched Pod.
patch_ops() {
  patch | jq -r '.[] | "\(.op) \(.path)"' | LC_ALL=C sort
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
