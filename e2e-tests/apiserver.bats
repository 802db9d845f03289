#!/usr/bin/env bats
# The whole admission chain, as a cluster runs it: Pods created with kubectl on a real
# kube-apiserver (with etcd and kube-controller-manager, see cluster.bash), which evaluates the
# webhook the Kubewarden controller would install for our ClusterAdmissionPolicy (made by
# `sidecar-injector webhook`), calls the real policy-server serving the module pulled from a
# registry, applies the JSONPatch, validates the mutated Pod and stores it. What the suite reads
# back is what the API server stored, and its audit log.
#
# Needs kwctl and policy-server on PATH, and the control plane's binaries (built with Go by
# scripts/cluster-binaries.sh the first time). Without them each test skips, saying why; with
# CLUSTER_REQUIRED=1 (as .ci/run sets it) a missing Go fails instead.

load helpers
load hosts
load policy-server
load cluster

export CLI_BIN=${CLI_BIN:-${HOME}/.cache/sidecar-injector/target-host/debug/sidecar-injector}
EXAMPLES=$ROOT/examples

setup_file() {
  start_suite_control_plane || return 1
  [ -z "${CLUSTER_SKIP:-}" ] || return 0
  export MANIFESTS=$BATS_FILE_TMPDIR/manifests
  mkdir -p "$MANIFESTS"
  # The opt-in and opt-out examples as shipped, and each with policy: disabled (the same
  # policy, its settings changed: the webhook stays).
  for example in opt-in opt-out; do
    cp "$EXAMPLES/$example.yaml" "$MANIFESTS/$example-enabled.yaml"
    yq -y '.spec.settings.policy = "disabled"' "$EXAMPLES/$example.yaml" >"$MANIFESTS/$example-disabled.yaml"
  done
  create_namespace tt-enabled istio-injection=enabled
  create_namespace tt-disabled istio-injection=disabled
  create_namespace tt-unlabelled
  create_namespace plain
  kubectl label namespace kube-system kube-public istio-injection=enabled >/dev/null
  # Every example, each scoped to the namespaces labelled prop=<example> (its namespaceSelector
  # replaced), so that all can be installed at once: for the properties below.
  for example in opt-in opt-out templates logging-sidecar; do
    yq -y --arg e "$example" '.metadata.name = "prop-" + $e
      | .spec.namespaceSelector = {matchExpressions: [{key: "prop", operator: "In", values: [$e]}]}' \
      "$EXAMPLES/$example.yaml" >"$MANIFESTS/prop-$example.yaml"
    create_namespace "prop-$example" "prop=$example"
  done
  export PROPS="opt-in opt-out templates logging-sidecar"
  serve_policies "$MANIFESTS/opt-in-enabled.yaml"
}

setup() {
  [ -z "${CLUSTER_SKIP:-}" ] || skip "$CLUSTER_SKIP"
}

teardown_file() {
  stop_cluster
}

# A Pod named NAME with the labels LABELS_JSON, and SPEC_JSON merged into its spec, as JSON.
pod() {
  jq -nc --arg name "$1" --argjson labels "${2:-{\}}" --argjson spec "${3:-{\}}" '
    {apiVersion: "v1", kind: "Pod", metadata: {name: $name, labels: ({app: "web"} + $labels)},
     spec: ({containers: [{name: "web", image: "registry.example/web:1", ports: [{containerPort: 8080, name: "http"}]}]} + $spec)}'
}

# The annotations our webhook added to the audit event of the creation of NAMESPACE/NAME: the
# reason and injected, as "injected: reason"; empty when the API server did not call it.
audited() {
  jq -rs --arg ns "$1" --arg name "$2" '
    [.[] | select(.verb == "create" and .stage == "ResponseComplete" and .objectRef.namespace == $ns
      and .objectRef.name == $name and (.annotations // {} | keys | any(endswith(".kubewarden.admission/reason"))))]
    | last | .annotations // {} | to_entries
    | (map(select(.key | endswith(".kubewarden.admission/injected")))[0].value) + ": "
      + (map(select(.key | endswith(".kubewarden.admission/reason")))[0].value)' "$CLUSTER_DIR/audit.log"
}

@test "apiserver: the webhook as the Kubewarden controller installs it, stored with the API server's defaults" {
  install_webhook "$MANIFESTS/opt-in-enabled.yaml"
  stored=$(kubectl get mutatingwebhookconfiguration clusterwide-sidecar-injector -o json)
  expect_eq "$(jq -S -c '.webhooks | map({name, clientConfig: (.clientConfig | {url}), failurePolicy, matchPolicy,
      namespaceSelector, objectSelector, reinvocationPolicy, sideEffects, timeoutSeconds, admissionReviewVersions,
      rules: (.rules | map(del(.scope))), ca: (.clientConfig.caBundle | @base64d)})' <<<"$stored")" \
    "$(jq -S -nc --arg url "https://127.0.0.1:$(cat "$PS_DIR/port")/validate/clusterwide-sidecar-injector" --rawfile ca "$CLUSTER_CA" '[{
      name: "clusterwide-sidecar-injector.kubewarden.admission", clientConfig: {url: $url},
      failurePolicy: "Fail", matchPolicy: "Equivalent",
      namespaceSelector: {matchExpressions: [
        {key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kubewarden"]},
        {key: "istio-injection", operator: "In", values: ["enabled"]}]},
      objectSelector: {}, reinvocationPolicy: "Never", sideEffects: "None", timeoutSeconds: 10,
      admissionReviewVersions: ["v1"],
      rules: [{apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], operations: ["CREATE"]}], ca: $ca}]')" \
    "the webhook the API server stored"
  wait_for_injection tt-enabled yes
}

# truth_table EXAMPLE: the seed's truth table through the API server under the example's
# manifest, with policy enabled and disabled: three namespaces (labelled enabled, disabled, not
# labelled) times three Pod overrides (the label "true", "false", none). Prints one line per
# case that went wrong; counts the cases in $TT_CASES.
truth_table() {
  local example=$1 policy namespace override selected expected name labels got audit reason
  uninstall_webhooks
  install_webhook "$MANIFESTS/$example-enabled.yaml"
  TT_CASES=0
  for policy in enabled disabled; do
    serve_policies "$MANIFESTS/$example-$policy.yaml" >&2 || return 1
    wait_for_injection tt-enabled yes >&2 || return 1
    for namespace in enabled disabled unlabelled; do
      case "$example:$namespace" in
        opt-in:enabled | opt-out:enabled | opt-out:unlabelled) selected=yes ;;
        *) selected=no ;;
      esac
      for override in true false absent; do
        name=$example-$policy-$override
        labels='{}'
        [ "$override" = absent ] || labels=$(jq -nc --arg v "$override" '{"sidecar.istio.io/inject": $v}')
        case "$selected:$override:$policy" in
          no:*) expected=no reason="" ;;
          yes:true:*) expected=yes reason="true: the Pod's label sidecar.istio.io/inject is \"true\"" ;;
          yes:false:*) expected=no reason="false: the Pod's label sidecar.istio.io/inject is \"false\"" ;;
          yes:absent:enabled) expected=yes reason="true: the Pod does not choose, and the policy's default is enabled" ;;
          yes:absent:disabled) expected=no reason="false: the Pod does not choose, and the policy's default is disabled" ;;
        esac
        TT_CASES=$((TT_CASES + 1))
        got=$(pod "$name" "$labels" | kubectl create -n "tt-$namespace" -o json -f - | injected) || return 1
        audit=$(audited "tt-$namespace" "$name")
        [ "$audit" = ": " ] && audit=""
        if [ "$got" != "$expected" ] || [ "$audit" != "$reason" ]; then
          echo "$example, policy $policy, namespace tt-$namespace, override $override: injected $got (expected $expected), policy's audit '$audit' (expected '$reason')"
        fi
      done
    done
  done
}

@test "apiserver: the seed's truth table under the opt-in example (namespaceSelector istio-injection=enabled)" {
  truth_table opt-in >"$BATS_TEST_TMPDIR/failures"
  expect_eq "$(cat "$BATS_TEST_TMPDIR/failures")" "" "cases that went wrong"
  expect_eq "$TT_CASES" 18 "cases"
}

@test "apiserver: the seed's truth table under the opt-out example (istio-injection NotIn disabled)" {
  truth_table opt-out >"$BATS_TEST_TMPDIR/failures"
  expect_eq "$(cat "$BATS_TEST_TMPDIR/failures")" "" "cases that went wrong"
  expect_eq "$TT_CASES" 18 "cases"
}

@test "apiserver: kube-system and kube-public, labelled for injection, and hostNetwork get no sidecar, and kubectl shows the warning" {
  serve_policies "$MANIFESTS/opt-in-enabled.yaml"
  uninstall_webhooks
  install_webhook "$MANIFESTS/opt-in-enabled.yaml"
  wait_for_injection tt-enabled yes
  for namespace in kube-system kube-public tt-enabled; do
    spec='{}'
    reason="namespace $namespace is a Kubernetes system namespace, where sidecars are never injected"
    if [ "$namespace" = tt-enabled ]; then
      spec='{"hostNetwork": true}'
      reason="the Pod uses the node's network (spec.hostNetwork: true), where a sidecar would capture the node's traffic"
    fi
    pod security "{\"sidecar.istio.io/inject\": \"true\"}" "$spec" >"$BATS_TEST_TMPDIR/pod.json"
    kubectl create -n "$namespace" -o json -f "$BATS_TEST_TMPDIR/pod.json" >"$BATS_TEST_TMPDIR/stored.json" 2>"$BATS_TEST_TMPDIR/stderr"
    expect_eq "$(injected <"$BATS_TEST_TMPDIR/stored.json")" no "injected in $namespace"
    expect_eq "$(cat "$BATS_TEST_TMPDIR/stderr")" \
      "Warning: the Pod asks for the sidecar with its label sidecar.istio.io/inject is \"true\", but none was injected: $reason" \
      "what kubectl printed in $namespace"
    expect_eq "$(audited "$namespace" security)" "false: $reason" "audit annotations in $namespace"
    kubectl delete pod security -n "$namespace" --wait=false >/dev/null
  done
}

# normalized: a stored Pod without what differs between two creations of one Pod: its identity
# (uid, resourceVersion, creationTimestamp, managedFields, and the name generated from
# generateName) and the random suffix of the service account token's volume (kube-api-access-xxxxx),
# which the ServiceAccount admission plugin names anew each time, wherever it is written (the
# volume, its mounts, and the proxy.istio.io/overrides record of a customized sidecar's mounts);
# and the status, which the API
# server computes itself and the policy never writes (its qosClass was once BestEffort for the
# dry run of the CLI's Pod, which carries the status computed before injection, and Burstable
# stored).
normalized() {
  jq -S -c 'del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.managedFields, .status)
    | if .metadata.generateName then del(.metadata.name) else . end
    | walk(if type == "string" then gsub("kube-api-access-[a-z0-9]{5}"; "kube-api-access") else . end)'
}

@test "apiserver: the stored Pod is what sidecar-injector inject writes for the Pod the webhook is sent" {
  serve_policies $(for e in $PROPS; do echo "$MANIFESTS/prop-$e.yaml"; done)
  uninstall_webhooks
  local example compared=0 refused=0 line
  for example in $PROPS; do install_webhook "$MANIFESTS/prop-$example.yaml"; done
  for example in $PROPS; do wait_for_injection "prop-$example" yes; done
  # The example Pod (a ReplicaSet's: generateName, ownerReferences) and 12 varied ones.
  python3 "$E2E_DIR/varied-pods.py" 12 "${PROPERTY_SEED:-$RANDOM}" |
    jq --slurpfile example <(yq . "$EXAMPLES/pod.yaml") '.items += $example' >"$BATS_TEST_TMPDIR/pods.json"
  for example in $PROPS; do
    kubectl create serviceaccount shop-web -n "prop-$example" >/dev/null 2>&1 || true
  done
  kubectl create serviceaccount shop-web -n plain >/dev/null 2>&1 || true
  # What the webhook is sent: the Pod as the API server has it before calling webhooks, defaulted
  # and with its token volume (a dry run where no webhook applies), in the request's namespace.
  kubectl create --dry-run=server -n plain -o json -f "$BATS_TEST_TMPDIR/pods.json" 2>/dev/null |
    jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$BATS_TEST_TMPDIR/sent.json"
  expect_eq "$(jq '.items | length' "$BATS_TEST_TMPDIR/sent.json")" 13 "Pods the API server accepts without the policy"
  for example in $PROPS; do
    # By the CLI, Pod by Pod, from what the webhook is sent; what it injects is then created as a
    # dry run in the same namespace, where the policy finds the sidecar already there and changes
    # nothing, so that the API server defaults the injected parts as it does in the chain.
    : >"$BATS_TEST_TMPDIR/cli-refused"
    for i in $(seq 0 12); do
      jq --arg ns "prop-$example" ".items[$i] | .metadata.namespace = \$ns" "$BATS_TEST_TMPDIR/sent.json" |
        "$CLI_BIN" inject -q --settings "$MANIFESTS/prop-$example.yaml" -n "prop-$example" \
          --namespace-labels "prop=$example" 2>>"$BATS_TEST_TMPDIR/cli-refused" || true
    done | jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$BATS_TEST_TMPDIR/injected.json"
    kubectl create --dry-run=server -n "prop-$example" -o json -f "$BATS_TEST_TMPDIR/injected.json" 2>/dev/null |
      jq -s 'map({key: (.metadata.generateName // .metadata.name), value: .}) | from_entries' >"$BATS_TEST_TMPDIR/expected.json"
    # Through the chain, stored.
    kubectl create -n "prop-$example" -o json -f "$BATS_TEST_TMPDIR/pods.json" 2>"$BATS_TEST_TMPDIR/refused" |
      jq -s 'map({key: (.metadata.generateName // .metadata.name), value: .}) | from_entries' >"$BATS_TEST_TMPDIR/stored.json"
    # Gone before anything is compared, so that a failure here leaves no Pod for the next test.
    kubectl delete pods --all -n "prop-$example" --wait=false >/dev/null
    expect_eq "$(jq -c 'keys' "$BATS_TEST_TMPDIR/stored.json")" "$(jq -c 'keys' "$BATS_TEST_TMPDIR/expected.json")" \
      "$example: the Pods the chain stored, and those the CLI injects (refused by the CLI: $(cat "$BATS_TEST_TMPDIR/cli-refused"))"
    for key in $(jq -r 'keys[]' "$BATS_TEST_TMPDIR/expected.json"); do
      compared=$((compared + 1))
      expect_eq "$(jq --arg k "$key" '.[$k]' "$BATS_TEST_TMPDIR/stored.json" | normalized)" \
        "$(jq --arg k "$key" '.[$k]' "$BATS_TEST_TMPDIR/expected.json" | normalized)" "$example: Pod $key"
    done
    # What the CLI refused, the policy refused in the chain, with the same message.
    while IFS= read -r line; do
      refused=$((refused + 1))
      grep -qF "denied the request: ${line#*: Pod prop-*/*: }" "$BATS_TEST_TMPDIR/refused" || {
        echo "$example: the CLI refused, and the chain did not refuse alike: $line" >&2
        return 1
      }
    done < <(grep '^sidecar-injector: ' "$BATS_TEST_TMPDIR/cli-refused")
  done
  echo "# stored Pods equal to the CLI's: $compared; refused by both with the same message: $refused" >&3
  [ "$compared" -ge 13 ]
}

# pods_are COUNT NAMESPACE SELECTOR: whether exactly COUNT Pods match.
pods_are() {
  [ "$(kubectl get pods -n "$2" -l "$3" -o name | wc -l)" -eq "$1" ]
}

@test "apiserver: a Deployment's Pods, created by the ReplicaSet controller, get the sidecar" {
  serve_policies "$MANIFESTS/opt-in-enabled.yaml"
  uninstall_webhooks
  install_webhook "$MANIFESTS/opt-in-enabled.yaml"
  wait_for_injection tt-enabled yes
  yq -y '.metadata.namespace = "tt-enabled"' "$ROOT/tests/cli/manifests/deployment.yaml" | kubectl apply -f - >/dev/null
  wait_until 60 pods_are 3 tt-enabled app=web,version=2.4
  pods=$(kubectl get pods -n tt-enabled -l app=web,version=2.4 -o json)
  # As the controller creates them: generateName, the ReplicaSet as owner, no namespace in the
  # object the webhook was sent (the request carries it).
  expect_eq "$(jq -c '[.items[] | {generated: (.metadata.generateName | startswith("web-")),
      owner: .metadata.ownerReferences[0].kind, injected: (.metadata.annotations["sidecar.istio.io/status"] != null),
      containers: [.spec.containers[].name], init: [.spec.initContainers[].name],
      probe: .spec.containers[1].readinessProbe.httpGet}] | unique' <<<"$pods")" \
    '[{"generated":true,"owner":"ReplicaSet","injected":true,"containers":["istio-proxy","web"],"init":["migrate","istio-init"],"probe":{"path":"/app-health/web/readyz","port":15020,"scheme":"HTTP"}}]' \
    "the Deployment's Pods"
  # The template strings saw the Pod as the controller made it: its generateName, its labels.
  expect_eq "$(jq -r '[.items[] | .metadata.labels["service.istio.io/canonical-revision"]] | unique | join(",")' <<<"$pods")" "2.4" \
    "canonical revision, from the Pod's version label"
  kubectl delete deployment web -n tt-enabled >/dev/null
}

@test "apiserver: every example policy injects the example Pod, and the API server accepts it" {
  local manifest name namespace labels accepted=0 count=0
  # The example Pod, asking for the sidecar: logging-sidecar injects only Pods that ask or match
  # its alwaysInjectSelector.
  yq -y '.metadata.labels["sidecar.istio.io/inject"] = "true"' "$EXAMPLES/pod.yaml" >"$BATS_TEST_TMPDIR/pod.yaml"
  uninstall_webhooks
  for manifest in "$EXAMPLES"/*.yaml "$EXAMPLES"/canary/*.yaml; do
    [ "$(yq -r .kind "$manifest")" = ClusterAdmissionPolicy ] || continue
    count=$((count + 1))
    name=$(yq -r .metadata.name "$manifest")
    namespace=ex-$name
    # Labelled to match the selector: the first value of each In requirement.
    labels=$(yq -r '.spec.namespaceSelector.matchExpressions[] | select(.operator == "In") | "\(.key)=\(.values[0])"' "$manifest")
    # shellcheck disable=SC2086
    create_namespace "$namespace" $labels
    kubectl create serviceaccount shop-web -n "$namespace" >/dev/null
    serve_policies "$manifest"
    install_webhook "$manifest"
    wait_for_injection "$namespace" yes
    stored=$(kubectl create -n "$namespace" -o json -f "$BATS_TEST_TMPDIR/pod.yaml") || {
      echo "$manifest: the API server refused the example Pod" >&2
      return 1
    }
    expect_eq "$(injected <<<"$stored")" yes "$manifest: injected"
    accepted=$((accepted + 1))
    if [ "$name" = sidecar-injector-templates ]; then
      for choice in debug "sidecar,debug"; do
        count=$((count + 1))
        stored=$(yq -y --arg c "$choice" '.metadata.annotations["inject.istio.io/templates"] = $c' "$BATS_TEST_TMPDIR/pod.yaml" |
          kubectl create -n "$namespace" -o json -f -) || {
          echo "$manifest: the API server refused the example Pod with templates $choice" >&2
          return 1
        }
        expect_eq "$(jq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .templates | join(",")' <<<"$stored")" \
          "$choice" "$manifest: templates applied"
        accepted=$((accepted + 1))
      done
    fi
    uninstall_webhooks
  done
  echo "# example Pods the API server accepted after injection: $accepted of $count" >&3
  expect_eq "$accepted" "$count" "accepted"
  [ "$count" -ge 8 ]
}

@test "apiserver: injection never turns a Pod the API server accepts into one it refuses (200 varied Pods, 4 policies)" {
  local seed=${PROPERTY_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} example
  serve_policies $(for e in $PROPS; do echo "$MANIFESTS/prop-$e.yaml"; done)
  uninstall_webhooks
  for example in $PROPS; do install_webhook "$MANIFESTS/prop-$example.yaml"; done
  for example in $PROPS; do wait_for_injection "prop-$example" yes; done
  python3 "$E2E_DIR/varied-pods.py" 200 "$seed" >"$BATS_TEST_TMPDIR/pods.json"
  # With the policy out of the way: a dry run in a namespace no webhook selects.
  kubectl create --dry-run=server -n plain -o json -f "$BATS_TEST_TMPDIR/pods.json" 2>/dev/null |
    jq -r '.metadata.name' | sort >"$BATS_TEST_TMPDIR/accepted"
  local accepted injected=0 declined=0 conflicts=0 refused=0 other=0 summary=""
  accepted=$(wc -l <"$BATS_TEST_TMPDIR/accepted")
  for example in $PROPS; do
    # Through the chain (a dry run: the policy declares no side effects).
    jq --rawfile names "$BATS_TEST_TMPDIR/accepted" '.items |= map(select(.metadata.name as $n | $names | split("\n") | index($n)))' \
      "$BATS_TEST_TMPDIR/pods.json" >"$BATS_TEST_TMPDIR/candidates.json"
    kubectl create --dry-run=server -n "prop-$example" -o json -f "$BATS_TEST_TMPDIR/candidates.json" \
      2>"$BATS_TEST_TMPDIR/errors" >"$BATS_TEST_TMPDIR/through.json" || true
    injected=$((injected + $(jq -s '[.[] | select(.metadata.annotations["sidecar.istio.io/status"])] | length' "$BATS_TEST_TMPDIR/through.json")))
    declined=$((declined + $(jq -s '[.[] | select(.metadata.annotations["sidecar.istio.io/status"] | not)] | length' "$BATS_TEST_TMPDIR/through.json")))
    # A refusal is the policy's, naming the conflict (a 400), or the API server's own.
    conflicts=$((conflicts + $(grep -c 'denied the request: the sidecar cannot be injected into this Pod' "$BATS_TEST_TMPDIR/errors" || true)))
    refused=$((refused + $(grep -v '^Warning: ' "$BATS_TEST_TMPDIR/errors" | grep -vc 'denied the request: the sidecar cannot be injected' || true)))
    summary+="$(grep -v '^Warning: ' "$BATS_TEST_TMPDIR/errors" | grep -v 'denied the request: the sidecar cannot be injected' | sed "s/^/$example: /")"
  done
  echo "# seed $seed: $accepted of 200 Pods accepted without the policy; through 4 policies: $injected injected, $declined not injected, $conflicts refused by the policy naming the conflict, $refused refused by the API server" >&3
  expect_eq "$refused" 0 "Pods the API server accepts, refused once injected (PROPERTY_SEED=$seed reproduces): $summary"
  expect_eq "$((injected + declined + conflicts))" "$((accepted * 4))" "Pods accounted for"
  # Not vacuous: about half of the 800 trials inject (398 to 428 in the runs so far, by seed).
  [ "$accepted" -ge 190 ] && [ "$injected" -ge 300 ]
}

@test "apiserver: a quantity the policy refuses is one the API server refuses, and one it accepts the API server accepts" {
  serve_policies "$MANIFESTS/prop-opt-in.yaml"
  uninstall_webhooks
  install_webhook "$MANIFESTS/prop-opt-in.yaml"
  wait_for_injection prop-opt-in yes
  local quantity disagreements="" cases=0 api policy
  # Each quantity: as an application container's CPU request (the API server's verdict, no
  # policy involved) and as the annotation the opt-in example's template renders into the
  # proxy's CPU request (the policy's verdict, or the API server's after injection).
  for quantity in 100m 0.5 1 1.5 2 +1 -1 1e3 1E3 1e-3 1E 1Ei 1Ki 1ki 1k 1K 0.1n 1n 1u 1M 1Mi 1G \
    . 1. .5 007 0 00 " 1" "1 " "1 m" 1mm 1m2 1e 1e+2 1e-2 1.5e3 1..2 lots 1cores 1GB "" 10000000000000000000000 \
    1.000000001 0.000000001 0.0000000001 1e-9 1e-10 5E2 1Pi 2P; do
    cases=$((cases + 1))
    api=$(pod q '{}' "$(jq -nc --arg q "$quantity" '{containers: [{name: "web", image: "registry.example/web:1", resources: {requests: {cpu: $q}}}]}')" |
      kubectl create --dry-run=server -n plain -o name -f - >/dev/null 2>&1 && echo accepted || echo refused)
    policy=$(pod q '{}' | jq --arg q "$quantity" '.metadata.annotations["sidecar.istio.io/proxyCPU"] = $q
        | .metadata.annotations["sidecar.istio.io/proxyCPULimit"] = "1e30"' |
      kubectl create --dry-run=server -n prop-opt-in -o json -f - 2>&1 | jq -rR -s '
        if test("denied the request: the sidecar cannot be injected") then "refused"
        elif (try (fromjson | .metadata.annotations["sidecar.istio.io/status"] != null) catch false) then "accepted"
        else "the API server: " + . end')
    [ "$api" = "$policy" ] || disagreements+="  ${quantity@Q}: without the policy $api, through it $policy"$'\n'
  done
  echo "# quantities compared with the API server's: $cases" >&3
  expect_eq "$disagreements" "" "quantities on which the policy and the API server disagree"
}

@test "apiserver: failurePolicy Fail: without the policy server, a selected namespace creates no Pod and others do; with it back, Pods are injected" {
  serve_policies "$MANIFESTS/opt-in-enabled.yaml"
  uninstall_webhooks
  install_webhook "$MANIFESTS/opt-in-enabled.yaml"
  wait_for_injection tt-enabled yes
  stop_policy_server
  run kubectl create -n tt-enabled -f <(pod closed)
  expect_eq "$status" 1 "kubectl's status in a selected namespace"
  [[ "$output" == *'Internal error occurred: failed calling webhook "clusterwide-sidecar-injector.kubewarden.admission"'* ]] || {
    echo "not the webhook's failure: $output" >&2
    return 1
  }
  expect_eq "$(kubectl get pods -n tt-enabled closed -o name 2>&1)" 'Error from server (NotFound): pods "closed" not found' "the Pod"
  expect_eq "$(pod open | kubectl create -n tt-unlabelled -o json -f - | injected)" no "a Pod in an unselected namespace, created"
  restart_policy_server
  expect_eq "$(pod closed | kubectl create -n tt-enabled -o json -f - | injected)" yes "the Pod, once the policy server is back"
}

@test "apiserver: kubectl create --dry-run=server shows the injected Pod, and stores nothing" {
  serve_policies "$MANIFESTS/opt-in-enabled.yaml"
  uninstall_webhooks
  install_webhook "$MANIFESTS/opt-in-enabled.yaml"
  wait_for_injection tt-enabled yes
  shown=$(pod preview | kubectl create --dry-run=server -n tt-enabled -o json -f -)
  expect_eq "$(jq -c '[[.spec.initContainers[].name], [.spec.containers[].name]]' <<<"$shown")" '[["istio-init"],["istio-proxy","web"]]' "the Pod shown"
  expect_eq "$(kubectl get pods -n tt-enabled preview -o name 2>&1)" 'Error from server (NotFound): pods "preview" not found' "stored"
}

@test "apiserver: day 2: new settings, the policy server restarted, check --fail-if-stale names the old Pods, and uninject gives back the Pod as submitted" {
  serve_policies "$MANIFESTS/opt-in-enabled.yaml"
  uninstall_webhooks
  install_webhook "$MANIFESTS/opt-in-enabled.yaml"
  create_namespace day2 istio-injection=enabled
  create_namespace day2-plain
  wait_for_injection day2 yes
  # The same Deployment where the policy applies and where it does not.
  for namespace in day2 day2-plain; do
    yq -y --arg ns "$namespace" '.metadata.namespace = $ns | .spec.replicas = 1' "$ROOT/tests/cli/manifests/deployment.yaml" |
      kubectl apply -f - >/dev/null
    wait_until 60 pods_are 1 "$namespace" app=web
  done
  # The proxy upgraded: the new settings restart the policy server, as a cluster reloads it; a
  # second replica is created with them.
  yq -y '(.spec.settings.template | .. | select(type == "string")) |= sub("proxyv2:1.27.3"; "proxyv2:1.28.0")' \
    "$MANIFESTS/opt-in-enabled.yaml" >"$MANIFESTS/opt-in-upgraded.yaml"
  before=$(kubectl get pods -n day2 -l app=web -o jsonpath='{.items[0].metadata.name}')
  serve_policies "$MANIFESTS/opt-in-upgraded.yaml"
  kubectl scale deployment web -n day2 --replicas 2 >/dev/null
  wait_until 60 pods_are 2 day2 app=web
  after=$(kubectl get pods -n day2 -l app=web -o json | jq -r --arg b "$before" '.items[] | select(.metadata.name != $b) | .metadata.name')
  owner=$(kubectl get pod -n day2 "$before" -o jsonpath='{.metadata.ownerReferences[0].name}')

  kubectl get pods -n day2 -o yaml >"$BATS_TEST_TMPDIR/live.yaml"
  run "$CLI_BIN" check --fail-if-stale --settings "$MANIFESTS/opt-in-upgraded.yaml" -n day2 \
    --namespace-labels istio-injection=enabled "$BATS_TEST_TMPDIR/live.yaml"
  expect_eq "$status" 1 "check --fail-if-stale's status ($output)"
  expect_eq "$(grep -A2 "^Pod day2/$before: " <<<"$output" | grep '^  stale: ' | sed -E 's/[0-9a-f]{16}/H/g')" \
    "  stale: injected with revision default (hash H), the policy now injects revision default (hash H): the hash differs; restart its owner ReplicaSet/$owner" "the old Pod"
  expect_eq "$(grep -A2 "^Pod day2/$after: " <<<"$output" | grep -c '^  up to date: ')" 1 "the new Pod, up to date"
  expect_eq "$(tail -n 1 <<<"$output")" "Pods: 1 up to date, 1 stale, 0 uninjected" "the count"

  # uninject of the stored Pod gives the Pod the same ReplicaSet stores where the policy does not
  # apply, but for what differs between any two Pods of two ReplicaSets (identity, namespace, the
  # owner's uid) and the status, which the API server computes from the containers (qosClass).
  plain=$(kubectl get pods -n day2-plain -l app=web -o json | jq '.items[0]')
  without() {
    jq 'del(.status, .metadata.namespace, .metadata.ownerReferences[].uid)' | normalized
  }
  expect_eq "$(kubectl get pod -n day2 "$before" -o json | "$CLI_BIN" uninject -q | without)" \
    "$(without <<<"$plain")" "the old Pod, uninjected"
  expect_eq "$(kubectl get pod -n day2 "$after" -o json | "$CLI_BIN" uninject -q | without)" \
    "$(without <<<"$plain")" "the new Pod, uninjected"
}

@test "apiserver: canary: the stable and the canary policy both installed, each namespace's Pods get their revision's proxy" {
  uninstall_webhooks
  serve_policies "$EXAMPLES/canary/stable.yaml" "$EXAMPLES/canary/canary.yaml"
  install_webhook "$EXAMPLES/canary/stable.yaml"
  install_webhook "$EXAMPLES/canary/canary.yaml"
  create_namespace rev-stable istio.io/rev=stable
  create_namespace rev-canary istio.io/rev=canary
  wait_for_injection rev-stable yes
  wait_for_injection rev-canary yes
  for revision in stable canary; do
    stored=$(pod "web-$revision" | kubectl create -n "rev-$revision" -o json -f -)
    expected=$(yq -r '.spec.settings.template.containers[] | select(.name == "istio-proxy") | .image' "$EXAMPLES/canary/$revision.yaml")
    expect_eq "$(jq -r '.spec.containers[] | select(.name == "istio-proxy") | .image' <<<"$stored")" "$expected" \
      "the proxy of a Pod in rev-$revision"
    # The stored Pod's status annotation names its revision, where Istio's tooling reads it.
    expect_eq "$(jq -r '.metadata.annotations["sidecar.istio.io/status"] | fromjson | .revision' <<<"$stored")" "$revision" \
      "the revision in the status annotation of a Pod in rev-$revision"
  done
  # Moving a namespace to the canary: its next Pods get the canary's proxy.
  kubectl label namespace rev-stable istio.io/rev=canary --overwrite >/dev/null
  wait_until 30 proxy_image_is rev-stable "$(yq -r '.spec.settings.template.containers[] | select(.name == "istio-proxy") | .image' "$EXAMPLES/canary/canary.yaml")"
  uninstall_webhooks
}

# proxy_image_is NAMESPACE IMAGE: a Pod created (dry run) in NAMESPACE gets the proxy IMAGE.
proxy_image_is() {
  [ "$(pod moved | kubectl create --dry-run=server -n "$1" -o json -f - |
    jq -r '.spec.containers[] | select(.name == "istio-proxy") | .image')" = "$2" ]
}
