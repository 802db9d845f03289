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
  for manifest in "$ROOT"/examples/*.yaml "$ROOT"/examples/*/*.yaml; do
    [ -e "$manifest" ] && [ "$(yq -r '.kind' "$manifest" | head -n 1)" = ClusterAdmissionPolicy ] || continue
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
      policy | ignoredNamespaces | nativeSidecars | holdApplicationUntilProxyStarts | revision | template.containers) ;;
      *) echo "unknown setting in questions-ui.yml: $variable" >&2; return 1 ;;
    esac
  done
}

# The lines of an artifacthub-pkg.yml but its createdAt line.
without_created_at() {
  grep -v '^createdAt: ' "$1"
}

# createdAt is the one field excluded: kwctl writes the time it runs, so no two runs agree on it.
# The checked-in createdAt is the time the version's file was first generated (make artifacthub
# keeps it, see below); here it only has to be a timestamp as kwctl writes them.
@test "artifacthub-pkg.yml is what kwctl scaffold artifacthub generates, but createdAt" {
  command -v kwctl >/dev/null || skip "kwctl is not on PATH"
  run --separate-stderr kwctl scaffold artifacthub --metadata-path "$ROOT/policy-metadata.yml" \
    --questions-path "$ROOT/questions-ui.yml" --output "$BATS_TEST_TMPDIR/generated.yml"
  expect_eq "$status" 0 "kwctl status ($stderr)"
  run diff <(without_created_at "$BATS_TEST_TMPDIR/generated.yml") <(without_created_at "$ROOT/artifacthub-pkg.yml")
  expect_eq "$status" 0 "artifacthub-pkg.yml differs from kwctl's output (run make artifacthub):
$output"
  expect_eq "$(grep -c '^createdAt: ' "$ROOT/artifacthub-pkg.yml")" 1 "createdAt lines"
  [[ "$(grep '^createdAt: ' "$ROOT/artifacthub-pkg.yml")" =~ ^createdAt:\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$ ]] || {
    echo "createdAt is not a UTC timestamp: $(grep '^createdAt: ' "$ROOT/artifacthub-pkg.yml")" >&2
    return 1
  }
}

@test "make artifacthub: kwctl takes the metadata's version, without the deprecated flag, and keeps createdAt" {
  command -v kwctl >/dev/null || skip "kwctl is not on PATH"
  local pkg="$BATS_TEST_TMPDIR/artifacthub-pkg.yml"
  cp "$ROOT/artifacthub-pkg.yml" "$pkg"
  run make -C "$ROOT" --no-print-directory artifacthub ARTIFACTHUB_PKG="$pkg"
  expect_eq "$status" 0 "make artifacthub status ($output)"
  [[ "$output" != *deprecated* ]] || {
    echo "kwctl warned of a deprecated flag: $output" >&2
    return 1
  }
  # Same version: the file is unchanged, byte for byte, createdAt included.
  cmp "$pkg" "$ROOT/artifacthub-pkg.yml"
  [ ! -e "$pkg.new" ]

  # Another version in the file: a new createdAt, the time of this run.
  sed -i -e 's/^version: .*/version: 0.0.1/' -e 's/^createdAt: .*/createdAt: 2001-01-01T00:00:00Z/' "$pkg"
  local before after created
  before=$(date -u +%s)
  run make -C "$ROOT" --no-print-directory artifacthub ARTIFACTHUB_PKG="$pkg"
  after=$(date -u +%s)
  expect_eq "$status" 0 "make artifacthub status ($output)"
  expect_eq "$(without_created_at "$pkg")" "$(without_created_at "$ROOT/artifacthub-pkg.yml")" "regenerated file"
  created=$(date -u -d "$(sed -n 's/^createdAt: //p' "$pkg")" +%s)
  [ "$created" -ge "$before" ] && [ "$created" -le "$after" ] || {
    echo "createdAt $(sed -n 's/^createdAt: //p' "$pkg") is not the time of the run" >&2
    return 1
  }
}

@test "make artifacthub refuses a metadata version that is not Cargo.toml's" {
  command -v kwctl >/dev/null || skip "kwctl is not on PATH"
  local pkg="$BATS_TEST_TMPDIR/artifacthub-pkg.yml"
  run --separate-stderr make -C "$ROOT" --no-print-directory artifacthub VERSION=9.9.9 ARTIFACTHUB_PKG="$pkg"
  expect_eq "$status" 2 "make status"
  expect_eq "$(head -n 1 <<<"$stderr")" \
    "policy-metadata.yml: io.kubewarden.policy.version is '$(version)', Cargo.toml's version is '9.9.9'" "message"
  [ ! -e "$pkg" ] && [ ! -e "$pkg.new" ]
}
