use super::*;
use rstest::rstest;
use serde_json::json;

/// Shared with the tests of `explain`.
pub(crate) fn settings() -> Value {
    json!({"policy": "enabled", "template": {"containers": [{"name": "istio-proxy", "image": "proxy:1"}]}})
}

/// Shared with the tests of `explain`.
pub(crate) fn cluster_policy(namespace_selector: Value) -> Value {
    json!({
        "apiVersion": "policies.kubewarden.io/v1",
        "kind": "ClusterAdmissionPolicy",
        "metadata": {"name": "sidecar"},
        "spec": {
            "module": "registry://example/sidecar-injector:v0.1.0",
            "mutating": true,
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
            "namespaceSelector": namespace_selector,
            "settings": settings()
        }
    })
}

/// Shared with the tests of `explain`.
pub(crate) fn opt_in() -> Policy {
    Policy::from_value(&cluster_policy(
        json!({"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]}),
    ))
    .unwrap()
}

fn labels(labels: Value) -> Map<String, Value> {
    labels.as_object().cloned().unwrap_or_default()
}

/// Shared with the tests of `explain`.
pub(crate) fn namespaces(labels: Value) -> Namespaces {
    let mut namespaces = Namespaces::default();
    namespaces.insert("shop", self::labels(labels));
    namespaces
}

#[test]
fn plain_settings_do_not_say_where_the_policy_is_called() {
    let policy = Policy::from_value(&settings()).unwrap();
    assert!(matches!(
        policy.call(&namespaces(json!({})), "shop", None),
        Call::Unknown(_)
    ));
    assert_eq!(policy.name, None);
    assert!(policy.warnings.is_empty());
}

#[test]
fn the_namespace_labels_decide_and_unknown_labels_say_so() {
    let policy = opt_in();
    let selector = "kubernetes.io/metadata.name notin (kubewarden),istio-injection=enabled";
    assert_eq!(
        policy.namespace_call(&namespaces(json!({"istio-injection": "enabled"})), "shop"),
        Call::Called(format!(
            "namespace shop matches the namespaceSelector {selector}"
        ))
    );
    assert_eq!(
        policy.namespace_call(&Namespaces::default(), "shop"),
        Call::Unknown(format!(
            "the labels of namespace shop are not given, so whether it matches the namespaceSelector {selector} is not known"
        ))
    );
}

#[test]
fn an_admission_policy_is_called_in_its_own_namespace_only() {
    let mut manifest = cluster_policy(json!({}));
    manifest["kind"] = json!("AdmissionPolicy");
    manifest["metadata"]["namespace"] = json!("shop");
    let policy = Policy::from_value(&manifest).unwrap();
    assert_eq!(
        policy.namespace_call(&Namespaces::default(), "shop"),
        Call::Called("the AdmissionPolicy is in namespace shop".into())
    );
    assert!(matches!(
        policy.namespace_call(&Namespaces::default(), "bank"),
        Call::NotCalled(_)
    ));
}

#[test]
fn the_controllers_requirement_comes_first_even_when_the_policy_keeps_kubewarden_out_too() {
    let policy = Policy::from_value(&cluster_policy(json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "kubewarden"]}]})))
    .unwrap();
    let call = policy.namespace_call(&namespaces(json!({})), "shop");
    assert_eq!(
        call.reason(),
        "namespace shop matches the namespaceSelector kubernetes.io/metadata.name notin (kubewarden),kubernetes.io/metadata.name notin (kube-system,kubewarden)"
    );
}

#[test]
fn namespace_lists_give_labels() {
    let mut namespaces = Namespaces::default();
    namespaces.insert_manifests(&json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bank"}}]}));
    let call = opt_in().call(&namespaces, "shop", None);
    assert!(matches!(call, Call::Called(_)));
}

#[test]
fn namespace_manifests_give_labels() {
    let mut namespaces = Namespaces::default();
    assert!(namespaces.insert_manifest(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}}})));
    assert!(!namespaces.insert_manifest(
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"}})
    ));
    let call = opt_in().call(&namespaces, "shop", None);
    assert!(matches!(call, Call::Called(_)));
}

#[rstest]
#[case::object_selector(json!({"objectSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}}),
    "the Pod's labels do not match the policy's objectSelector app notin (web): label app is \"web\", and app notin (web) is required")]
fn the_object_selector_applies_to_the_pods_labels(#[case] extra: Value, #[case] why: &str) {
    let mut manifest = cluster_policy(json!({}));
    for (key, value) in extra.as_object().unwrap() {
        manifest["spec"][key] = value.clone();
    }
    let policy = Policy::from_value(&manifest).unwrap();
    let call = policy.call(
        &Namespaces::default(),
        "shop",
        Some(&labels(json!({"app": "web"}))),
    );
    assert_eq!(call, Call::NotCalled(why.to_string()));
}

#[test]
fn manifest_mistakes_are_warned_about() {
    let mut manifest = cluster_policy(json!({}));
    manifest["spec"]["mutating"] = json!(false);
    manifest["spec"]["rules"][0]["operations"] = json!(["UPDATE"]);
    let policy = Policy::from_value(&manifest).unwrap();
    assert_eq!(policy.warnings.len(), 2, "{:?}", policy.warnings);
    assert!(opt_in().warnings.is_empty());
}

#[test]
fn invalid_settings_in_a_manifest_are_located() {
    let mut manifest = cluster_policy(json!({}));
    manifest["spec"]["settings"]["policy"] = json!("Enabled");
    let error = Policy::from_value(&manifest).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid ClusterAdmissionPolicy: spec.settings.policy: expected \"enabled\" or \"disabled\", got \"Enabled\""
    );
    let error = Policy::from_value(&json!({"policy": "Enabled", "template": {}})).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid settings: policy: expected \"enabled\" or \"disabled\", got \"Enabled\""
    );
}

#[test]
fn label_pairs_are_read_as_kubectl_prints_them() {
    let labels = parse_label_pairs("istio-injection=enabled, team=web,,empty=").unwrap();
    assert_eq!(
        Value::Object(labels),
        json!({"istio-injection": "enabled", "team": "web", "empty": ""})
    );
    assert_eq!(parse_label_pairs("").unwrap(), Map::new());
    assert_eq!(
        parse_label_pairs("a=b,istio-injection").unwrap_err(),
        "expected key=value pairs separated by commas, got \"istio-injection\""
    );
}

#[test]
fn what_the_policy_server_does_in_words() {
    assert_eq!(Call::Called(String::new()).verdict(), "calls the policy");
    assert_eq!(
        Call::NotCalled(String::new()).verdict(),
        "does not call the policy"
    );
    assert_eq!(
        Call::Unknown(String::new()).verdict(),
        "assumed to call the policy"
    );
}
