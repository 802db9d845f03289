#!/usr/bin/env bats
# Settings the module refuses when the policy server loads it: each kind of mistake, with the
# message the admin reads.

load helpers

# expect_refused SETTINGS_JSON MESSAGE
expect_refused() {
  printf '%s' "$1" >"$BATS_TEST_TMPDIR/settings.json"
  evaluate "$BATS_TEST_TMPDIR/settings.json" "$E2E_DIR/requests/pod-no-override.json"
  [ "$status" -ne 0 ]
  [ "$(refusal_message)" = "$2" ] || {
    printf 'expected message: %s\nstderr: %s\n' "$2" "$stderr" >&2
    return 1
  }
}

sidecar='{"name": "sidecar", "image": "registry.example/sidecar:1.0"}'

@test "a misspelled policy value" {
  expect_refused "{\"policy\": \"Enabled\", \"template\": {\"containers\": [$sidecar]}}" \
    'policy: expected "enabled" or "disabled", got "Enabled"'
}

@test "an unknown setting" {
  expect_refused "{\"polcy\": \"enabled\", \"template\": {\"containers\": [$sidecar]}}" \
    'polcy: unknown field; expected one of policy, neverInjectSelector, alwaysInjectSelector, ignoredNamespaces, template, templates, defaultTemplates, nativeSidecars, holdApplicationUntilProxyStarts, networkInitContainers, probeRewrite, prometheusMerge, revision, namespaceRules, enableNamespacesByDefault, mandatory'
}

@test "no template" {
  expect_refused '{"policy": "enabled"}' 'template: missing'
}

@test "a template with nothing to inject" {
  expect_refused '{"template": {"volumes": [{"name": "v", "emptyDir": {}}]}}' \
    'template: nothing to inject; give containers or initContainers'
}

@test "a container without an image" {
  expect_refused "{\"template\": {\"containers\": [$sidecar, {\"name\": \"other\"}]}}" \
    'template.containers[1].image: missing'
}

@test "two template containers with one name" {
  expect_refused "{\"template\": {\"containers\": [$sidecar], \"initContainers\": [$sidecar]}}" \
    'template.initContainers[0].name: "sidecar" is used by another template container'
}

@test "a field Kubernetes does not know" {
  expect_refused '{"template": {"containers": [{"name": "s", "image": "i", "imagePullPolicyy": "Always"}]}}' \
    'template.containers[0].imagePullPolicyy: unknown field (not in the Kubernetes v1.36 API); check its spelling'
}

@test "a value of the wrong Kubernetes type" {
  expect_refused '{"template": {"containers": [{"name": "s", "image": "i", "ports": [{"containerPort": "15090"}]}]}}' \
    'template.containers[0].ports[0].containerPort: expected a 32-bit integer, got the string "15090"'
}

@test "a selector with an unknown operator" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"neverInjectSelector\": [{\"matchExpressions\": [{\"key\": \"a\", \"operator\": \"Equals\", \"values\": [\"b\"]}]}]}" \
    'neverInjectSelector[0].matchExpressions[0].operator: expected one of In, NotIn, Exists, DoesNotExist, got "Equals"'
}

@test "an empty selector" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"alwaysInjectSelector\": [{}]}" \
    'alwaysInjectSelector[0]: empty selector; give matchLabels or matchExpressions'
}

@test "a template string with a syntax error" {
  expect_refused '{"template": {"containers": [{"name": "s", "image": "i", "args": ["{{ pod.metadata.name "]}]}}' \
    'template.containers[0].args[0]: syntax error: unexpected end of input, expected end of variable block (in <string>:1)'
}

@test "a restartPolicy without nativeSidecars" {
  expect_refused '{"template": {"containers": [{"name": "s", "image": "i", "restartPolicy": "Always"}]}}' \
    'template.containers[0].restartPolicy: only init containers take a restartPolicy; set nativeSidecars: true to inject this container as a native sidecar'
}

@test "the status annotation in the template" {
  expect_refused "{\"template\": {\"containers\": [$sidecar], \"annotations\": {\"sidecar.istio.io/status\": \"{}\"}}}" \
    'template.annotations.sidecar.istio.io/status: is written by the injector itself and cannot be set here'
}

@test "valid settings are accepted" {
  evaluate "$E2E_DIR/settings/sidecar.json" "$E2E_DIR/requests/pod-no-override.json"
  expect_eq "$status" 0 "exit status"
}

@test "probe rewriting for a container no template has" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"probeRewrite\": {\"container\": \"istio-proxy\", \"statusPort\": 15020}}" \
    'probeRewrite.container: "istio-proxy" is not a template container; expected one of sidecar'
}

@test "probe rewriting to a port that is not one" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"probeRewrite\": {\"container\": \"sidecar\", \"statusPort\": 70000}}" \
    'probeRewrite.statusPort: expected a port number from 1 to 65535, got 70000'
}

@test "probe rewriting with a key it does not know" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"probeRewrite\": {\"container\": \"sidecar\", \"statusPort\": 15020, \"envVar\": \"X\"}}" \
    'probeRewrite.envVar: unknown field; expected one of container, statusPort, env'
}

@test "the metrics merge for a container no template has, or with a reserved port that is no port" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"prometheusMerge\": {\"container\": \"istio-proxy\", \"port\": 15020}}" \
    'prometheusMerge.container: "istio-proxy" is not a template container; expected one of sidecar'
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"prometheusMerge\": {\"container\": \"sidecar\", \"port\": 15020, \"reservedPorts\": {\"admin\": \"Envoy admin\"}}}" \
    'prometheusMerge.reservedPorts: expected port numbers from 1 to 65535 as keys, got "admin"'
}

@test "a network init container that is no template init container" {
  expect_refused "{\"template\": {\"containers\": [$sidecar], \"initContainers\": [{\"name\": \"istio-init\", \"image\": \"i\"}]}, \"networkInitContainers\": [\"istio-iptables\"]}" \
    'networkInitContainers[0]: "istio-iptables" is not a template init container; expected one of istio-init'
}

@test "a revision name that is not a label value" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"revision\": \"1.28/canary\"}" \
    'revision: "1.28/canary" is not a label value: it must begin and end with a letter or digit, with only letters, digits, '"'-', '_' and '.'"' between; a revision name must be a Kubernetes label value, as in the label istio.io/rev'
}

@test "an empty revision name" {
  expect_refused "{\"template\": {\"containers\": [$sidecar]}, \"revision\": \"\"}" \
    'revision: must not be empty; the revision without a name is "default", as Istio names it'
}
