//! The admission webhook the Kubewarden controller installs for a policy manifest.
//!
//! The API server never sees a ClusterAdmissionPolicy: the Kubewarden controller turns it into a
//! MutatingWebhookConfiguration (a ValidatingWebhookConfiguration when the policy does not
//! mutate), and that object decides which requests reach the policy server. Two of its rules
//! surprise people, so they live here once, for `sidecar-injector webhook` (which prints the
//! object, as the tests install it on a real API server) and for [`crate::scope`] (which says
//! whether a namespace calls the policy):
//! - the namespaceSelector is rebuilt: a requirement that keeps the controller's own namespace out
//!   comes first, then only the policy's `matchExpressions`; its `matchLabels` are dropped
//!   without a word. `allowInsideAdmissionControllerNamespace: true` (Kubewarden 1.33 and later)
//!   keeps the policy's selector as written instead;
//! - nothing asks the API server to call the webhook again after a later webhook's change: the
//!   controller sets no `reinvocationPolicy`, so the API server's default, `Never`, applies.
//!
//! The fields and defaults are those of the controller's `policy_subreconciler_webhook.go` and the
//! policy CRDs (Kubewarden 1.31).

use serde_json::{Map, Value, json};

/// Kubernetes sets this label on every namespace, so selectors may use it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Where the controller is installed by default (the Helm charts' namespace).
pub const KUBEWARDEN_NAMESPACE: &str = "kubewarden";

/// The port of the policy server's Service, in the controller's webhooks.
const POLICY_SERVER_SERVICE_PORT: u16 = 443;

/// The CRD's default for `timeoutSeconds`, which the stored policy carries.
const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// How the API server reaches the policy server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The policy server's Service, as the controller writes it: `policy-server-<policyServer>`
    /// in the controller's namespace, port 443.
    Service,
    /// A base URL (`https://127.0.0.1:8443`), for a policy server outside the cluster; the
    /// policy's path is appended.
    Url(String),
}

/// The webhook's client configuration besides the policy server's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub endpoint: Endpoint,
    /// The certificate authority of the policy server's serving certificate, base64-encoded PEM
    /// as the `caBundle` field holds it.
    pub ca_bundle: Option<String>,
    /// The namespace the controller runs in, which its selectors keep out.
    pub kubewarden_namespace: String,
}

impl Default for Client {
    fn default() -> Self {
        Self {
            endpoint: Endpoint::Service,
            ca_bundle: None,
            kubewarden_namespace: KUBEWARDEN_NAMESPACE.to_string(),
        }
    }
}

/// Which policy kind a manifest is, and the names the controller derives from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyKind {
    Cluster,
    /// An AdmissionPolicy, in its namespace.
    Namespaced(String),
}

impl PolicyKind {
    /// The kind of a Kubewarden policy manifest; `None` for anything else.
    pub fn of(manifest: &Value) -> Option<Self> {
        let is_kubewarden = manifest
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("policies.kubewarden.io/"));
        match manifest.get("kind").and_then(Value::as_str) {
            Some("ClusterAdmissionPolicy") if is_kubewarden => Some(Self::Cluster),
            Some("AdmissionPolicy") if is_kubewarden => Some(Self::Namespaced(
                manifest
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string(),
            )),
            _ => None,
        }
    }

    /// The name of the webhook configuration, and the policy's id in the policy server (its path
    /// is `/validate/<id>`).
    pub fn unique_name(&self, name: &str) -> String {
        match self {
            Self::Cluster => format!("clusterwide-{name}"),
            Self::Namespaced(namespace) => format!("namespaced-{namespace}-{name}"),
        }
    }
}

/// The namespaceSelector the controller writes into the webhook for a policy's `spec`, and, when
/// it drops the policy's `matchLabels`, a sentence saying so.
pub fn namespace_selector(
    kind: &PolicyKind,
    spec: &Value,
    kubewarden_namespace: &str,
) -> (Option<Value>, Option<String>) {
    let written = spec.get("namespaceSelector").filter(|v| !v.is_null());
    match kind {
        PolicyKind::Namespaced(namespace) => (
            Some(json!({ "matchLabels": { NAMESPACE_NAME_LABEL: namespace } })),
            None,
        ),
        PolicyKind::Cluster
            if spec.get("allowInsideAdmissionControllerNamespace") == Some(&Value::Bool(true)) =>
        {
            (written.cloned(), None)
        }
        PolicyKind::Cluster => {
            let mut expressions = vec![json!({
                "key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": [kubewarden_namespace]
            })];
            if let Some(more) = written
                .and_then(|s| s.get("matchExpressions"))
                .and_then(Value::as_array)
            {
                expressions.extend(more.iter().cloned());
            }
            let dropped = written
                .and_then(|s| s.get("matchLabels"))
                .and_then(Value::as_object)
                .filter(|labels| !labels.is_empty())
                .map(|labels| {
                    format!(
                        "the Kubewarden controller drops spec.namespaceSelector.matchLabels ({}) and keeps only matchExpressions: write each label as a matchExpression with operator In",
                        labels
                            .iter()
                            .map(|(key, value)| format!(
                                "{key}={}",
                                value.as_str().unwrap_or_default()
                            ))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                });
            (Some(json!({ "matchExpressions": expressions })), dropped)
        }
    }
}

/// The webhook configuration the controller installs for a Kubewarden policy manifest (checked
/// by the caller: [`crate::scope::Policy::from_value`] reads it first); `None` when the manifest
/// is not a Kubewarden policy.
pub fn configuration(manifest: &Value, client: &Client) -> Option<Value> {
    let kind = PolicyKind::of(manifest)?;
    let spec = manifest.get("spec").unwrap_or(&Value::Null);
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let unique_name = kind.unique_name(name);
    let path = format!("/validate/{unique_name}");
    let mut client_config = Map::new();
    match &client.endpoint {
        Endpoint::Service => {
            let policy_server = spec
                .get("policyServer")
                .and_then(Value::as_str)
                .unwrap_or("default");
            client_config.insert(
                "service".into(),
                json!({
                    "namespace": client.kubewarden_namespace,
                    "name": format!("policy-server-{policy_server}"),
                    "path": path,
                    "port": POLICY_SERVER_SERVICE_PORT,
                }),
            );
        }
        Endpoint::Url(base) => {
            client_config.insert(
                "url".into(),
                format!("{}{path}", base.trim_end_matches('/')).into(),
            );
        }
    }
    if let Some(ca_bundle) = &client.ca_bundle {
        client_config.insert("caBundle".into(), ca_bundle.clone().into());
    }

    let mut webhook = Map::new();
    webhook.insert(
        "name".into(),
        format!("{unique_name}.kubewarden.admission").into(),
    );
    webhook.insert("clientConfig".into(), client_config.into());
    webhook.insert(
        "rules".into(),
        spec.get("rules").cloned().unwrap_or_else(|| json!([])),
    );
    // Absent fields stay absent, as the controller leaves them nil: the API server then applies
    // its own defaults (failurePolicy Fail, matchPolicy Equivalent).
    for key in ["failurePolicy", "matchPolicy"] {
        if let Some(value) = spec.get(key).filter(|v| !v.is_null()) {
            webhook.insert(key.into(), value.clone());
        }
    }
    let (namespace_selector, _) = namespace_selector(&kind, spec, &client.kubewarden_namespace);
    if let Some(selector) = namespace_selector {
        webhook.insert("namespaceSelector".into(), selector);
    }
    if let Some(selector) = spec.get("objectSelector").filter(|v| !v.is_null()) {
        webhook.insert("objectSelector".into(), selector.clone());
    }
    webhook.insert(
        "sideEffects".into(),
        spec.get("sideEffects")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| "None".into()),
    );
    webhook.insert(
        "timeoutSeconds".into(),
        spec.get("timeoutSeconds")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| DEFAULT_TIMEOUT_SECONDS.into()),
    );
    webhook.insert("admissionReviewVersions".into(), json!(["v1"]));
    if let Some(conditions) = spec.get("matchConditions").filter(|v| !v.is_null()) {
        webhook.insert("matchConditions".into(), conditions.clone());
    }

    let mutating = spec.get("mutating") == Some(&Value::Bool(true));
    let namespace = match &kind {
        PolicyKind::Cluster => "",
        PolicyKind::Namespaced(namespace) => namespace,
    };
    Some(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": if mutating { "MutatingWebhookConfiguration" } else { "ValidatingWebhookConfiguration" },
        "metadata": {
            "name": unique_name,
            "labels": { "app.kubernetes.io/part-of": "kubewarden" },
            "annotations": { "kubewardenPolicyName": name, "kubewardenPolicyNamespace": namespace },
        },
        "webhooks": [webhook],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(spec: Value) -> Value {
        json!({
            "apiVersion": "policies.kubewarden.io/v1",
            "kind": "ClusterAdmissionPolicy",
            "metadata": { "name": "sidecar-injector" },
            "spec": spec,
        })
    }

    const RULES: &str =
        r#"[{"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"operations":["CREATE"]}]"#;

    #[test]
    fn a_mutating_cluster_policy_gives_the_controllers_mutating_webhook() {
        let rules: Value = serde_json::from_str(RULES).unwrap();
        let policy = manifest(json!({
            "module": "registry://example/policy:v1",
            "mutating": true,
            "rules": rules,
            "namespaceSelector": {
                "matchLabels": { "team": "shop" },
                "matchExpressions": [{ "key": "istio-injection", "operator": "In", "values": ["enabled"] }],
            },
            "objectSelector": { "matchLabels": { "app": "web" } },
            "failurePolicy": "Fail",
            "timeoutSeconds": 5,
            "settings": {},
        }));
        let client = Client {
            endpoint: Endpoint::Url("https://127.0.0.1:8443/".into()),
            ca_bundle: Some("Q0E=".into()),
            ..Client::default()
        };
        assert_eq!(
            configuration(&policy, &client).unwrap(),
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {
                    "name": "clusterwide-sidecar-injector",
                    "labels": { "app.kubernetes.io/part-of": "kubewarden" },
                    "annotations": {
                        "kubewardenPolicyName": "sidecar-injector",
                        "kubewardenPolicyNamespace": "",
                    },
                },
                "webhooks": [{
                    "name": "clusterwide-sidecar-injector.kubewarden.admission",
                    "clientConfig": {
                        "url": "https://127.0.0.1:8443/validate/clusterwide-sidecar-injector",
                        "caBundle": "Q0E=",
                    },
                    "rules": rules,
                    "failurePolicy": "Fail",
                    "namespaceSelector": { "matchExpressions": [
                        { "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kubewarden"] },
                        { "key": "istio-injection", "operator": "In", "values": ["enabled"] },
                    ] },
                    "objectSelector": { "matchLabels": { "app": "web" } },
                    "sideEffects": "None",
                    "timeoutSeconds": 5,
                    "admissionReviewVersions": ["v1"],
                }],
            })
        );
    }

    #[test]
    fn defaults_are_the_crds_and_the_service_is_the_policy_servers() {
        let policy = manifest(json!({ "module": "m", "policyServer": "mesh", "mutating": true }));
        let webhook = configuration(&policy, &Client::default()).unwrap();
        let hook = &webhook["webhooks"][0];
        assert_eq!(
            hook["clientConfig"],
            json!({ "service": {
                "namespace": "kubewarden", "name": "policy-server-mesh",
                "path": "/validate/clusterwide-sidecar-injector", "port": 443,
            } })
        );
        assert_eq!(hook["timeoutSeconds"], json!(10));
        assert_eq!(hook["sideEffects"], json!("None"));
        assert_eq!(hook["rules"], json!([]));
        for absent in [
            "failurePolicy",
            "matchPolicy",
            "reinvocationPolicy",
            "objectSelector",
        ] {
            assert!(hook.get(absent).is_none(), "{absent} is set: {hook}");
        }
        assert_eq!(
            hook["namespaceSelector"],
            json!({ "matchExpressions": [
                { "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kubewarden"] },
            ] })
        );
    }

    #[test]
    fn a_policy_that_does_not_mutate_gets_a_validating_webhook() {
        let webhook = configuration(&manifest(json!({ "module": "m" })), &Client::default());
        assert_eq!(
            webhook.unwrap()["kind"],
            json!("ValidatingWebhookConfiguration")
        );
    }

    #[test]
    fn matchlabels_are_dropped_with_a_warning_unless_the_policy_may_run_inside_kubewarden() {
        let spec =
            json!({ "namespaceSelector": { "matchLabels": { "istio-injection": "enabled" } } });
        let (selector, warning) = namespace_selector(&PolicyKind::Cluster, &spec, "kw");
        assert_eq!(
            selector.unwrap(),
            json!({ "matchExpressions": [
                { "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kw"] },
            ] })
        );
        assert!(
            warning
                .unwrap()
                .contains("drops spec.namespaceSelector.matchLabels (istio-injection=enabled)")
        );

        let mut inside = spec.clone();
        inside["allowInsideAdmissionControllerNamespace"] = json!(true);
        let (selector, warning) = namespace_selector(&PolicyKind::Cluster, &inside, "kw");
        assert_eq!(selector.as_ref(), spec.get("namespaceSelector"));
        assert_eq!(warning, None);
    }

    #[test]
    fn an_admission_policy_selects_its_own_namespace() {
        let mut policy = manifest(json!({ "module": "m", "mutating": true }));
        policy["kind"] = json!("AdmissionPolicy");
        policy["metadata"]["namespace"] = json!("shop");
        let webhook = configuration(&policy, &Client::default()).unwrap();
        assert_eq!(
            webhook["metadata"]["name"],
            json!("namespaced-shop-sidecar-injector")
        );
        assert_eq!(
            webhook["webhooks"][0]["namespaceSelector"],
            json!({ "matchLabels": { "kubernetes.io/metadata.name": "shop" } })
        );
    }

    #[test]
    fn anything_but_a_kubewarden_policy_gives_nothing() {
        assert_eq!(
            configuration(&json!({ "policy": "enabled" }), &Client::default()),
            None
        );
        let mut other = manifest(json!({}));
        other["apiVersion"] = json!("example.com/v1");
        assert_eq!(configuration(&other, &Client::default()), None);
    }
}
