# Host-capability sessions for `kwctl run --replay-host-capabilities-interactions`: the policy's
# read of a Namespace, answered. The form is kwctl's own (e2e-tests/namespaces-cluster.bats
# records one against the real API server and compares). Needs jq.

# session FILE NAMESPACE LABELS_JSON [ANNOTATIONS_JSON]: a session in which the host answers the
# policy's one read of NAMESPACE with a Namespace that has these labels (and the name label the
# API server adds) and annotations.
session() {
  local file=$1 name=$2 labels=$3 annotations=${4:-'{}'} payload
  payload=$(jq -cn --arg name "$name" --argjson labels "$labels" --argjson annotations "$annotations" \
    '{apiVersion: "v1", kind: "Namespace",
      metadata: {name: $name, annotations: $annotations,
        labels: ({"kubernetes.io/metadata.name": $name} + $labels)},
      spec: {finalizers: ["kubernetes"]}, status: {phase: "Active"}}')
  exchange "$name" "$(jq -n --arg payload "$payload" '{type: "Success", payload: $payload}')" >"$file"
}

# failing_session FILE NAMESPACE MESSAGE: the host's read of NAMESPACE fails with MESSAGE.
failing_session() {
  exchange "$2" "$(jq -n --arg message "$3" '{type: "Error", message: $message}')" >"$1"
}

# exchange NAMESPACE RESPONSE_JSON: one exchange, the read of NAMESPACE (JSON, which is YAML).
exchange() {
  jq -n --arg name "$1" --argjson response "$2" '[{
    type: "Exchange",
    request: "!KubernetesGetResource\napi_version: v1\nkind: Namespace\nname: \($name)\nnamespace: null\ndisable_cache: false\n",
    response: $response}]'
}

