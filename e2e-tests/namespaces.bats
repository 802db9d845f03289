#!/usr/bin/env bats
# Namespace-aware injection through the real kwctl, the Namespace answered by a replayed
# host-capability session (kwctl run --replay-host-capabilities-interactions): Istio's namespace
# table (namespaceRules: istio), mandatory namespaces, a Namespace's annotations in the sidecar,
# a Namespace that cannot be read, and no host call at all without those settings.
#
# The sessions are written by sessions.bash in the form kwctl records them;
# e2e-tests/namespaces-cluster.bats records one against the real API server and checks that the
# form is the same, so these replays stay what the policy server would answer.

load helpers
load sessions

setup() {
  uses_kwctl || skip "needs the real kwctl: host-capability sessions are kwctl's"
}

# request NAMESPACE POD_LABELS_JSON [POD_ANNOTATIONS_JSON]: a Pod's creation in NAMESPACE.
request() {
  local file="$BATS_TEST_TMPDIR/request-$RANDOM.json" annotations=${3:-'{}'}
  jq --arg namespace "$1" --argjson labels "$2" --argjson annotations "$annotations" '
      .namespace = $namespace
      | .object.metadata.namespace = $namespace
      | .object.metadata.labels = $labels
      | .object.metadata.annotations = $annotations' \
    "$E2E_DIR/requests/pod-no-override.json" >"$file"
  echo "$file"
}

# replay SETTINGS REQUEST SESSION: kwctl runs the policy with the session's answers.
replay() {
  run --separate-stderr kwctl run --allow-context-aware --replay-host-capabilities-interactions "$3" \
    --settings-path "$1" --request-path "$2" "$POLICY"
  if [ "$status" -ne 0 ]; then
    printf 'evaluation failed (%s): %s\n' "$status" "$stderr" >&2
  elif [ -n "$(patch)" ]; then
    expect_patch_gives_injected_pod "$2"
  fi
}

ISTIO='.namespaceRules = "istio"'

# row FILTER NAMESPACE_LABELS POD_LABELS EXPECTED: one row of Istio's namespace table;
# EXPECTED is "injected", or "not injected" (by the namespace rules, step 5).
row() {
  local settings request
  settings=$(settings_with "$1")
  session "$BATS_TEST_TMPDIR/session.yml" shop "$2"
  request=$(request shop "$3")
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/session.yml"
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" true "allowed"
  case $4 in
    injected)
      expect_eq "$(field .auditAnnotations.injected)" true "injected ($(field .auditAnnotations.reason))"
      ;;
    "not injected")
      expect_eq "$(field .auditAnnotations.injected)" false "injected"
      expect_no_patch
      [[ "$(field .auditAnnotations.reason)" == "by Istio's namespace rules (namespaceRules: istio), none of Istio's injection webhooks for revision "* ]] || {
        echo "reason: $(field .auditAnnotations.reason)" >&2
        return 1
      }
      ;;
  esac
}

@test "istio namespace table: istio-injection=enabled injects" {
  row "$ISTIO" '{"istio-injection": "enabled"}' '{}' injected
}

@test "istio namespace table: istio-injection=enabled, the Pod's label false: not called" {
  row "$ISTIO" '{"istio-injection": "enabled"}' '{"sidecar.istio.io/inject": "false"}' "not injected"
}

@test "istio namespace table: istio-injection=disabled does not inject, even when the Pod asks" {
  row "$ISTIO" '{"istio-injection": "disabled"}' '{}' "not injected"
  row "$ISTIO" '{"istio-injection": "disabled"}' '{"sidecar.istio.io/inject": "true"}' "not injected"
}

@test "istio namespace table: an unlabelled namespace injects only the Pods labelled to" {
  row "$ISTIO" '{}' '{}' "not injected"
  row "$ISTIO" '{}' '{"sidecar.istio.io/inject": "true"}' injected
  row "$ISTIO" '{}' '{"istio.io/rev": "default"}' injected
  row "$ISTIO" '{}' '{"sidecar.istio.io/inject": "true", "istio.io/rev": "canary"}' "not injected"
}

@test "istio namespace table: istio.io/rev matching the revision injects, another does not" {
  row "$ISTIO" '{"istio.io/rev": "default"}' '{}' injected
  row "$ISTIO" '{"istio.io/rev": "canary"}' '{}' "not injected"
  row "$ISTIO | .revision = \"canary\"" '{"istio.io/rev": "canary"}' '{}' injected
  row "$ISTIO | .revision = \"canary\"" '{"istio-injection": "enabled"}' '{}' "not injected"
}

@test "istio namespace table: enableNamespacesByDefault injects unlabelled namespaces" {
  row "$ISTIO | .enableNamespacesByDefault = true" '{}' '{}' injected
  row "$ISTIO | .enableNamespacesByDefault = true" '{"istio-injection": "disabled"}' '{}' "not injected"
}

@test "mandatory: a Pod that refuses the sidecar is rejected with 400, saying why and who decides" {
  local settings request
  settings=$(settings_with '.mandatory = {namespaceSelector: {matchLabels: {"mesh.example/required": "true"}}}')
  session "$BATS_TEST_TMPDIR/session.yml" pay '{"mesh.example/required": "true"}'
  request=$(request pay '{"sidecar.istio.io/inject": "false"}')
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/session.yml"
  expect_eq "$status" 0 "exit status"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 400 "code"
  expect_eq "$(field .status.message)" "the Pod refuses the sidecar with its label sidecar.istio.io/inject is \"false\", but the sidecar is mandatory in namespace pay, one of the namespaces matching mandatory.namespaceSelector mesh.example/required=true: the cluster's administrators decide that in the policy's settings, and only they can exempt a Pod there (ignoredNamespaces, or the mandatory namespaceSelector); remove the Pod's label sidecar.istio.io/inject to create it" "message"
  # The same Pod without the refusal is injected, whatever the default policy says.
  settings=$(settings_with '.policy = "disabled" | .mandatory = {namespaceSelector: {matchLabels: {"mesh.example/required": "true"}}}')
  request=$(request pay '{}')
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/session.yml"
  expect_eq "$(field .auditAnnotations.injected)" true "injected"
}

@test "mandatory: the security rules still win, without reading the Namespace" {
  local settings request
  settings=$(settings_with '.mandatory = {namespaceSelector: {}}')
  # An empty session: any host call would fail the evaluation.
  echo '[]' >"$BATS_TEST_TMPDIR/empty.yml"
  request=$(request kube-system '{"sidecar.istio.io/inject": "false"}')
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/empty.yml"
  expect_eq "$(field .allowed)" true "allowed"
  expect_eq "$(field .auditAnnotations.injected)" false "injected"
  # {} selects every namespace without reading it: a refusal anywhere else is rejected.
  request=$(request shop '{"sidecar.istio.io/inject": "false"}')
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/empty.yml"
  expect_eq "$(field .status.code)" 400 "code"
}

@test "ns: the Namespace's annotation reaches the sidecar, the Pod's own wins" {
  local settings request
  settings=$(settings_with '.template.containers[0].env += [{name: "CPU", value: "{{ pod.metadata.annotations[\"proxyCPU\"] | default(ns.metadata.annotations[\"proxyCPU\"]) | default(\"100m\") }}"}]')
  session "$BATS_TEST_TMPDIR/session.yml" shop '{}' '{"proxyCPU": "300m"}'
  request=$(request shop '{}')
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/session.yml"
  expect_eq "$(applied "$request" | jq -r '.spec.containers[1].env[] | select(.name == "CPU") | .value')" 300m "from the Namespace"
  request=$(request shop '{}' '{"proxyCPU": "500m"}')
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/session.yml"
  expect_eq "$(applied "$request" | jq -r '.spec.containers[1].env[] | select(.name == "CPU") | .value')" 500m "from the Pod"
}

@test "a Namespace that cannot be read is a 500 that names it and the cause" {
  local settings request
  settings=$(settings_with "$ISTIO")
  failing_session "$BATS_TEST_TMPDIR/session.yml" shop 'namespaces "shop" is forbidden'
  request=$(request shop '{}')
  replay "$settings" "$request" "$BATS_TEST_TMPDIR/session.yml"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field .status.code)" 500 "code"
  [[ "$(field .status.message)" == "namespace shop could not be read, and the policy's namespaceRules (istio) decide by its labels: "*'namespaces "shop" is forbidden'* ]] || {
    echo "message: $(field .status.message)" >&2
    return 1
  }
}

@test "without the namespace settings and ns, no host call is made" {
  local request
  echo '[]' >"$BATS_TEST_TMPDIR/empty.yml"
  request=$(request shop '{}')
  replay "$E2E_DIR/settings/sidecar.json" "$request" "$BATS_TEST_TMPDIR/empty.yml"
  expect_eq "$(field .allowed)" true "allowed"
  expect_eq "$(field .auditAnnotations.injected)" true "injected"
}
