# Istio's own injector as an oracle: istioctl (built with Go by scripts/istio-binaries.sh from
# e2e-tests/istio/go.mod) injecting files offline with Istio's default configuration, which
# scripts/istio-config.sh generated into e2e-tests/istio/generated/. Test infrastructure: what
# Istio gives, for the suites to compare the policy with.
#
# Needs helpers.bash loaded (ROOT). istioctl starts no process that outlives its call.

ISTIO_DIR=$ROOT/e2e-tests/istio
ISTIO_GENERATED=$ISTIO_DIR/generated

# istio_binaries: sets and exports ISTIOCTL, building istioctl the first time (about 7 minutes on
# 2 cores). When it cannot be had (no Go, a build that failed), the test skips saying why, or with
# ISTIO_REQUIRED=1 (as .ci/run sets it) fails. Called in setup_file, where bats cannot skip, it
# exports the reason as ISTIO_SKIP, and the same call in setup (or a test) skips with it.
istio_binaries() {
  [ -z "${ISTIO_SKIP:-}" ] || skip "$ISTIO_SKIP"
  [ -z "${ISTIOCTL:-}" ] || [ ! -x "$ISTIOCTL" ] || return 0
  local bin log=${BATS_FILE_TMPDIR:-${BATS_RUN_TMPDIR:-/tmp}}/istio-binaries.log
  if bin=$("$ROOT/scripts/istio-binaries.sh" 2>"$log"); then
    export ISTIOCTL=$bin/istioctl
    return 0
  fi
  local why
  if ! command -v go >/dev/null; then
    why="Go is not installed, and istioctl is built with it (scripts/istio-binaries.sh)"
  else
    why="scripts/istio-binaries.sh failed: $(tail -n 3 "$log")"
  fi
  if [ -n "${ISTIO_REQUIRED:-}" ]; then
    echo "ISTIO_REQUIRED is set and istioctl cannot be had: $why" >&2
    return 1
  fi
  export ISTIO_SKIP=$why
  [ -z "${BATS_TEST_NAME:-}" ] || skip "$why"
}

# istio_source: the directory of the pinned istio.io/istio module's source in the Go module cache
# (downloaded if the cache lost it), where Istio's own tests and their testdata are read.
istio_source() {
  (cd "$ISTIO_DIR" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go mod download -json istio.io/istio) | jq -er .Dir
}

# istio_kube_inject FILE: what `istioctl kube-inject` makes of FILE (a Pod, a workload, a List, or
# several documents), with Istio's default configuration and the default revision, on stdout as
# YAML; istioctl's warnings (such as "Skipping injection because ...") go to stderr.
#
# ISTIO_NATIVE_SIDECARS (default false) chooses native sidecars (istio-proxy an init container
# with restartPolicy: Always). Offline, Istio decides them only by its environment variable
# ENABLE_NATIVE_SIDECARS: "true" turns them on; "false", or the default "auto", leaves them off,
# since auto looks at the cluster's nodes' kubelet versions and kube-inject from files has no
# cluster (pilot/pkg/features: EnableNativeSidecars; pkg/kube/inject: IntoObject). A Pod's
# annotation sidecar.istio.io/nativeSidecar still overrides it, in the injection template.
istio_kube_inject() {
  [ -n "${ISTIOCTL:-}" ] || { echo "istio_kube_inject: call istio_binaries first" >&2; return 1; }
  local native
  case "${ISTIO_NATIVE_SIDECARS:-false}" in
    true) native=true ;;
    false) native=false ;;
    *)
      echo "istio_kube_inject: ISTIO_NATIVE_SIDECARS is '$ISTIO_NATIVE_SIDECARS', not true or false" >&2
      return 1
      ;;
  esac
  # No kubeconfig: istioctl reads none with these flags, and must not reach a cluster by chance.
  ENABLE_NATIVE_SIDECARS=$native KUBECONFIG=/dev/null timeout 120 "$ISTIOCTL" kube-inject -f "$1" \
    --injectConfigFile "$ISTIO_GENERATED/inject-config.yaml" \
    --valuesFile "$ISTIO_GENERATED/values.json" \
    --meshConfigFile "$ISTIO_GENERATED/mesh-config.yaml" \
    --revision default
}

# istio_cli_setup: a test's setup in the suites that compare kube-inject with the CLI ($CLI):
# istioctl built or found, and the CLI there.
istio_cli_setup() {
  istio_binaries
  [ -x "$CLI" ] || {
    echo "the CLI is not built: $CLI (make e2e-tests builds it; CLI_BIN= names another)" >&2
    return 1
  }
}
