#!/usr/bin/env bats
# Istio's own injector as the oracle (issue 22): istioctl, built from the Go module proxy at the
# version e2e-tests/istio/go.mod pins, injecting files offline with Istio's default configuration
# (e2e-tests/istio/generated/, made by scripts/istio-config.sh). These tests hold the oracle to
# what it claims: the pinned istioctl, the committed configuration as istioctl makes it now,
# Istio's own golden files reproduced, and the facts of Istio's injection that the policy is to
# match, written down here as the tests check them.
#
# Needs Go (istioctl is built with it the first time, about 7 minutes on 2 cores), jq, yq and
# python3. Without Go each test skips, saying why; with ISTIO_REQUIRED=1 (as .ci/run sets it)
# it fails instead. istioctl kube-inject runs offline and starts no process that outlives it.

load helpers
load istio

setup_file() {
  istio_binaries
}

setup() {
  istio_binaries
}

# What istio_kube_inject gives for FILE, as compact JSON, one object per line. kube-inject
# ends its output with a document separator, which yq reads as a null document: dropped.
injected() {
  istio_kube_inject "$1" | yq -c 'select(. != null)'
}

# A Pod manifest named app in namespace demo, with one container (app, nginx, port 8080), the
# annotations ANNOTATIONS_JSON and SPEC_JSON merged into its spec; written to a file whose path
# is printed.
pod_file() {
  local file="$BATS_TEST_TMPDIR/pod-$RANDOM.yaml"
  jq -n --argjson annotations "${1:-{\}}" --argjson spec "${2:-{\}}" '
    {apiVersion: "v1", kind: "Pod",
     metadata: {name: "app", namespace: "demo", labels: {app: "web"}, annotations: $annotations},
     spec: ({containers: [{name: "app", image: "nginx:1.27", ports: [{containerPort: 8080}]}]} + $spec)}' |
    yq -y . >"$file"
  echo "$file"
}

@test "istio: istioctl is the Istio go.mod pins, its version stamped" {
  local pinned
  pinned=$(sed -n 's|^[[:space:]]*\(require \)\{0,1\}istio.io/istio \(v[0-9][^ ]*\).*|\2|p' "$ISTIO_DIR/go.mod")
  [ -n "$pinned" ]
  run "$ISTIOCTL" version --remote=false -o json
  expect_eq "$status" 0 "istioctl version"
  expect_eq "$(jq -r .clientVersion.version <<<"$output")" "$pinned" "version"
  expect_eq "$(jq -r .clientVersion.revision <<<"$output")" "${pinned##*-}" "revision (the commit)"
}

@test "istio: the committed configuration is what scripts/istio-config.sh generates now" {
  "$ROOT/scripts/istio-config.sh" "$BATS_TEST_TMPDIR/generated"
  diff -r "$ISTIO_GENERATED" "$BATS_TEST_TMPDIR/generated"
}

# Istio's default profile, as the generated configuration says it. The policy's Istio-like
# example follows these.
@test "istio: the default profile's values and mesh config" {
  local values=$ISTIO_GENERATED/values.json mesh
  # The images: the profile's hub and tag (a release's istioctl puts its own), image proxyv2
  # for istio-proxy and istio-init alike.
  expect_eq "$(jq -r '.global | "\(.hub) \(.tag) \(.proxy.image) \(.proxy_init.image)"' "$values")" \
    "registry.istio.io/testing latest proxyv2 proxyv2" "hub, tag, images"
  # The proxy's resources: requests 100m / 128Mi, limits 2000m / 1024Mi.
  expect_eq "$(jq -c .global.proxy.resources "$values")" \
    '{"limits":{"cpu":"2000m","memory":"1024Mi"},"requests":{"cpu":"100m","memory":"128Mi"}}' "proxy resources"
  expect_eq "$(jq -r .sidecarInjectorWebhook.rewriteAppHTTPProbe "$values")" true "rewriteAppHTTPProbe"
  # holdApplicationUntilProxyStarts is unset in the values and the mesh config: false.
  expect_eq "$(jq -r .global.proxy.holdApplicationUntilProxyStarts "$values")" null "holdApplicationUntilProxyStarts"
  mesh=$(yq -c . "$ISTIO_GENERATED/mesh-config.yaml")
  expect_eq "$(jq -r .enablePrometheusMerge <<<"$mesh")" true "enablePrometheusMerge"
  expect_eq "$(jq -r '.defaultConfig.holdApplicationUntilProxyStarts // "unset"' <<<"$mesh")" unset "mesh holdApplicationUntilProxyStarts"
  expect_eq "$(yq -r .defaultTemplates[] "$ISTIO_GENERATED/inject-config.yaml")" sidecar "default templates"
}

# A plain Pod, native sidecars off (the default of ISTIO_NATIVE_SIDECARS):
# - containers: the Pod's, then istio-proxy; initContainers: istio-init. Both images
#   registry.istio.io/testing/proxyv2:latest.
# - fields kube-inject adds that the Pod did not have: `resources: {}` on each of the Pod's
#   containers, `status: {}` on the object (a workload gets `strategy: {}` too).
# - labels security.istio.io/tlsMode: istio, service.istio.io/canonical-name (from the app
#   label) and canonical-revision (latest without a version label); annotations istio.io/rev:
#   default, kubectl.kubernetes.io/default-container and default-logs-container (the first
#   container of the Pod's), prometheus.io/port "15020", path /stats/prometheus, scrape "true"
#   (prometheus merge, on by default, writes them even when the Pod had none; with none to
#   keep, it adds no ISTIO_PROMETHEUS_ANNOTATIONS), and sidecar.istio.io/status.
# - sidecar.istio.io/status: JSON with keys in this order: initContainers, containers, volumes,
#   imagePullSecrets (null when none), revision ("default").
@test "istio: kube-inject of a plain Pod adds istio-init and istio-proxy, and these fields" {
  local pod
  pod=$(injected "$(pod_file)")
  expect_eq "$(container_names "$pod" containers)" "app,istio-proxy" "containers"
  expect_eq "$(container_names "$pod" initContainers)" "istio-init" "init containers"
  expect_eq "$(jq -r '[.spec.containers[1].image, .spec.initContainers[0].image] | join(" ")' <<<"$pod")" \
    "registry.istio.io/testing/proxyv2:latest registry.istio.io/testing/proxyv2:latest" "images"
  expect_eq "$(jq -c .status <<<"$pod")" '{}' "status"
  expect_eq "$(jq -c .spec.containers[0].resources <<<"$pod")" '{}' "the Pod's container's resources"
  expect_eq "$(jq -c .metadata.labels <<<"$pod")" \
    '{"app":"web","security.istio.io/tlsMode":"istio","service.istio.io/canonical-name":"web","service.istio.io/canonical-revision":"latest"}' "labels"
  expect_eq "$(jq -c '.metadata.annotations | del(.["sidecar.istio.io/status"])' <<<"$pod")" \
    '{"istio.io/rev":"default","kubectl.kubernetes.io/default-container":"app","kubectl.kubernetes.io/default-logs-container":"app","prometheus.io/path":"/stats/prometheus","prometheus.io/port":"15020","prometheus.io/scrape":"true"}' "annotations"
  expect_eq "$(jq -r '.metadata.annotations["sidecar.istio.io/status"]' <<<"$pod")" \
    '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert","istio-ca-crl"],"imagePullSecrets":null,"revision":"default"}' "status annotation"
  expect_eq "$(jq -r '[.spec.containers[1].env[] | select(.name == "ISTIO_PROMETHEUS_ANNOTATIONS")] | length' <<<"$pod")" 0 "no prometheus env"
  # The proxy's resources as Kubernetes writes them back: 2000m is "2", 1024Mi is "1Gi".
  expect_eq "$(jq -c .spec.containers[1].resources <<<"$pod")" \
    '{"limits":{"cpu":"2","memory":"1Gi"},"requests":{"cpu":"100m","memory":"128Mi"}}' "proxy resources"
}

@test "istio: kube-inject of a Deployment injects its Pod template, named after the Deployment" {
  local file="$BATS_TEST_TMPDIR/deployment.yaml" deployment
  jq -n '{apiVersion: "apps/v1", kind: "Deployment", metadata: {name: "web", namespace: "demo"},
    spec: {replicas: 1, selector: {matchLabels: {app: "web"}},
      template: {metadata: {labels: {app: "web"}}, spec: {containers: [{name: "app", image: "nginx:1.27"}]}}}}' |
    yq -y . >"$file"
  deployment=$(injected "$file")
  expect_eq "$(jq -r .kind <<<"$deployment")" Deployment "kind"
  expect_eq "$(container_names "$(jq .spec.template <<<"$deployment")" containers)" "app,istio-proxy" "containers"
  expect_eq "$(container_names "$(jq .spec.template <<<"$deployment")" initContainers)" "istio-init" "init containers"
  expect_eq "$(jq -c '[.spec.template.spec.containers[1].env[] | select(.name | test("WORKLOAD_NAME|OWNER$")) | .value]' <<<"$deployment")" \
    '["web","kubernetes://apis/apps/v1/namespaces/demo/deployments/web"]' "workload name and owner"
  expect_eq "$(jq -c '[.spec.strategy, .status]' <<<"$deployment")" '[{},{}]' "fields kube-inject adds"
  expect_eq "$(jq -r '.metadata.annotations // {} | length' <<<"$deployment")" 0 "the Deployment's own annotations"
}

# Native sidecars: istio-proxy becomes an init container with restartPolicy: Always, after
# istio-init; without them it is the last container. The Pod's annotation
# sidecar.istio.io/nativeSidecar ("true" / "false") overrides the setting either way.
@test "istio: native sidecars on or off move istio-proxy, and a Pod's annotation overrides them" {
  local pod
  pod=$(ISTIO_NATIVE_SIDECARS=true injected "$(pod_file)")
  expect_eq "$(container_names "$pod" containers)" "app" "native: containers"
  expect_eq "$(container_names "$pod" initContainers)" "istio-init,istio-proxy" "native: init containers"
  expect_eq "$(jq -r '.spec.initContainers[1].restartPolicy' <<<"$pod")" Always "native: restartPolicy"
  expect_eq "$(jq -c '.metadata.annotations["sidecar.istio.io/status"] | fromjson | [.initContainers, .containers]' <<<"$pod")" \
    '[["istio-init","istio-proxy"],null]' "native: status annotation"

  pod=$(ISTIO_NATIVE_SIDECARS=false injected "$(pod_file)")
  expect_eq "$(container_names "$pod" containers)" "app,istio-proxy" "not native: containers"
  expect_eq "$(jq -r '.spec.containers[1].restartPolicy // "unset"' <<<"$pod")" unset "not native: restartPolicy"

  pod=$(ISTIO_NATIVE_SIDECARS=true injected "$(pod_file '{"sidecar.istio.io/nativeSidecar": "false"}')")
  expect_eq "$(container_names "$pod" containers)" "app,istio-proxy" "native, the Pod says false"
  pod=$(ISTIO_NATIVE_SIDECARS=false injected "$(pod_file '{"sidecar.istio.io/nativeSidecar": "true"}')")
  expect_eq "$(container_names "$pod" initContainers)" "istio-init,istio-proxy" "not native, the Pod says true"

  ISTIO_NATIVE_SIDECARS=yes run istio_kube_inject "$(pod_file)"
  [ "$status" -ne 0 ]
  [[ "$output" == *"ISTIO_NATIVE_SIDECARS is 'yes', not true or false"* ]]
}

# sidecar.istio.io/inject: "false" leaves the Pod uninjected; kube-inject still writes it back
# through Kubernetes' types (resources: {}, status: {}) and warns on stderr.
@test "istio: sidecar.istio.io/inject \"false\" leaves the Pod alone" {
  local file pod
  file=$(pod_file '{"sidecar.istio.io/inject": "false"}')
  pod=$(injected "$file" 2>"$BATS_TEST_TMPDIR/stderr")
  expect_eq "$(jq -S -c 'del(.status) | del(.spec.containers[].resources)' <<<"$pod")" "$(yq -S -c . "$file")" "the Pod"
  expect_eq "$(jq -c '[.status, .spec.containers[0].resources]' <<<"$pod")" '[{},{}]' "fields kube-inject adds"
  grep -q 'Skipping injection because Pod "demo/app" has sidecar injection disabled' "$BATS_TEST_TMPDIR/stderr"
}

# Prometheus merge (enablePrometheusMerge: true by default): a Pod's prometheus.io/scrape, port
# and path annotations (any spelling Prometheus reads the same, prometheus.io.port or
# prometheus-io/port) go into istio-proxy's env ISTIO_PROMETHEUS_ANNOTATIONS as JSON with keys
# scrape, path, port in that order, all strings, empty "" for those absent (and "targets" when
# prometheus.istio.io/scrape-targets is set); the annotations are replaced by prometheus.io/port
# "15020", path "/stats/prometheus", scrape "true". Not merged: scrape "false" (annotations
# kept), the annotation prometheus.istio.io/merge-metrics "false", a port already "15020". A
# port of Istio's (15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090) or not a port
# fails the injection.
@test "istio: prometheus annotations are merged into istio-proxy's ISTIO_PROMETHEUS_ANNOTATIONS" {
  local pod
  pod=$(injected "$(pod_file '{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}')")
  expect_eq "$(jq -r '.spec.containers[1].env[] | select(.name == "ISTIO_PROMETHEUS_ANNOTATIONS") | .value' <<<"$pod")" \
    '{"scrape":"true","path":"/metrics","port":"8080"}' "env"
  expect_eq "$(jq -c '.metadata.annotations | with_entries(select(.key | startswith("prometheus")))' <<<"$pod")" \
    '{"prometheus.io/path":"/stats/prometheus","prometheus.io/port":"15020","prometheus.io/scrape":"true"}' "annotations"

  pod=$(injected "$(pod_file '{"prometheus.io/port": "9090"}')")
  expect_eq "$(jq -r '.spec.containers[1].env[] | select(.name == "ISTIO_PROMETHEUS_ANNOTATIONS") | .value' <<<"$pod")" \
    '{"scrape":"","path":"","port":"9090"}' "env, only a port"

  pod=$(injected "$(pod_file '{"prometheus.io/scrape": "false", "prometheus.io/port": "8080"}')")
  expect_eq "$(jq -c '[(.metadata.annotations | with_entries(select(.key | startswith("prometheus")))),
      [.spec.containers[1].env[] | select(.name == "ISTIO_PROMETHEUS_ANNOTATIONS")]]' <<<"$pod")" \
    '[{"prometheus.io/port":"8080","prometheus.io/scrape":"false"},[]]' "scrape false"

  pod=$(injected "$(pod_file '{"prometheus.istio.io/merge-metrics": "false", "prometheus.io/port": "8080"}')")
  expect_eq "$(jq -c '[(.metadata.annotations | with_entries(select(.key | startswith("prometheus")))),
      [.spec.containers[1].env[] | select(.name == "ISTIO_PROMETHEUS_ANNOTATIONS")]]' <<<"$pod")" \
    '[{"prometheus.io/port":"8080","prometheus.istio.io/merge-metrics":"false"},[]]' "merge-metrics false"

  pod=$(injected "$(pod_file '{"prometheus.io/port": "15020"}')")
  expect_eq "$(jq -c '[(.metadata.annotations | with_entries(select(.key | startswith("prometheus")))),
      [.spec.containers[1].env[] | select(.name == "ISTIO_PROMETHEUS_ANNOTATIONS")]]' <<<"$pod")" \
    '[{"prometheus.io/port":"15020"},[]]' "port already 15020"

  pod=$(injected "$(pod_file '{"prometheus.io.port": "8080"}')")
  expect_eq "$(jq -r '.spec.containers[1].env[] | select(.name == "ISTIO_PROMETHEUS_ANNOTATIONS") | .value' <<<"$pod")" \
    '{"scrape":"","path":"","port":"8080"}' "prometheus.io.port"

  run istio_kube_inject "$(pod_file '{"prometheus.io/port": "15090"}')"
  [ "$status" -ne 0 ]
  [[ "$output" == *"port 15090 is reserved for Istio"* ]]
}

# A Pod's own container named istio-proxy customizes the injected one (image "auto" keeps
# Istio's image); Istio records the customization in the annotation proxy.istio.io/overrides,
# JSON {"containers":[...]} (and "initContainers" for init containers) with the Pod's container
# as written, image "auto" dropped, to apply it again on a later injection. Its HTTP probes are
# rewritten to the agent's port 15020 (rewriteAppHTTPProbe), the originals kept in
# ISTIO_KUBE_APP_PROBERS.
@test "istio: a Pod's istio-proxy customizes Istio's, recorded in proxy.istio.io/overrides; probes rewritten" {
  local pod
  pod=$(injected "$(pod_file '{}' '{"containers": [
      {"name": "app", "image": "nginx:1.27", "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}},
      {"name": "istio-proxy", "image": "auto", "resources": {"requests": {"cpu": "50m"}}}]}')")
  expect_eq "$(container_names "$pod" containers)" "app,istio-proxy" "containers"
  expect_eq "$(jq -r '.metadata.annotations["proxy.istio.io/overrides"]' <<<"$pod")" \
    '{"containers":[{"name":"istio-proxy","resources":{"requests":{"cpu":"50m"}}}]}' "overrides annotation"
  expect_eq "$(jq -c '.spec.containers[1] | [.image, .resources]' <<<"$pod")" \
    '["registry.istio.io/testing/proxyv2:latest",{"limits":{"cpu":"2","memory":"1Gi"},"requests":{"cpu":"50m","memory":"128Mi"}}]' "image and resources"
  expect_eq "$(jq -c .spec.containers[0].readinessProbe <<<"$pod")" \
    '{"httpGet":{"path":"/app-health/app/readyz","port":15020}}' "rewritten probe"
  expect_eq "$(jq -r '.spec.containers[1].env[] | select(.name == "ISTIO_KUBE_APP_PROBERS") | .value' <<<"$pod")" \
    '{"/app-health/app/readyz":{"httpGet":{"path":"/ready","port":8080}}}' "ISTIO_KUBE_APP_PROBERS"
}

# The oracle reproduces Istio's own golden files: every case of Istio's TestInjection
# (pkg/kube/inject/inject_test.go, read in the module cache by e2e-tests/istio/istio-cases.py)
# that runs with the default mesh config and values: kube-inject's output equals the golden
# `.injected` file byte for byte, native sidecars on ("default") or off ("native-off", the
# `-old-version` goldens and the opt-in/opt-out cases), and the cases that expect an error fail
# with it. Istio's test trims white space around both and blanks a version in the status
# annotation; neither is needed here. The other cases need a configuration of their own
# (e2e-tests/istio/INVENTORY.md).
@test "istio: kube-inject reproduces Istio's golden files for every case on the default configuration" {
  local source cases index category in want error native compared=0 errors=0 failed=()
  if ! command -v go >/dev/null && [ -z "${ISTIO_REQUIRED:-}" ]; then
    skip "Go is not installed, and Istio's source is read from its module cache with it"
  fi
  source=$(istio_source)/pkg/kube/inject
  cases=$(python3 "$ISTIO_DIR/istio-cases.py" "$source" |
    jq -r '[.index, .category, .in, (.want // "-"), (.expectedError // "-")] | @tsv')
  # The counts INVENTORY.md gives, for this Istio.
  expect_eq "$(wc -l <<<"$cases")" 128 "TestInjection's cases"
  expect_eq "$(awk -F'\t' '{ n[$2]++ } END { printf "%d %d %d", n["default"], n["native-off"], n["error"] }' <<<"$cases")" \
    "73 10 5" "default, native-off and error cases"
  while IFS=$'\t' read -r index category in want error; do
    case "$category" in
      default) native=true ;;
      native-off) native=false ;;
      error) native=true ;;
      *) continue ;;
    esac
    if [ "$category" = error ]; then
      if ISTIO_NATIVE_SIDECARS=$native istio_kube_inject "$source/testdata/inject/$in" >/dev/null 2>"$BATS_TEST_TMPDIR/err"; then
        failed+=("[$index] $in: no error, expected $error")
      elif ! tr '[:upper:]' '[:lower:]' <"$BATS_TEST_TMPDIR/err" | grep -qF "$error"; then
        failed+=("[$index] $in: not the error $error: $(cat "$BATS_TEST_TMPDIR/err")")
      fi
      errors=$((errors + 1))
      continue
    fi
    if ! ISTIO_NATIVE_SIDECARS=$native istio_kube_inject "$source/testdata/inject/$in" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"; then
      failed+=("[$index] $in: kube-inject failed: $(cat "$BATS_TEST_TMPDIR/err")")
    elif ! cmp -s "$BATS_TEST_TMPDIR/out" "$source/testdata/inject/$want"; then
      failed+=("[$index] $in ($category): differs from $want: $(diff "$source/testdata/inject/$want" "$BATS_TEST_TMPDIR/out" | head -n 10)")
    fi
    compared=$((compared + 1))
  done <<<"$cases"
  if [ ${#failed[@]} -gt 0 ]; then
    printf '%s\n' "${failed[@]}" >&2
    return 1
  fi
  expect_eq "$compared $errors" "83 5" "cases compared, errors checked"
}
