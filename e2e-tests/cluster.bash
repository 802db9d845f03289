# A Kubernetes control plane on 127.0.0.1, started as plain processes the way controller-runtime's
# envtest starts one (no kubelet, no containers, no scheduler: Pods are stored and stay Pending),
# and the admission chain in front of it: a registry, the real policy-server serving the module,
# and the webhook the Kubewarden controller would install for a ClusterAdmissionPolicy.
#
#   etcd ◄── kube-apiserver ──(MutatingWebhookConfiguration, TLS)──► policy-server ── module
#                ▲
#   kube-controller-manager (Deployments → ReplicaSets → Pods, the namespaces' default
#   ServiceAccounts, garbage collection)
#
# Used by e2e-tests/apiserver.bats and scripts/cluster.sh (`make cluster`). Needs hosts.bash (free_port,
# wait_until, stop_process, start_registry) and policy-server.bash (policy_server_args, wait_ready)
# loaded, openssl, curl, jq and yq. Every process started here is recorded in $CLUSTER_DIR/pids,
# and stop_cluster stops them all.

# start_control_plane DIR: etcd, kube-apiserver and kube-controller-manager, with their
# certificates, keys and kubeconfigs made in DIR. Sets and exports CLUSTER_DIR, KUBECONFIG (cluster
# admin), CLUSTER_CA (the certificate authority every certificate here is signed by) and PATH (with
# the pinned kubectl first). Returns once the API server is ready and the controllers have made the
# default namespace's ServiceAccount.
start_control_plane() {
  export CLUSTER_DIR=$1
  local bin etcd_port etcd_peer_port api_port
  bin=$("$ROOT/scripts/cluster-binaries.sh") || return 1
  export PATH=$bin:$PATH
  mkdir -p "$CLUSTER_DIR/pki" "$CLUSTER_DIR/etcd"
  : >"$CLUSTER_DIR/pids"
  cluster_pki "$CLUSTER_DIR/pki" || return 1
  export CLUSTER_CA=$CLUSTER_DIR/pki/ca.crt

  etcd_port=$(free_port)
  etcd_peer_port=$(free_port)
  # --unsafe-no-fsync: the data lives as long as the test; durability would only cost time.
  background etcd etcd --name test --data-dir "$CLUSTER_DIR/etcd" --log-level warn --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "test=http://127.0.0.1:$etcd_peer_port"
  wait_until 60 curl -fsS "http://127.0.0.1:$etcd_port/health" || { cluster_logs etcd; return 1; }

  api_port=$(free_port)
  export CLUSTER_SERVER=https://127.0.0.1:$api_port
  cat >"$CLUSTER_DIR/audit-policy.yaml" <<'EOF'
# The creations of Pods, with the annotations admission webhooks add (Kubewarden's injected and
# reason among them); nothing else.
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create]
    resources: [{group: "", resources: [pods]}]
  - level: None
EOF
  # The default admission plugins, as a cluster has them: ServiceAccount (the token volume),
  # DefaultTolerationSeconds, Priority, PodSecurity and the rest run around the webhook.
  background kube-apiserver kube-apiserver \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$CLUSTER_DIR/pki/apiserver.crt" --tls-private-key-file "$CLUSTER_DIR/pki/apiserver.key" \
    --client-ca-file "$CLUSTER_CA" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$CLUSTER_DIR/pki/sa.pub" \
    --service-account-signing-key-file "$CLUSTER_DIR/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode RBAC --allow-privileged=true --profiling=false \
    --audit-policy-file "$CLUSTER_DIR/audit-policy.yaml" --audit-log-path "$CLUSTER_DIR/audit.log" \
    --audit-log-format json
  kubeconfig "$CLUSTER_DIR/admin.kubeconfig" admin
  kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" controller-manager
  kubeconfig "$CLUSTER_DIR/policy-server.kubeconfig" policy-server-client
  export KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig
  wait_until 120 kubectl get --raw /readyz || { cluster_logs kube-apiserver; return 1; }
  # The policy server reads the cluster as itself, with only what a context-aware policy of
  # ours needs: reading Namespaces (get, and list and watch for its cache), as the ClusterRole
  # Kubewarden's Helm chart binds to the policy server's service account allows.
  kubectl apply -f - >/dev/null <<'EOF' || return 1
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: policy-server-namespaces}
rules:
  - {apiGroups: [""], resources: [namespaces], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: policy-server-namespaces}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: policy-server-namespaces}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: policy-server}
EOF

  # Each controller acts as its own service account, with the roles RBAC bootstraps for it, as in a
  # kubeadm cluster: the controller manager's own user may do little more than that.
  background kube-controller-manager kube-controller-manager \
    --kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
    --service-account-private-key-file "$CLUSTER_DIR/pki/sa.key" --root-ca-file "$CLUSTER_CA" \
    --use-service-account-credentials=true
  wait_until 120 kubectl get serviceaccount default -n default || { cluster_logs kube-controller-manager; return 1; }
}

# start_suite_control_plane: a bats suite's setup_file: the control plane in the suite's
# directory, or CLUSTER_SKIP set to why not (the Kubewarden hosts missing, or Go, unless
# CLUSTER_REQUIRED=1 makes that a failure). No KUBEWARDEN_* variable of the caller's reaches the
# policy server.
start_suite_control_plane() {
  unset $(compgen -e | grep '^KUBEWARDEN_' || true)
  if ! command -v policy-server >/dev/null || ! command -v kwctl >/dev/null; then
    export CLUSTER_SKIP="the Kubewarden hosts policy-server and kwctl are not on PATH"
    return 0
  fi
  if ! command -v go >/dev/null && [ -z "${CLUSTER_REQUIRED:-}" ] &&
    ! "$ROOT/scripts/cluster-binaries.sh" >/dev/null 2>&1; then
    export CLUSTER_SKIP="Go is not installed, and the control plane's binaries are built with it"
    return 0
  fi
  start_control_plane "$BATS_FILE_TMPDIR/cluster"
}

# serve_policies MANIFEST...: the real policy-server serving the module with the settings of each
# ClusterAdmissionPolicy manifest given, under the id the Kubewarden controller gives it
# (clusterwide-<name>), on the port of the previous call, so that the webhooks keep pointing at it.
# The module is pulled from a registry started and filled on the first call, as a cluster pulls it.
# Sets and exports POLICY_SERVER (https://127.0.0.1:port), PS_DIR, PS_LOG, PS_PID, REGISTRY and
# SOURCES. Needs $POLICY, the annotated module.
serve_policies() {
  local manifest name
  export REGISTRY SOURCES PS_DIR=$CLUSTER_DIR/policy-server PS_LOG=$CLUSTER_DIR/policy-server/policy-server.log
  if [ ! -f "$CLUSTER_DIR/registry.env" ]; then
    start_registry "$CLUSTER_DIR/registry" || return 1
    record_pid registry "$REGISTRY_PID"
    kwctl push --sources-path "$SOURCES" "$POLICY" "registry://$REGISTRY/policies/sidecar-injector:test" \
      >"$CLUSTER_DIR/push.log" 2>&1 || { cat "$CLUSTER_DIR/push.log" >&2; return 1; }
    printf 'REGISTRY=%s\nSOURCES=%s\n' "$REGISTRY" "$SOURCES" >"$CLUSTER_DIR/registry.env"
  fi
  source "$CLUSTER_DIR/registry.env"
  mkdir -p "$PS_DIR"
  cp "$CLUSTER_DIR/pki/policy-server.crt" "$PS_DIR/cert.pem"
  cp "$CLUSTER_DIR/pki/policy-server.key" "$PS_DIR/key.pem"
  : >"$PS_DIR/policies.yml"
  for manifest in "$@"; do
    name=$(yq -r .metadata.name "$manifest")
    # The Kubewarden controller passes the resources the policy is granted on as they are.
    printf 'clusterwide-%s:\n  module: registry://%s/policies/sidecar-injector:test\n  allowedToMutate: true\n  contextAwareResources: %s\n  settings: %s\n' \
      "$name" "$REGISTRY" "$(yq -c '.spec.contextAwareResources // []' "$manifest")" \
      "$(yq -c '.spec.settings // {}' "$manifest")" >>"$PS_DIR/policies.yml"
  done
  restart_policy_server
}

# restart_policy_server: (re)starts policy-server on the policies file of serve_policies, on the
# port it had, so that the webhooks keep pointing at it. Its pid and port are kept in files of
# PS_DIR too: a bats test's variables end with the test, the policy server may not.
restart_policy_server() {
  stop_policy_server
  local port=""
  [ ! -f "$PS_DIR/port" ] || port=$(cat "$PS_DIR/port")
  policy_server_args "$PS_DIR" "$PS_DIR/policies.yml" "$port"
  export PS_PORT PS_READINESS_PORT POLICY_SERVER=https://127.0.0.1:$PS_PORT
  echo "$PS_PORT" >"$PS_DIR/port"
  # Its defaults are the point: no KUBEWARDEN_* variable of the caller's may change them.
  # As itself (start_control_plane gave it its role), not as the cluster's admin.
  env $(compgen -e | grep '^KUBEWARDEN_' | sed 's/^/-u /') KUBECONFIG="$CLUSTER_DIR/policy-server.kubeconfig" \
    policy-server "${PS_ARGS[@]}" >>"$PS_LOG" 2>&1 3>&- &
  export PS_PID=$!
  echo "$PS_PID" >"$PS_DIR/pid"
  record_pid policy-server "$PS_PID"
  wait_ready 180 "$PS_LOG"
}

# stop_policy_server: stops the policy server restart_policy_server started last, if it runs.
stop_policy_server() {
  [ -f "${PS_DIR:-}/pid" ] || return 0
  stop_process "$(cat "$PS_DIR/pid")"
  rm -f "$PS_DIR/pid"
}

# install_webhook MANIFEST: the MutatingWebhookConfiguration the Kubewarden controller makes of
# the ClusterAdmissionPolicy MANIFEST (by `sidecar-injector webhook`), pointing at the policy server
# of serve_policies.
# The API server takes a moment to use a stored configuration: see wait_for_injection.
install_webhook() {
  "$CLI_BIN" webhook --settings "$1" --url "https://127.0.0.1:$(cat "$PS_DIR/port")" --ca-file "$CLUSTER_CA" >"$CLUSTER_DIR/webhook.yaml" &&
    kubectl apply -f "$CLUSTER_DIR/webhook.yaml" >/dev/null
}

# uninstall_webhooks: every webhook configuration install_webhook installed.
uninstall_webhooks() {
  kubectl delete mutatingwebhookconfigurations -l app.kubernetes.io/part-of=kubewarden --wait >/dev/null
}

# wait_for_injection NAMESPACE yes|no [WHERE]: until a Pod that asks for the sidecar, created (dry
# run) in NAMESPACE, is injected, or is not; WHERE (containers or initContainers) says where the
# proxy must be. The API server applies a change of its webhook configurations a moment after it
# is stored.
wait_for_injection() {
  local namespace=$1 wanted=$2 where=${3:-} deadline=$((SECONDS + 30)) got
  local probe='{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "labels": {"sidecar.istio.io/inject": "true"}},
    "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}'
  while :; do
    got=$(kubectl create --dry-run=server -n "$namespace" -o json -f - <<<"$probe" 2>/dev/null | jq -r --arg where "$where" '
        if .metadata.annotations["sidecar.istio.io/status"] == null then "no"
        elif $where == "" or ([.spec[$where][]?.name] | index("istio-proxy")) != null then "yes"
        else "elsewhere" end')
    [ "$got" = "$wanted" ] && return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "a Pod in $namespace: injected '$got' after 30 s, expected '$wanted'" >&2
      return 1
    fi
    sleep 0.2
  done
}

# injected: "yes" when the Pod on stdin (JSON, as the API server stored it) has the status
# annotation, else "no".
injected() {
  jq -r 'if .metadata.annotations["sidecar.istio.io/status"] then "yes" else "no" end'
}

# create_namespace NAME [LABEL=VALUE...]: a namespace, once the controllers gave it its default
# ServiceAccount (the ServiceAccount admission plugin refuses Pods until then).
create_namespace() {
  local name=$1
  shift
  kubectl create namespace "$name" >/dev/null || return 1
  [ $# -eq 0 ] || kubectl label namespace "$name" "$@" >/dev/null || return 1
  wait_until 60 kubectl get serviceaccount default -n "$name"
}

# stop_cluster: every process start_control_plane and serve_policies started, last first.
stop_cluster() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -f "$CLUSTER_DIR/pids" ] || return 0
  local pid
  for pid in $(tac "$CLUSTER_DIR/pids" | cut -d' ' -f2); do
    stop_process "$pid"
  done
  : >"$CLUSTER_DIR/pids"
}

# background NAME COMMAND...: starts COMMAND with its output in $CLUSTER_DIR/NAME.log.
background() {
  local name=$1
  shift
  # fd 3 closed: bats waits for every holder of its fd 3 before it finishes.
  "$@" >"$CLUSTER_DIR/$name.log" 2>&1 3>&- &
  record_pid "$name" $!
}

record_pid() {
  echo "$1 $2" >>"$CLUSTER_DIR/pids"
}

# cluster_logs NAME: the end of a component's log, on stderr, when it failed to start.
cluster_logs() {
  echo "$1 did not become ready; the end of its log:" >&2
  tail -n 40 "$CLUSTER_DIR/$1.log" >&2
}

# cluster_pki DIR: a certificate authority and, signed by it, the API server's serving
# certificate, the clients' certificates (the admin in system:masters, the controller manager as
# RBAC's bootstrap roles name it, the policy server as user policy-server), the policy server's
# serving certificate for 127.0.0.1, and the service accounts' signing key. ECDSA keys: fast to make, and every component reads them.
cluster_pki() {
  local dir=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=sidecar-injector-test-ca -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null || return 1
  issue "$dir" apiserver /CN=kube-apiserver serverAuth \
    DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1 || return 1
  issue "$dir" admin /O=system:masters/CN=admin clientAuth || return 1
  issue "$dir" controller-manager /CN=system:kube-controller-manager clientAuth || return 1
  issue "$dir" policy-server /CN=policy-server serverAuth IP:127.0.0.1 || return 1
  issue "$dir" policy-server-client /CN=policy-server clientAuth || return 1
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/sa.key" 2>/dev/null &&
    openssl ec -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
}

# issue DIR NAME SUBJECT USAGE [SANS]: DIR/NAME.crt and DIR/NAME.key, signed by DIR/ca.
issue() {
  local dir=$1 name=$2 subject=$3 usage=$4 sans=${5:-}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null || return 1
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -z "$sans" ] || echo "subjectAltName=$sans"
  } >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
}

# kubeconfig FILE USER: a kubeconfig for CLUSTER_SERVER, as USER (a certificate of cluster_pki).
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster: {server: "$CLUSTER_SERVER", certificate-authority: "$CLUSTER_DIR/pki/ca.crt"}
users:
  - name: $2
    user: {client-certificate: "$CLUSTER_DIR/pki/$2.crt", client-key: "$CLUSTER_DIR/pki/$2.key"}
contexts:
  - name: test
    context: {cluster: test, user: $2}
current-context: test
EOF
}
