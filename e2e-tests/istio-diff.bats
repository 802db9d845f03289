#!/usr/bin/env bats
# The policy against Istio's own injector (issue 22): every input of Istio's injection tests that
# runs on the default configuration (category default of e2e-tests/istio/istio-cases.py, listed
# from the Go module cache when the test runs; nothing of Istio's is copied here) is injected by
# `istioctl kube-inject` (e2e-tests/istio.bash, the default profile's configuration of
# e2e-tests/istio/generated/) and by `sidecar-injector inject --settings
# examples/istio/istio.yaml`, both outputs are normalized by e2e-tests/istio/normalize.py (every
# normalization is written out there, with its reason) and compared.
#
# e2e-tests/istio/equal.txt lists the inputs that must come out equal: one that differs fails the
# test. e2e-tests/istio/not-equal.txt lists the others with what is missing; the test prints them
# as excluded, and fails when one comes out equal or an input is in neither list.
#
# Native sidecars are on for both: Istio's tests run so (their fake nodes' kubelets make its
# "auto" mode turn them on), examples/istio/istio.yaml sets nativeSidecars: true, and the oracle
# runs with ISTIO_NATIVE_SIDECARS=true.
#
# Needs Go for istioctl (as istio.bats: without it the tests skip, with ISTIO_REQUIRED=1 they
# fail), python3 with PyYAML, jq, and the CLI (CLI_BIN, as cli.bats). The policy runs in the CLI,
# natively, with the module's own code; no comparison goes through kwctl yet.

load helpers
load istio

CLI=${CLI_BIN:-${HOME}/.cache/sidecar-injector/target-host/debug/sidecar-injector}
MANIFEST=$ROOT/examples/istio/istio.yaml
export ISTIO_NATIVE_SIDECARS=true

setup_file() {
  istio_binaries
}

setup() {
  istio_cli_setup
}

# The distinct inputs of Istio's default-category cases, one a line.
default_inputs() {
  python3 "$ISTIO_DIR/istio-cases.py" "$(istio_source)/pkg/kube/inject" |
    jq -r 'select(.category == "default") | .in' | LC_ALL=C sort -u
}

@test "istio-diff: the manifest injects native sidecars, as the oracle is run" {
  expect_eq "$(yq -r .spec.settings.nativeSidecars "$MANIFEST")" true "nativeSidecars"
  expect_eq "$(yq -r '.spec.settings.defaultTemplates | join(",")' "$MANIFEST")" sidecar "defaultTemplates"
}

@test "istio-diff: Istio's default inputs, injected by istioctl kube-inject and by the policy" {
  local testdata inputs dir=$BATS_FILE_TMPDIR/istio-diff name
  testdata=$(istio_source)/pkg/kube/inject/testdata/inject
  inputs=$(default_inputs)
  [ -n "$inputs" ]
  mkdir -p "$dir"
  while read -r name; do
    # kube-inject names no namespace for objects without one: they are in "default".
    istio_kube_inject "$testdata/$name" >"$dir/$name.istio" 2>"$dir/$name.istio.log" ||
      mv "$dir/$name.istio.log" "$dir/$name.istio.err"
    "$CLI" inject --quiet --settings "$MANIFEST" -n default "$testdata/$name" >"$dir/$name.ours" 2>"$dir/$name.ours.log" ||
      mv "$dir/$name.ours.log" "$dir/$name.ours.err"
  done <<<"$inputs"
  # shellcheck disable=SC2086 # one argument per input
  run python3 "$ISTIO_DIR/compare.py" "$dir" "$ISTIO_DIR/equal.txt" "$ISTIO_DIR/not-equal.txt" $inputs
  # The summary and the excluded inputs, in the TAP output.
  sed 's/^/# /' <<<"$output" >&3
  [ "$status" -eq 0 ]
}
