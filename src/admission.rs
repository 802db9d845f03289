//! One admission request, from the bytes the policy server sends to the outcome: decide, then
//! inject when the decision says so. Pure: the waPC layer only turns the outcome into a response.

use serde::Deserialize;
use serde_json::Value;

use crate::decision::{Decision, decide};
use crate::error::{RequestError, SettingsError};
use crate::inject::inject;
use crate::settings::{RawSettings, Settings};

/// The fields of a Kubernetes `AdmissionRequest` this policy reads; others are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    #[serde(default)]
    pub uid: String,
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    pub operation: String,
    #[serde(default)]
    pub object: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    pub kind: String,
}

impl AdmissionRequest {
    /// A core/v1 Pod itself, not one of its subresources (binding, eviction, ephemeralcontainers…).
    pub fn is_pod(&self) -> bool {
        self.kind.kind == "Pod"
            && self.kind.group.is_empty()
            && self.sub_resource.as_deref().unwrap_or_default().is_empty()
    }

    /// The request's namespace: a Pod created by a controller has none in its own metadata yet.
    pub fn namespace(&self) -> &str {
        match self.namespace.as_deref() {
            Some(namespace) if !namespace.is_empty() => namespace,
            _ => self
                .object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        }
    }

    /// The Pod's name, or its `generateName` prefix while the API server has not named it yet.
    pub fn object_name(&self) -> &str {
        let metadata = |key| {
            self.object
                .pointer(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        metadata("/metadata/name")
            .or_else(|| metadata("/metadata/generateName"))
            .unwrap_or_default()
    }
}

/// What `validate` receives: the request and the settings, together, on every call.
#[derive(Deserialize)]
struct ValidationPayload {
    request: AdmissionRequest,
    settings: RawSettings,
}

/// What the policy answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The Pod is admitted as it is.
    Accept(Decision),
    /// The Pod is admitted with the sidecar.
    Mutate { decision: Decision, pod: Value },
    /// The request could not be evaluated.
    Reject(RequestError),
}

/// An outcome with what identifies its object in logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub namespace: String,
    /// The object's name or generateName; empty when the request could not be read.
    pub name: String,
    pub outcome: Outcome,
}

/// Evaluates a `validate` payload.
pub fn evaluate(payload: &[u8]) -> Evaluation {
    match parse(payload) {
        Ok((request, settings)) => evaluate_request(request, &settings),
        Err(error) => Evaluation {
            namespace: String::new(),
            name: String::new(),
            outcome: Outcome::Reject(error),
        },
    }
}

/// Decides for one request and injects when the decision says so.
pub fn evaluate_request(mut request: AdmissionRequest, settings: &Settings) -> Evaluation {
    let namespace = request.namespace().to_string();
    let name = request.object_name().to_string();
    let outcome = match decide(&request, settings) {
        Err(error) => Outcome::Reject(error),
        Ok(decision) if !decision.inject => Outcome::Accept(decision),
        // The request is not needed after this: its Pod becomes the mutated Pod without a copy.
        Ok(decision) => match inject(std::mem::take(&mut request.object), settings, &namespace) {
            Ok(pod) => Outcome::Mutate { decision, pod },
            Err(error) => Outcome::Reject(error),
        },
    };
    Evaluation {
        namespace,
        name,
        outcome,
    }
}

fn parse(payload: &[u8]) -> Result<(AdmissionRequest, Settings), RequestError> {
    let parsed: ValidationPayload = match serde_json::from_slice(payload) {
        Ok(parsed) => parsed,
        Err(_) => return Err(explain(payload)),
    };
    let settings = Settings::from_raw(parsed.settings).map_err(RequestError::Settings)?;
    Ok((parsed.request, settings))
}

/// Reads the payload again, tracking the path, to say where it is wrong: tracking costs, so only
/// payloads that failed pay for it.
fn explain(payload: &[u8]) -> RequestError {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let Err(error) = serde_path_to_error::deserialize::<_, ValidationPayload>(&mut deserializer)
    else {
        return RequestError::field("", "cannot be read");
    };
    if !error.inner().is_data() {
        return RequestError::NotJson(error.inner().to_string());
    }
    let in_settings = error
        .path()
        .iter()
        .next()
        .is_some_and(|s| s.to_string() == "settings");
    let located = SettingsError::from_serde(error, "");
    match located.path.strip_prefix("settings") {
        Some(rest) if in_settings => RequestError::Settings(SettingsError::new(
            rest.trim_start_matches('.'),
            located.problem,
        )),
        _ => RequestError::field(located.path, located.problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Reason;
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
        let Outcome::Mutate { decision, pod } = evaluation.outcome else {
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
        let Outcome::Mutate { pod, .. } =
            evaluate(&payload(pod_request(deployment_pod()), settings())).outcome
        else {
            panic!("first injection failed");
        };
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
                payload(json!("pod"), settings()),
                "invalid admission request: request: invalid type: string \"pod\", expected an object",
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
