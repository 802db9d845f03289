#!/usr/bin/env bats
# The files Kubewarden and Artifact Hub read agree with each other and with Cargo.toml.

load helpers

version() {
  sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1
}

@test "Cargo.toml, policy-metadata.yml and artifacthub-pkg.yml carry one version" {
  v=$(version)
  [ -n "$v" ]
  expect_eq "$(yq -r '.annotations["io.kubewarden.policy.version"]' "$ROOT/policy-metadata.yml")" "$v" "policy-metadata.yml"
  expect_eq "$(yq -r '.version' "$ROOT/artifacthub-pkg.yml")" "$v" "artifacthub-pkg.yml version"
  expect_eq "$(yq -r '.containersImages[0].image' "$ROOT/artifacthub-pkg.yml")" \
    "$(yq -r '.annotations["io.kubewarden.policy.ociUrl"]' "$ROOT/policy-metadata.yml"):v$v" "artifacthub image"
  for manifest in "$ROOT"/examples/opt-in.yaml "$ROOT"/examples/opt-out.yaml "$ROOT"/examples/logging-sidecar.yaml; do
    expect_eq "$(yq -r '.spec.module' "$manifest")" \
      "registry://$(yq -r '.annotations["io.kubewarden.policy.ociUrl"]' "$ROOT/policy-metadata.yml"):v$v" "module of $manifest"
  done
}

@test "the metadata describes a mutating policy for Pod creation, without background audit" {
  yq -e '.mutating == true and .executionMode == "kubewarden-wapc" and .backgroundAudit == false
    and .rules == [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}]
    and .annotations["io.artifacthub.resources"] == "Pod"' "$ROOT/policy-metadata.yml"
}

@test "artifacthub-pkg.yml repeats the metadata's rules and the questions" {
  expect_eq "$(yq -r '.annotations["kubewarden/rules"]' "$ROOT/artifacthub-pkg.yml" | yq -c .)" \
    "$(yq -c '.rules' "$ROOT/policy-metadata.yml")" "rules"
  expect_eq "$(yq -r '.annotations["kubewarden/questions-ui"]' "$ROOT/artifacthub-pkg.yml" | yq -c .)" \
    "$(yq -c . "$ROOT/questions-ui.yml")" "questions"
  expect_eq "$(yq -r '.annotations["kubewarden/mutation"]' "$ROOT/artifacthub-pkg.yml")" true "mutation"
  expect_eq "$(yq -r '.annotations["kubewarden/resources"]' "$ROOT/artifacthub-pkg.yml")" Pod "resources"
}

@test "the questions name real settings" {
  for variable in $(yq -r '.questions[].variable' "$ROOT/questions-ui.yml"); do
    case "$variable" in
      policy | ignoredNamespaces | nativeSidecars | holdApplicationUntilProxyStarts | template.containers) ;;
      *) echo "unknown setting in questions-ui.yml: $variable" >&2; return 1 ;;
    esac
  done
}
