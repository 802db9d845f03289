# For policy-server.bats: the real Kubewarden policy-server on 127.0.0.1, over HTTPS, offline.
#
# Needs kwctl and policy-server on PATH, openssl, curl, jq, yq, and hosts.bash loaded.

# The opt-in example's settings with `policy` set to $1, as one line of JSON.
opt_in_settings() {
  yq -c --arg policy "$1" '.spec.settings | .policy = $policy' "$ROOT/examples/opt-in.yaml"
}

# prepare_policy_server: for a file's setup_file. Without the hosts, sets PS_SKIP (bats 1.8
# cannot skip from setup_file: each test's setup skips with skip_without_policy_server). Otherwise
# sets PS_DIR and PS_LOG, checks that $POLICY is annotated (policy-server refuses it otherwise),
# and makes the certificate.
prepare_policy_server() {
  if ! command -v policy-server >/dev/null || ! command -v kwctl >/dev/null; then
    export PS_SKIP="the Kubewarden hosts policy-server and kwctl are not on PATH"
    return 0
  fi
  # policy-server reads its flags' defaults from KUBEWARDEN_* variables: the defaults are the point.
  unset $(compgen -e | grep '^KUBEWARDEN_' || true)
  export PS_DIR=$BATS_FILE_TMPDIR/policy-server
  export PS_LOG=$PS_DIR/policy-server.log
  mkdir -p "$PS_DIR"
  kwctl inspect -o yaml "$POLICY" >/dev/null 2>&1 || {
    echo "$POLICY is not annotated, and policy-server refuses it: make annotated-policy.wasm" >&2
    return 1
  }
  make_certificate "$PS_DIR"
}

skip_without_policy_server() {
  if [ -n "${PS_SKIP:-}" ]; then
    skip "$PS_SKIP"
  fi
}

# start_policy_server POLICIES: policy-server serving the policies file POLICIES (see
# policy_server_args; SOURCES must be set), in the background as PS_PID, once it is ready.
start_policy_server() {
  policy_server_args "$PS_DIR" "$1"
  export PS_PORT PS_READINESS_PORT
  policy-server "${PS_ARGS[@]}" >"$PS_LOG" 2>&1 3>&- &
  export PS_PID=$!
  # It compiles the module when it starts: seconds, more on a busy machine.
  wait_ready 180 "$PS_LOG"
}

# make_certificate DIR: a self-signed certificate for IP 127.0.0.1 in DIR/cert.pem, its key in DIR/key.pem.
make_certificate() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}

# policy_server_args DIR POLICIES [PORT]: sets PS_ARGS, the arguments of a policy-server that serves
# POLICIES over HTTPS on 127.0.0.1 with the certificate of DIR, on PORT or a free port (PS_PORT)
# and a free readiness port (PS_READINESS_PORT), keeping what it downloads or caches under DIR, at the default log level (info)
# with JSON lines.
#
# Offline it needs: --ignore-kubernetes-connection-failure (no cluster), --sources-path (the
# plain-HTTP registry), an absolute --policies-download-dir (a relative one fails to store a module
# pulled from a registry) and --sigstore-cache-dir (both default to the working directory).
policy_server_args() {
  local dir=$1 policies=$2
  mkdir -p "$dir/downloads" "$dir/sigstore"
  PS_PORT=${3:-$(free_port)}
  PS_READINESS_PORT=$(free_port)
  PS_ARGS=(--addr 127.0.0.1 --port "$PS_PORT" --readiness-probe-port "$PS_READINESS_PORT"
    --cert-file "$dir/cert.pem" --key-file "$dir/key.pem"
    --ignore-kubernetes-connection-failure --sources-path "$SOURCES"
    --policies "$policies" --policies-download-dir "$dir/downloads" --sigstore-cache-dir "$dir/sigstore"
    --log-fmt json)
}

# policies_entry ID MODULE SETTINGS_JSON: one policy of a policies file, allowed to mutate.
policies_entry() {
  printf '%s:\n  module: %s\n  allowedToMutate: true\n  settings: %s\n' "$1" "$2" "$3"
}

# running PID: the process exists and has not exited (an exited child stays a zombie until reaped).
running() {
  [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

exited() {
  ! running "$1"
}

# wait_ready SECONDS LOG: until policy-server's readiness probe answers; fails, with its log,
# if the server exits first or takes longer.
wait_ready() {
  local deadline=$((SECONDS + $1))
  until curl -fsS "http://127.0.0.1:$PS_READINESS_PORT/readiness" >/dev/null 2>&1; do
    if ! running "$PS_PID"; then
      echo "policy-server exited before it was ready:" >&2
      cat "$2" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "policy-server was not ready after $1 s:" >&2
      cat "$2" >&2
      return 1
    fi
    sleep 0.2
  done
}

# review [FILTER]: an AdmissionReview for the creation of the fixture Pod, changed by the jq
# FILTER (applied to the whole review), with a fresh uid; prints its path.
review() {
  local file
  file=$(mktemp "$BATS_TEST_TMPDIR/review-XXXXXX.json")
  jq --arg uid "$(cat /proc/sys/kernel/random/uuid)" ".request.uid = \$uid | ${1:-.}" "$E2E_DIR/admission-reviews/pod-create.json" >"$file"
  echo "$file"
}

# with_label VALUE: the review FILTER that gives the Pod the label sidecar.istio.io/inject: VALUE.
with_label() {
  printf '.request.object.metadata.labels["sidecar.istio.io/inject"] = "%s"' "$1"
}

# post POLICY_ID REVIEW: posts the review to policy-server. The HTTP status goes to
# $http_status, the whole answer to $answer, its `response` to $output (so that helpers.bash's
# field, patch and applied read it as they read kwctl's AdmissionResponse), the request's uid
# to $REVIEW_UID.
post() {
  local body
  REVIEW_UID=$(jq -r .request.uid "$2")
  body=$(mktemp "$BATS_TEST_TMPDIR/answer-XXXXXX.json")
  http_status=$(curl -sS --cacert "$PS_DIR/cert.pem" -H 'Content-Type: application/json' \
    --data-binary @"$2" -o "$body" -w '%{http_code}' "https://127.0.0.1:$PS_PORT/validate/$1")
  answer=$(cat "$body")
  output=$(jq -c '.response' <<<"$answer")
}

# field_json FILTER: like field, as compact JSON.
field_json() {
  jq -c "$1" <<<"$output"
}

# expect_answer KEYS: HTTP 200, an AdmissionReview v1 whose response echoes the request's uid
# and has exactly KEYS (sorted, comma-separated).
expect_answer() {
  expect_eq "$http_status" 200 "HTTP status"
  expect_eq "$(jq -r '"\(.apiVersion) \(.kind)"' <<<"$answer")" "admission.k8s.io/v1 AdmissionReview" "answer"
  expect_eq "$(field .uid)" "$REVIEW_UID" "response.uid"
  expect_eq "$(field 'keys | join(",")')" "$1" "response keys"
}

# expect_audit INJECTED REASON: exactly these audit annotations, keyed as the policy returns them
# (in no particular order: the module keeps them in a hash map).
expect_audit() {
  expect_eq "$(field_json '.auditAnnotations' | jq -S -c .)" \
    "$(jq -nc --arg i "$1" --arg r "$2" '{injected: $i, reason: $r}' | jq -S -c .)" "auditAnnotations"
}

# The containers, init containers and volumes of the opt-in example's sidecar.
SIDECAR_VOLUMES='["workload-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"]'

# expect_injected REVIEW REASON: allowed, the reason, no warning, and the patch gives the fixture
# Pod with the opt-in sidecar where holdApplicationUntilProxyStarts puts it: the proxy before the
# Pod's containers, istio-init after the Pod's init containers (networkInitContainers), volumes
# before the Pod's (where Istio puts them); nothing of the Pod's own is changed.
expect_injected() {
  local review=$1 pod submitted status
  expect_answer "allowed,auditAnnotations,patch,patchType,uid,warnings"
  expect_eq "$(field .allowed)" true "allowed"
  expect_audit true "$2"
  expect_eq "$(field_json .warnings)" null "warnings"
  expect_eq "$(field .patchType)" JSONPatch "patchType"
  pod=$(applied "$review") || {
    echo "the patch does not give a valid Pod" >&2
    return 1
  }
  expect_eq "$(container_names "$pod" containers)" "istio-proxy,app,worker" "containers"
  expect_eq "$(container_names "$pod" initContainers)" "migrate,istio-init" "initContainers"
  expect_eq "$(jq -c '[.spec.volumes[].name]' <<<"$pod")" \
    "$(jq -c '. + ["data"]' <<<"$SIDECAR_VOLUMES")" "volumes"
  status=$(jq -r '.metadata.annotations["sidecar.istio.io/status"]' <<<"$pod")
  expect_eq "$(jq -S -c 'del(.hash)' <<<"$status")" \
    "$(jq -S -c '{initContainers: ["istio-init"], containers: ["istio-proxy"], volumes: ., imagePullSecrets: [], revision: "default",
        labels: ["security.istio.io/tlsMode", "service.istio.io/canonical-name", "service.istio.io/canonical-revision"],
        annotations: ["kubectl.kubernetes.io/default-container", "kubectl.kubernetes.io/default-logs-container", "prometheus.io/path", "prometheus.io/port", "prometheus.io/scrape"],
        metrics: {container: "istio-proxy"}}' <<<"$SIDECAR_VOLUMES")" \
    "status annotation"
  [[ "$(jq -r .hash <<<"$status")" =~ ^[0-9a-f]{16}$ ]] || {
    echo "hash is not 16 hex digits: $status" >&2
    return 1
  }
  # The template's strings, rendered for this Pod (as submitted).
  expect_eq "$(jq -S -c '.metadata.labels' <<<"$pod")" \
    "$(jq -S -c '.request.object.metadata.labels + {"security.istio.io/tlsMode": "istio",
       "service.istio.io/canonical-name": "web", "service.istio.io/canonical-revision": "latest"}' "$review")" "labels"
  expect_eq "$(jq -S -c '.metadata.annotations | del(.["sidecar.istio.io/status"])' <<<"$pod")" \
    "$(jq -S -c . <<<'{"team":"shop","kubectl.kubernetes.io/default-container":"app","kubectl.kubernetes.io/default-logs-container":"app","prometheus.io/scrape":"true","prometheus.io/port":"15020","prometheus.io/path":"/stats/prometheus"}')" \
    "annotations"
  expect_eq "$(jq -c '.spec.containers[0] | [.image, .args[4], (.env[] | select(.name == "ISTIO_META_APP_CONTAINERS" or .name == "ISTIO_META_WORKLOAD_NAME") | .value), .resources.requests.cpu]' <<<"$pod")" \
    '["docker.io/istio/proxyv2:1.27.3","--proxyLogLevel=warning","app,worker","web","100m"]' "istio-proxy"
  expect_eq "$(jq -c '.spec.initContainers[-1] | [.name, .args[10], .args[12], .args[14]]' <<<"$pod")" \
    '["istio-init","*","","*"]' "istio-init"
  # Without what the status annotation lists, labels and annotations it added, the Pod is the
  # one submitted, byte for byte in JSON terms.
  submitted=$(jq -S -c '.request.object' "$review")
  expect_eq "$(jq -S -c --argjson vols "$SIDECAR_VOLUMES" '
      .spec.containers |= map(select(.name != "istio-proxy"))
    | .spec.initContainers |= map(select(.name != "istio-init"))
    | .spec.volumes |= map(select(.name as $n | $vols | index($n) | not))
    | .metadata.labels |= del(.["security.istio.io/tlsMode"], .["service.istio.io/canonical-name"], .["service.istio.io/canonical-revision"])
    | .metadata.annotations |= del(.["sidecar.istio.io/status"], .["kubectl.kubernetes.io/default-container"],
        .["kubectl.kubernetes.io/default-logs-container"], .["prometheus.io/scrape"], .["prometheus.io/port"], .["prometheus.io/path"])' <<<"$pod")" \
    "$submitted" "the Pod without the sidecar"
}

# expect_not_injected REASON [WARNING]: allowed, no patch, the reason, and the warning (or none).
expect_not_injected() {
  expect_answer "allowed,auditAnnotations,uid,warnings"
  expect_eq "$(field .allowed)" true "allowed"
  expect_audit false "$1"
  if [ -n "${2:-}" ]; then
    expect_eq "$(field_json .warnings)" "$(jq -nc --arg w "$2" '[$w]')" "warnings"
  else
    expect_eq "$(field_json .warnings)" null "warnings"
  fi
  expect_no_patch
}

# expect_rejected CODE MESSAGE: refused with the code and the message, nothing else.
expect_rejected() {
  expect_answer "allowed,auditAnnotations,status,uid,warnings"
  expect_eq "$(field .allowed)" false "allowed"
  expect_eq "$(field_json .status)" "$(jq -nc --arg m "$2" --argjson c "$1" '{message: $m, code: $c}')" "status"
  expect_eq "$(field_json .auditAnnotations)" null "auditAnnotations"
  expect_eq "$(field_json .warnings)" null "warnings"
  expect_no_patch
}

# Log lines after line N of policy-server's log, as JSON (a line that is not JSON becomes a string).
log_after() {
  tail -n +"$(($1 + 1))" "$PS_LOG" | jq -R -c '. as $line | try fromjson catch $line'
}

log_lines() {
  wc -l <"$PS_LOG"
}

# wait_log_quiet: until the log has not grown for half a second (lines of earlier requests are
# in); fails after 10 s.
wait_log_quiet() {
  local before after=-1 deadline=$((SECONDS + 10))
  before=$(log_lines)
  until [ "$before" = "$after" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "policy-server's log keeps growing" >&2
      return 1
    fi
    sleep 0.5
    after=$before
    before=$(log_lines)
  done
}

# The number of "finished processing request" lines for /validate/$2 after line $1.
responses_logged() {
  log_after "$1" | jq -s --arg uri "/validate/$2" \
    '[.[] | select(type == "object" and .target == "tower_http::trace::on_response" and .span.uri == $uri)] | length'
}

# request_logged N POLICY_ID: policy-server logged the end of a request to POLICY_ID after line N.
request_logged() {
  [ "$(responses_logged "$1" "$2")" -ge 1 ]
}
