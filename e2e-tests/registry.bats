#!/usr/bin/env bats
# Publishing through a real OCI registry: `make push` to Debian's docker-registry over plain HTTP
# (a kwctl sources file passed as SOURCES=), then what users do with the published policy: kwctl
# pull, inspect and run it from registry://, and scaffold its ClusterAdmissionPolicy, which the
# sidecar-injector command must read.
#
# kwctl keeps its store and config under XDG_CACHE_HOME and XDG_CONFIG_HOME: both point into this
# file's temporary directory, so nothing lands in ~/.cache/kubewarden.

load helpers
load hosts

CLI=${CLI_BIN:-${HOME}/.cache/sidecar-injector/target-host/debug/sidecar-injector}
SETTINGS="$E2E_DIR/settings/sidecar.json"
REQUEST="$E2E_DIR/requests/pod-no-override.json"

setup_file() {
  # bats 1.8 cannot skip from setup_file: setup skips each test instead.
  if ! command -v kwctl >/dev/null; then
    export NO_KWCTL=1
    return 0
  fi
  # Exported before the registry starts, so that teardown_file can stop it even when
  # start_registry fails after starting it.
  export REGISTRY REGISTRY_PID SOURCES
  export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/kwctl/cache" XDG_CONFIG_HOME="$BATS_FILE_TMPDIR/kwctl/config"
  start_registry "$BATS_FILE_TMPDIR/registry"

  VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
  export VERSION
  export POLICY_URI="registry://$REGISTRY/policies/sidecar-injector:v$VERSION"
  export STORED_POLICY="$XDG_CACHE_HOME/kubewarden/store/registry/$REGISTRY/policies/sidecar-injector:v$VERSION"

  # What a maintainer types, from the repository root. make rebuilds policy.wasm and
  # annotated-policy.wasm first if their inputs changed. The tests below check the outcome.
  local status=0
  (cd "$ROOT" && make push REGISTRY="$REGISTRY/policies" SOURCES="$SOURCES") \
    >"$BATS_FILE_TMPDIR/push.log" 2>&1 || status=$?
  echo "$status" >"$BATS_FILE_TMPDIR/push.status"
  status=0
  kwctl pull --sources-path "$SOURCES" "$POLICY_URI" >"$BATS_FILE_TMPDIR/pull.log" 2>&1 || status=$?
  echo "$status" >"$BATS_FILE_TMPDIR/pull.status"
}

setup() {
  [ -z "${NO_KWCTL:-}" ] || skip "kwctl is not on PATH: publishing needs it"
}

teardown_file() {
  stop_process "${REGISTRY_PID:-}"
}

# The registry's digest of the pushed manifest.
registry_digest() {
  curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/policies/sidecar-injector/manifests/v$VERSION" |
    tr -d '\r' | sed -n 's/^Docker-Content-Digest: //ip'
}

@test "registry: make push REGISTRY= SOURCES= pushes annotated-policy.wasm over plain HTTP" {
  expect_eq "$(cat "$BATS_FILE_TMPDIR/push.status")" 0 "make push status ($(cat "$BATS_FILE_TMPDIR/push.log"))"
  expect_eq "$(grep -A1 '^kwctl push' "$BATS_FILE_TMPDIR/push.log")" \
    "kwctl push --sources-path $SOURCES \\
  annotated-policy.wasm $POLICY_URI" "kwctl command"
  expect_eq "$(curl -fsS "http://$REGISTRY/v2/policies/sidecar-injector/tags/list" | jq -c .)" \
    "{\"name\":\"policies/sidecar-injector\",\"tags\":[\"v$VERSION\"]}" "the registry's tags"
  local digest
  digest=$(registry_digest)
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || {
    echo "no manifest digest from the registry: '$digest'" >&2
    return 1
  }
  expect_eq "$(grep '^Policy successfully pushed: ' "$BATS_FILE_TMPDIR/push.log")" \
    "Policy successfully pushed: $REGISTRY/policies/sidecar-injector@$digest" "kwctl's report"
}

@test "registry: make push passes SOURCES= to kwctl only, and without it kwctl gets no sources file" {
  cd "$ROOT"
  # A sources file changes nothing of what the module is built from.
  expect_eq "$(make -qp push SOURCES="$SOURCES" 2>/dev/null | grep '^policy.wasm:')" \
    "$(env -u SOURCES make -qp push 2>/dev/null | grep '^policy.wasm:')" "policy.wasm's prerequisites"
  [[ "$(env -u SOURCES make -qp push 2>/dev/null | grep '^policy.wasm:')" == "policy.wasm: src/"*" Cargo.toml Cargo.lock" ]]
  # setup_file exports SOURCES: make reads it from the environment too, as it reads REGISTRY.
  expect_eq "$(env -u SOURCES make -n -o policy.wasm -o annotated-policy.wasm push REGISTRY=example.test/p | grep -A1 '^kwctl push')" \
    "kwctl push \\
  annotated-policy.wasm registry://example.test/p/sidecar-injector:v$VERSION" "kwctl command without SOURCES"
}

@test "registry: kwctl pull stores the pushed module byte for byte" {
  expect_eq "$(cat "$BATS_FILE_TMPDIR/pull.status")" 0 "kwctl pull status ($(cat "$BATS_FILE_TMPDIR/pull.log"))"
  cmp "$STORED_POLICY" "$ROOT/annotated-policy.wasm"
  expect_eq "$(find "$XDG_CACHE_HOME/kubewarden/store" -type f | wc -l)" 1 "files in the private store"
}

@test "registry: kwctl inspect of the pulled policy shows policy-metadata.yml and the README as its usage" {
  run --separate-stderr kwctl inspect --output yaml --sources-path "$SOURCES" "$POLICY_URI"
  expect_eq "$status" 0 "kwctl inspect status ($stderr)"
  local inspected=$output metadata="$ROOT/policy-metadata.yml"
  expect_eq "$(yq -c '[.mutating, .backgroundAudit, .executionMode, .contextAwareResources, .rules]' <<<"$inspected")" \
    "$(yq -c '[.mutating, .backgroundAudit, .executionMode, .contextAwareResources, .rules]' "$metadata")" "metadata"
  # Every annotation of policy-metadata.yml, as written; kwctl adds its version and the README.
  expect_eq "$(yq -cS '.annotations | del(.["io.kubewarden.kwctl"], .["io.kubewarden.policy.usage"])' <<<"$inspected")" \
    "$(yq -cS '.annotations' "$metadata")" "annotations"
  expect_eq "$(yq -r '.annotations["io.kubewarden.kwctl"]' <<<"$inspected")" \
    "$(kwctl --version 2>/dev/null | sed -n 's/^kwctl //p')" "io.kubewarden.kwctl"
  # The usage is the README for the policy's users (the Makefile's usage.md): its settings and
  # troubleshooting, not the CLI's sections nor those for developers.
  expect_eq "$(yq -r '.annotations["io.kubewarden.policy.usage"]' <<<"$inspected")" \
    "$(cat "$ROOT/usage.md")" "usage"
  usage=$(yq -r '.annotations["io.kubewarden.policy.usage"]' <<<"$inspected")
  expect_eq "$(grep -c -e '^## Settings$' -e '^## Troubleshooting in the cluster$' <<<"$usage")" 2 "usage has the policy's sections"
  expect_eq "$(grep -c -e '^## Operations$' -e '^## Development$' <<<"$usage")" 0 "usage has neither the CLI's nor the developers' sections"
}

@test "registry: kwctl run registry:// injects the sidecar, as the local module does" {
  run --separate-stderr kwctl run --sources-path "$SOURCES" --settings-path "$SETTINGS" --request-path "$REQUEST" "$POLICY_URI"
  expect_allowed_with_reason "the Pod does not choose, and the policy's default is enabled"
  expect_eq "$(field .patchType)" JSONPatch "patchType"
  expect_eq "$(field .auditAnnotations.injected)" true "injected"
  expect_eq "$(patch_ops)" "add /metadata/annotations
add /metadata/labels/mesh
add /spec/containers/1
add /spec/initContainers
add /spec/volumes" "patch operations"
  expect_eq "$(patch | jq -c '.[] | select(.path == "/spec/containers/1") | .value | [.name, .image, .args]')" \
    '["sidecar","registry.example/sidecar:1.0",["--pod=web","--namespace=shop"]]' "the added sidecar container"
  expect_eq "$(patch | jq -c '.[] | select(.path == "/spec/initContainers") | .value | map(.name)')" \
    '["mesh-init"]' "the added init containers"
  local from_registry=$output
  run --separate-stderr kwctl run --settings-path "$SETTINGS" --request-path "$REQUEST" "$ROOT/annotated-policy.wasm"
  expect_eq "$status" 0 "local kwctl run status ($stderr)"
  # Keys sorted: kwctl writes auditAnnotations in no fixed order.
  expect_eq "$(jq -cS . <<<"$from_registry")" "$(jq -cS . <<<"$output")" "the response of the local annotated-policy.wasm"
}

# scaffold_manifest SETTINGS_FILE OUTPUT: kwctl's ClusterAdmissionPolicy for the pushed policy.
scaffold_manifest() {
  kwctl scaffold manifest --sources-path "$SOURCES" --type ClusterAdmissionPolicy \
    --settings-path "$1" "$POLICY_URI" >"$2" 2>"$BATS_TEST_TMPDIR/scaffold.err" || {
    cat "$BATS_TEST_TMPDIR/scaffold.err" >&2
    return 1
  }
}

@test "registry: the CLI reads the ClusterAdmissionPolicy kwctl scaffolds, and decides as kwctl runs it" {
  local settings="$BATS_TEST_TMPDIR/opt-in.json" manifest="$BATS_TEST_TMPDIR/policy.yaml" pod="$BATS_TEST_TMPDIR/pod.json"
  yq '.spec.settings' "$ROOT/examples/opt-in.yaml" >"$settings"
  scaffold_manifest "$settings" "$manifest"
  expect_eq "$(yq -c '[.apiVersion, .kind, .metadata.name, .spec.module, .spec.mutating, .spec.backgroundAudit]' "$manifest")" \
    "[\"policies.kubewarden.io/v1\",\"ClusterAdmissionPolicy\",\"sidecar-injector\",\"$POLICY_URI\",true,false]" "manifest"
  expect_eq "$(yq -c .spec.rules "$manifest")" "$(yq -c .rules "$ROOT/policy-metadata.yml")" "rules"
  expect_eq "$(yq -cS .spec.settings "$manifest")" "$(jq -cS . "$settings")" "settings"

  jq .object "$REQUEST" >"$pod"
  run --separate-stderr "$CLI" check --output json --settings "$manifest" --namespace shop "$pod"
  expect_eq "$status" 0 "CLI status ($stderr)"
  expect_eq "$(jq -c '[length, .[0].kind, .[0].namespace, .[0].name, .[0].injected, .[0].decision.step, .[0].reason]' <<<"$output")" \
    '[1,"Pod","shop","web",true,8,"the Pod does not choose, and the policy'\''s default is enabled"]' "CLI report"
  local report=$output

  # kwctl runs the same manifest (module from the registry, settings from the manifest).
  run --separate-stderr kwctl run --sources-path "$SOURCES" --request-path "$REQUEST" "$manifest"
  expect_eq "$status" 0 "kwctl run status ($stderr)"
  expect_eq "$(field .auditAnnotations.reason)" "$(jq -r '.[0].reason' <<<"$report")" "reason, kwctl and the CLI"
  expect_eq "$(field .auditAnnotations.injected)" "$(jq -r '.[0].injected' <<<"$report")" "injected, kwctl and the CLI"

  # The example Pod names no namespace: --namespace gives it.
  run --separate-stderr "$CLI" check --settings "$manifest" --namespace kube-system "$ROOT/examples/pod.yaml"
  expect_eq "$status" 0 "CLI status in kube-system ($stderr)"
  expect_eq "$(head -n 1 <<<"$output")" \
    "Pod kube-system/shop-web-7c9d8b5f4-: not injected: namespace kube-system is a Kubernetes system namespace, where sidecars are never injected [outside the seed table: step 2 of the decision (a namespace where sidecars are never injected) → no]" \
    "CLI report in kube-system"
}

# kwctl writes plain scalars as YAML 1.2 sees them: the settings' label value "on" comes out
# unquoted. kubectl (and this CLI, which reads manifests as kubectl does) reads YAML 1.1, where
# `on` is the boolean true; the API server would then store a boolean label in the settings, which
# the policy refuses. kwctl itself reads its manifest back as the string. If a later kwctl quotes
# such strings, this test fails, and the advice to quote them by hand no longer applies.
@test "registry: kwctl's scaffold writes the label value on unquoted, which YAML 1.1 readers take for a boolean" {
  local manifest="$BATS_TEST_TMPDIR/policy.yaml"
  scaffold_manifest "$SETTINGS" "$manifest"
  expect_eq "$(grep -E '^ +mesh:' "$manifest")" "        mesh: on" "the label in kwctl's manifest"

  run --separate-stderr kwctl run --sources-path "$SOURCES" --request-path "$REQUEST" "$manifest"
  expect_eq "$status" 0 "kwctl run status ($stderr)"
  expect_eq "$(patch | jq -c '.[] | select(.path == "/metadata/labels/mesh") | .value')" '"on"' "the label kwctl injects"

  run --separate-stderr "$CLI" check --settings "$manifest" "$ROOT/examples/pod.yaml"
  expect_eq "$status" 2 "CLI status"
  expect_eq "$stderr" \
    "sidecar-injector: $manifest: invalid ClusterAdmissionPolicy: spec.settings.template.labels.mesh: expected a string, got a boolean" \
    "CLI message"
}
