//! One admission request, from the bytes the policy server sends to the outcome: decide, then
//! inject when the decision says so. Pure: the waPC layer only turns the outcome into a response.
//!
//! Each request reads only what its decision needs, when it needs it. The request's kind and
//! operation come first: anything but the creation of a Pod is answered without reading the
//! object or the settings. A Pod's metadata and `hostNetwork` come next, then the settings'
//! decision fields; the template and the rest of the Pod only when the Pod is injected, and even
//! then the Pod as text (see [`crate::json`]). The settings were validated when the policy server
//! loaded the policy; what is checked here is what the Pod brings.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use std::sync::Arc;

use crate::decision::{Decision, Reason, decide_for_pod};
use crate::error::RequestError;
use crate::inject::inject_json;
use crate::json::Text;
use crate::namespace::{NamespaceSource, ReadNamespace};
use crate::pod::PodHead;
use crate::settings::Settings;

/// The fields of a Kubernetes `AdmissionRequest` this policy reads; the parser skips the others.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest<'a> {
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub operation: String,
    /// The object, as text: read as far as the decision and the injection need.
    #[serde(borrow, default)]
    pub object: Option<&'a RawValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
}

impl AdmissionRequest<'_> {
    /// Step 1 of the decision: anything but the creation of a core/v1 Pod itself (not one of its
    /// subresources: binding, eviction, ephemeralcontainers…) is left alone.
    pub fn not_a_pod_creation(&self) -> Option<Reason> {
        if self.operation != "CREATE" {
            return Some(Reason::NotCreate {
                operation: self.operation.clone(),
            });
        }
        let sub_resource = self.sub_resource.clone().filter(|s| !s.is_empty());
        if self.kind.kind != "Pod" || !self.kind.group.is_empty() || sub_resource.is_some() {
            return Some(Reason::NotPod {
                kind: self.kind.kind.clone(),
                group: self.kind.group.clone(),
                sub_resource,
            });
        }
        None
    }
}

/// The request, read and checked by serde_json, and the whole payload as a text, from which the
/// Pod and the settings are taken (see [`Text::sub`]) when the decision needs them: one
/// scan of the payload serves all three. The settings are read by serde ([`Settings::from_text`]),
/// which checks them as JSON, the templates included. `None` when the payload cannot be read this
/// way.
fn read_payload(payload: &[u8]) -> Option<(AdmissionRequest<'_>, Text)> {
    let text = std::str::from_utf8(payload).ok()?;
    let whole = Text::new(text);
    if !whole.is_one_container() {
        return None;
    }
    // Read from the payload's bytes, which the request borrows its strings from.
    let request = whole.root().get("request")?.span();
    let request = serde_json::from_slice(payload.get(request)?).ok()?;
    whole.root().get("settings")?;
    Some((request, whole))
}

/// The payload's `request.object`, or its `settings`, as a text of its own.
fn part(payload: &Text, path: &[&str]) -> Option<Text> {
    let value = path
        .iter()
        .try_fold(payload.root(), |value, key| value.get(key))?;
    Some(payload.sub(value))
}

/// What the policy answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The Pod is admitted as it is.
    Accept(Decision),
    /// The Pod is admitted with the sidecar: the mutated Pod, as JSON text.
    Mutate { decision: Decision, pod: String },
    /// The request could not be evaluated.
    Reject(RequestError),
}

impl Outcome {
    /// The mutated Pod as a value, when there is one.
    pub fn mutated_pod(&self) -> Option<Value> {
        match self {
            Self::Mutate { pod, .. } => serde_json::from_str(pod).ok(),
            _ => None,
        }
    }
}

/// An outcome with what identifies its object in logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub namespace: String,
    /// The Pod's name or generateName; empty when the request is not for a Pod or could not be read.
    pub name: String,
    pub outcome: Outcome,
}

/// Evaluates a `validate` payload, where nothing can read Namespaces: settings and templates
/// that need the Pod's Namespace fail, saying so.
pub fn evaluate(payload: &[u8]) -> Evaluation {
    evaluate_with(payload, None)
}

/// Evaluates a `validate` payload; `read` reads the Pod's Namespace, if the settings or the
/// templates ask for it ([`crate::namespace`]).
pub fn evaluate_with(payload: &[u8], read: Option<Arc<ReadNamespace>>) -> Evaluation {
    let Some((request, payload_doc)) = read_payload(payload) else {
        return unnamed(String::new(), Outcome::Reject(explain(payload)));
    };
    let mut namespace = request.namespace.clone().unwrap_or_default();
    if let Some(reason) = request.not_a_pod_creation() {
        return unnamed(namespace, Outcome::Accept(untouched(reason)));
    }
    let Some(pod) = request
        .object
        .and_then(|_| part(&payload_doc, &["request", "object"]))
    else {
        return unnamed(
            namespace,
            Outcome::Reject(RequestError::field(
                "request.object",
                "expected an object, got null",
            )),
        );
    };
    // The Pod's text, opened level by level by the decision, the template strings and the
    // injection alike.
    let head = match PodHead::read(&pod) {
        Ok(head) => head,
        Err(error) => return unnamed(namespace, Outcome::Reject(error)),
    };
    // A Pod created by a controller has no namespace in its own metadata yet: the request's counts.
    if namespace.is_empty() {
        namespace = head.namespace().to_string();
    }
    let name = head.name().to_string();
    let source = match read {
        Some(read) => NamespaceSource::new(&namespace, read),
        None => NamespaceSource::unreadable(&namespace),
    };
    let outcome = decide_and_inject(&pod, head, &source, &payload_doc);
    Evaluation {
        namespace,
        name,
        outcome,
    }
}

fn decide_and_inject(
    pod: &Text,
    head: PodHead,
    namespace: &NamespaceSource,
    payload: &Text,
) -> Outcome {
    let view = match head.view() {
        Ok(view) => view,
        Err(error) => return Outcome::Reject(error),
    };
    // Present: `read_payload` found it, in a payload whose structure reads (`is_one_container`).
    let settings = part(payload, &["settings"]).unwrap_or_else(|| Text::new("null"));
    let settings = match Settings::from_text(settings) {
        Ok(settings) => settings,
        Err(error) => return Outcome::Reject(RequestError::Settings(error)),
    };
    let decision = match decide_for_pod(&view, namespace, &settings) {
        Ok(decision) => decision,
        Err(error) => return Outcome::Reject(RequestError::Namespace(error)),
    };
    if decision.is_refusal() {
        return Outcome::Reject(RequestError::Refused(decision.reason.to_string()));
    }
    if !decision.inject {
        return Outcome::Accept(decision);
    }
    match inject_json(pod, head, &settings, namespace) {
        Ok(pod) => Outcome::Mutate { decision, pod },
        Err(error) => Outcome::Reject(error),
    }
}

fn unnamed(namespace: String, outcome: Outcome) -> Evaluation {
    Evaluation {
        namespace,
        name: String::new(),
        outcome,
    }
}

fn untouched(reason: Reason) -> Decision {
    Decision {
        inject: false,
        reason,
    }
}

/// Reads the payload again, as a serde value, to say where it is wrong: only payloads that
/// failed pay for it. What `validate` receives is `{"request": …, "settings": …}`; of the request,
/// the fields [`AdmissionRequest`] reads. (A path-tracking serde reader of the same structure
/// costs the module 16 KB.)
fn explain(payload: &[u8]) -> RequestError {
    let payload: Value = match serde_json::from_slice(payload) {
        Ok(payload) => payload,
        Err(error) => return RequestError::NotJson(error.to_string()),
    };
    let Some(fields) = payload.as_object() else {
        return RequestError::expected("", "an object", &payload);
    };
    let Some(request) = fields.get("request") else {
        return RequestError::field("request", "missing");
    };
    let Some(request) = request.as_object() else {
        return RequestError::expected("request", "an object", request);
    };
    let string = |object: &Map<String, Value>, key: &str, path: &str, required: bool| match object
        .get(key)
    {
        None if required => Err(RequestError::field(path, "missing")),
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Null) if !required => Ok(()),
        Some(other) => Err(RequestError::expected(path, "a string", other)),
    };
    let kind = match request.get("kind") {
        None => return RequestError::field("request.kind", "missing"),
        Some(Value::Object(kind)) => kind,
        Some(other) => return RequestError::expected("request.kind", "an object", other),
    };
    let checks = [
        string(kind, "kind", "request.kind.kind", true),
        string(kind, "group", "request.kind.group", false),
        string(kind, "version", "request.kind.version", false),
        string(request, "subResource", "request.subResource", false),
        string(request, "namespace", "request.namespace", false),
        string(request, "operation", "request.operation", true),
    ];
    if let Some(Err(error)) = checks.into_iter().find(Result::is_err) {
        return error;
    }
    if !fields.contains_key("settings") {
        return RequestError::field("settings", "missing");
    }
    RequestError::field("", "cannot be read")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Value {
        serde_json::from_str(include_str!("../test_data/settings-proxy.json")).unwrap()
    }

    fn payload(request: Value, settings: Value) -> Vec<u8> {
        json!({"request": request, "settings": settings})
            .to_string()
            .into_bytes()
    }

    fn pod_request(pod: Value) -> Value {
        json!({
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": null,
            "dryRun": false
        })
    }

    fn deployment_pod() -> Value {
        json!({"metadata": {"generateName": "web-7c9d8-", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}})
    }

    #[test]
    fn a_pod_from_a_deployment_is_injected() {
        let evaluation = evaluate(&payload(pod_request(deployment_pod()), settings()));
        assert_eq!(evaluation.namespace, "shop");
        assert_eq!(evaluation.name, "web-7c9d8-");
        let pod = evaluation.outcome.mutated_pod().unwrap();
        let Outcome::Mutate { decision, .. } = evaluation.outcome else {
            panic!("not injected: {:?}", evaluation.outcome);
        };
        assert!(decision.inject);
        let containers: Vec<_> = pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["name"])
            .collect();
        assert_eq!(containers, ["app", "proxy"]);
        assert_eq!(
            pod["spec"]["containers"][1]["args"],
            json!(["--id", ".shop"])
        );
    }

    #[test]
    fn injecting_an_injected_pod_changes_nothing() {
        let pod = evaluate(&payload(pod_request(deployment_pod()), settings()))
            .outcome
            .mutated_pod()
            .expect("injected");
        let again = evaluate(&payload(pod_request(pod), settings()));
        assert!(matches!(
            again.outcome,
            Outcome::Accept(Decision {
                inject: false,
                reason: Reason::AlreadyInjected
            })
        ));
    }

    #[test]
    fn a_refused_pod_is_accepted_unchanged() {
        let mut pod = deployment_pod();
        pod["metadata"]["labels"]["sidecar.istio.io/inject"] = json!("false");
        let outcome = evaluate(&payload(pod_request(pod), settings())).outcome;
        assert!(
            matches!(outcome, Outcome::Accept(Decision { inject: false, .. })),
            "{outcome:?}"
        );
    }

    #[test]
    fn the_namespace_is_read_from_the_object_when_the_request_has_none() {
        let mut request = pod_request(
            json!({"metadata": {"name": "p", "namespace": "kube-public"}, "spec": {"containers": []}}),
        );
        request["namespace"] = json!("");
        let evaluation = evaluate(&payload(request, settings()));
        assert_eq!(evaluation.namespace, "kube-public");
        assert!(matches!(evaluation.outcome, Outcome::Accept(_)));
    }

    fn pod_kind() -> Value {
        json!({"group": "", "version": "v1", "kind": "Pod"})
    }

    #[rstest::rstest]
    #[case::deployment(json!({"group": "apps", "version": "v1", "kind": "Deployment"}), None, "the object is a Deployment of API group apps, not a core Pod")]
    #[case::core_kind(json!({"group": "", "version": "v1", "kind": "ConfigMap"}), None, "the object is a ConfigMap, not a Pod")]
    #[case::pod_named_kind_in_other_group(json!({"group": "example.com", "version": "v1", "kind": "Pod"}), None, "the object is a Pod of API group example.com, not a core Pod")]
    #[case::subresource(
        pod_kind(),
        Some("ephemeralcontainers"),
        "the request is for the Pod's ephemeralcontainers subresource, not for a new Pod"
    )]
    fn only_pods(#[case] kind: Value, #[case] sub_resource: Option<&str>, #[case] sentence: &str) {
        let mut request = pod_request(json!({"spec": {"template": {}}}));
        request["kind"] = kind;
        request["subResource"] = json!(sub_resource);
        let outcome = evaluate(&payload(request, settings())).outcome;
        let Outcome::Accept(decision) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(matches!(decision.reason, Reason::NotPod { .. }));
        assert_eq!(decision.reason.to_string(), sentence);
    }

    #[rstest::rstest]
    fn only_creations(#[values("UPDATE", "DELETE", "CONNECT")] operation: &str) {
        // Neither a malformed object nor malformed settings are looked at.
        let mut request = pod_request(json!("not a pod"));
        request["operation"] = json!(operation);
        let outcome = evaluate(&payload(request, json!({"policy": "on"}))).outcome;
        let Outcome::Accept(decision) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(
            decision.reason.to_string(),
            format!(
                "the operation is {operation}, and sidecars are only injected when a Pod is created"
            )
        );
    }

    #[test]
    fn the_namespace_comes_from_the_request() {
        // A Pod made by a ReplicaSet has no metadata.namespace when it is admitted.
        let settings = json!({"ignoredNamespaces": ["batch"], "template": {"containers": [{"name": "proxy", "image": "proxy:1"}]}});
        let injected = |namespace: &str, pod: Value| {
            let mut request = pod_request(pod);
            request["namespace"] = json!(namespace);
            matches!(
                evaluate(&payload(request, settings.clone())).outcome,
                Outcome::Mutate { .. }
            )
        };
        assert!(injected("shop", deployment_pod()));
        assert!(!injected("kube-system", deployment_pod()));
        assert!(!injected("batch", deployment_pod()));
        // Without one in the request, the Pod's own counts.
        let mut in_kube_system = deployment_pod();
        in_kube_system["metadata"]["namespace"] = json!("kube-system");
        assert!(!injected("", in_kube_system));
    }

    #[test]
    fn a_payload_is_one_json_object() {
        for tail in [" x", "{}", "}"] {
            let mut bytes = payload(pod_request(deployment_pod()), settings());
            bytes.extend_from_slice(tail.as_bytes());
            let outcome = evaluate(&bytes).outcome;
            let Outcome::Reject(RequestError::NotJson(message)) = outcome else {
                panic!("{tail:?}: {outcome:?}");
            };
            assert!(message.starts_with("trailing characters"), "{message}");
        }
    }

    /// Settings no host sends, as the fuzzer wrote them: a rejection, never their text in the Pod.
    #[rstest::rstest]
    #[case::unclosed_string(r#"{"template":{"containers":[{"name":"p","image":"i",","x"}]}}"#)]
    #[case::no_colon(r#"{"template":{"containers":[{"name":"p","image":"i","x"}]}}"#)]
    #[case::control_character(
        "{\"template\":{\"containers\":[{\"name\":\"p\",\"image\":\"a\nb\"}]}}"
    )]
    #[case::control_character_in_a_key("{\"template\":{\"containers\":[{\"n\u{0}\":{}}]}}")]
    // Found by the fuzzer: a number serde_json cannot read, among whitespace.
    #[case::number_out_of_range(
        r#"{"template":{"initContainers":[{"name":"i","image":"i","args":[ 4570718301595813544e999]}]}}"#
    )]
    fn settings_that_are_not_json_are_refused_not_copied(#[case] settings: &str) {
        let request = pod_request(deployment_pod()).to_string();
        let bytes = format!(r#"{{"request":{request},"settings":{settings}}}"#);
        let outcome = evaluate(bytes.as_bytes()).outcome;
        let Outcome::Reject(error) = &outcome else {
            panic!("{settings}: {outcome:?}");
        };
        // Where the text no longer reads at all, the payload is what is not JSON (400).
        assert!(error.to_string().contains("not valid JSON"), "{error}");
    }

    #[test]
    fn malformed_payloads_are_rejected_with_what_is_wrong() {
        let mut no_kind = pod_request(deployment_pod());
        no_kind.as_object_mut().unwrap().remove("kind");
        let mut no_object = pod_request(deployment_pod());
        no_object.as_object_mut().unwrap().remove("object");
        let cases: Vec<(Vec<u8>, &str, u16)> = vec![
            (
                b"{not json".to_vec(),
                "the admission request is not valid JSON: key must be a string at line 1 column 2",
                400,
            ),
            (
                b"".to_vec(),
                "the admission request is not valid JSON: EOF while parsing a value at line 1 column 0",
                400,
            ),
            (
                json!({"settings": settings()}).to_string().into_bytes(),
                "invalid admission request: request: missing",
                400,
            ),
            (
                payload(no_kind, settings()),
                "invalid admission request: request.kind: missing",
                400,
            ),
            (
                payload(
                    {
                        let mut request = pod_request(deployment_pod());
                        request["operation"] = json!(1);
                        request
                    },
                    settings(),
                ),
                "invalid admission request: request.operation: expected a string, got a number",
                400,
            ),
            (
                br#"{"request": {"kind": {"kind": "Pod"}, "operation": "CREATE"}}"#.to_vec(),
                "invalid admission request: settings: missing",
                400,
            ),
            (
                b"[1]".to_vec(),
                "invalid admission request: expected an object, got an array",
                400,
            ),
            (
                payload(json!("pod"), settings()),
                "invalid admission request: request: expected an object, got a string",
                400,
            ),
            (
                payload(no_object, settings()),
                "invalid admission request: request.object: expected an object, got null",
                400,
            ),
            (
                payload(pod_request(json!([1])), settings()),
                "invalid admission request: request.object: expected an object, got an array",
                400,
            ),
            (
                payload(pod_request(json!({"spec": null})), settings()),
                "invalid admission request: request.object.spec: expected an object, got null",
                400,
            ),
            (
                payload(
                    pod_request(json!({"metadata": {"labels": "a=b"}})),
                    settings(),
                ),
                "invalid admission request: request.object.metadata.labels: expected an object, got a string",
                400,
            ),
            (
                payload(
                    pod_request(deployment_pod()),
                    json!({"policy": "on", "template": {}}),
                ),
                "invalid policy settings in the request: policy: expected \"enabled\" or \"disabled\", got \"on\"",
                500,
            ),
            (
                payload(pod_request(deployment_pod()), json!({})),
                "invalid policy settings in the request: template: missing",
                500,
            ),
        ];
        for (payload, message, code) in cases {
            let outcome = evaluate(&payload).outcome;
            let Outcome::Reject(error) = outcome else {
                panic!("{message}: accepted: {outcome:?}");
            };
            assert_eq!(error.to_string(), message);
            assert_eq!(error.code(), code, "{message}");
        }
    }
}
