//! A minimal waPC host that runs a Kubewarden policy module the way
//! `kwctl run` and the Kubewarden policy server do.
//!
//! * The module is compiled once ([`PolicyModule::from_file`] /
//!   [`PolicyModule::from_bytes`]); every evaluation then instantiates a
//!   FRESH waPC instance from the pre-compiled module (`rehydrate`), runs the
//!   waPC start functions, makes one guest call and discards the instance.
//! * WASI is enabled with no preopened directories, no environment variables
//!   and no arguments (stdio is inherited, as in `wasmtime-provider`).
//! * The only host capability offered is Kubewarden's logging call
//!   (`kubewarden`/`tracing`/`log`); log events go to stderr, one per line.
//! * The guest's `ValidationResponse` is converted into a Kubernetes
//!   `AdmissionResponse` exactly like Kubewarden's policy-evaluator does.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The waPC host itself (wasmtime): behind feature `host`, so that `apply-patch` builds without it.
#[cfg(feature = "host")]
mod host;
#[cfg(feature = "host")]
pub use host::PolicyModule;

/// Message used by Kubewarden's policy-evaluator when a policy tries to mutate
/// a request that carries no object (DELETE operations).
pub const NULL_OBJECT_MUTATION_MESSAGE: &str = "Incoming object is null, which happens only with DELETE operations, but the policy is attempting a mutation. This is not allowed";

/// Answer of the guest's `validate_settings` function
/// (Kubewarden SDK `SettingsValidationResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsVerdict {
    pub valid: bool,
    #[serde(default)]
    pub message: Option<String>,
}

/// Answer of the guest's `validate` function
/// (Kubewarden SDK `response::ValidationResponse`, snake_case on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyValidationResponse {
    pub accepted: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub mutated_object: Option<Value>,
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// `status` of an [`AdmissionResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionResponseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// Kubernetes `admission/v1` AdmissionResponse, serialized with the same
/// field names, order and omission rules as Kubewarden's policy-evaluator
/// (`src/admission_response.rs`): `patchType`, `patch` and `status` are
/// omitted when empty, while `auditAnnotations` and `warnings` are always
/// written (as `null` when the policy gave none) — that is what
/// `kwctl run` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionResponseStatus>,
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

impl AdmissionResponse {
    /// A rejection with the given message and code.
    pub fn reject(uid: &str, message: String, code: u16) -> Self {
        AdmissionResponse {
            uid: uid.to_owned(),
            allowed: false,
            status: Some(AdmissionResponseStatus {
                message: Some(message),
                code: Some(code),
            }),
            ..Default::default()
        }
    }

    /// What the policy server answers when the policy cannot be evaluated
    /// (guest error or trap, unparseable guest answer): code 500 and
    /// `internal server error: <error>`.
    pub fn internal_server_error(uid: &str, error: &str) -> Self {
        Self::reject(uid, format!("internal server error: {error}"), 500)
    }

    /// The response as a JSON value (keys sorted; serialize the struct itself for kwctl's order).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("AdmissionResponse always serializes")
    }
}

/// Returns the AdmissionRequest inside `input`: `input.request` when `input`
/// is a whole AdmissionReview (`"kind": "AdmissionReview"`), `input` itself
/// otherwise. The result must be a JSON object.
pub fn extract_admission_request(input: &Value) -> Result<&Value> {
    let obj = input
        .as_object()
        .ok_or_else(|| anyhow!("invalid request: expected a JSON object"))?;
    let request = if obj.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
        obj.get("request")
            .filter(|r| !r.is_null())
            .ok_or_else(|| anyhow!("invalid AdmissionReview object: it has no `request`"))?
    } else {
        input
    };
    if !request.is_object() {
        bail!("invalid AdmissionReview object: `request` is not a JSON object");
    }
    Ok(request)
}

/// The `uid` of an AdmissionRequest (empty string when missing, as in
/// policy-evaluator).
pub fn request_uid(request: &Value) -> &str {
    request.get("uid").and_then(Value::as_str).unwrap_or("")
}

/// Settings as the guest receives them: a JSON object; `null` means `{}`.
pub fn normalize_settings(settings: &Value) -> Result<Value> {
    match settings {
        Value::Null => Ok(json!({})),
        Value::Object(_) => Ok(settings.clone()),
        other => bail!(
            "policy settings must be a JSON object, got {}",
            json_type_name(other)
        ),
    }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Converts the guest's ValidationResponse into an AdmissionResponse, as
/// policy-evaluator's `AdmissionResponse::from_policy_validation_response`
/// does. `request_object` is the request's `object` (None or `null` for
/// DELETE).
pub fn admission_response_from_policy(
    uid: &str,
    request_object: Option<&Value>,
    resp: &PolicyValidationResponse,
) -> Result<AdmissionResponse> {
    let request_object = request_object.filter(|o| !o.is_null());
    if resp.mutated_object.is_some() && request_object.is_none() {
        return Ok(AdmissionResponse {
            uid: uid.to_owned(),
            allowed: false,
            status: Some(AdmissionResponseStatus {
                message: Some(NULL_OBJECT_MUTATION_MESSAGE.to_owned()),
                code: None,
            }),
            ..Default::default()
        });
    }

    let patch = match (&resp.mutated_object, request_object) {
        (Some(mutated), Some(original)) => {
            let diff = json_patch::diff(original, mutated);
            if diff.0.is_empty() {
                None
            } else {
                let text = serde_json::to_string(&diff).context("cannot serialize JSONPatch")?;
                Some(base64::engine::general_purpose::STANDARD.encode(text))
            }
        }
        _ => None,
    };
    let patch_type = patch.as_ref().map(|_| "JSONPatch".to_owned());

    // policy-evaluator copies message and code verbatim: when the policy gives
    // no code, none is filled in (`status.code` is omitted).
    let status = if resp.message.is_some() || resp.code.is_some() {
        Some(AdmissionResponseStatus {
            message: resp.message.clone(),
            code: resp.code,
        })
    } else {
        None
    };

    Ok(AdmissionResponse {
        uid: uid.to_owned(),
        allowed: resp.accepted,
        patch_type,
        patch,
        status,
        audit_annotations: resp.audit_annotations.clone(),
        warnings: resp.warnings.clone(),
    })
}

/// Turns the raw bytes answered by the guest's `validate` into an
/// AdmissionResponse for `request` (a bare AdmissionRequest). Bytes that do
/// not parse as a ValidationResponse give a 500 rejection, as in
/// policy-evaluator.
pub fn admission_response_from_guest_bytes(
    request: &Value,
    guest_answer: &[u8],
) -> AdmissionResponse {
    let uid = request_uid(request);
    let parsed: Result<PolicyValidationResponse> = serde_json::from_slice(guest_answer)
        .map_err(|e| anyhow!("cannot deserialize policy validation response: {e}"));
    parsed
        .and_then(|resp| admission_response_from_policy(uid, request.get("object"), &resp))
        .unwrap_or_else(|e| AdmissionResponse::internal_server_error(uid, &format!("{e:#}")))
}

/// Formats a Kubewarden log event (JSON object written by the SDK's slog
/// drain: `level`, `message`, `file`, `line`, `column` plus key/values) as
/// one line: `policy <level>: <message> key=value ...`.
pub fn format_log_event(payload: &[u8]) -> String {
    let event: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(_) => return format!("policy log: {}", String::from_utf8_lossy(payload)),
    };
    let Some(obj) = event.as_object() else {
        return format!("policy log: {event}");
    };
    let level = obj.get("level").and_then(Value::as_str).unwrap_or("info");
    let message = obj.get("message").and_then(Value::as_str).unwrap_or("");
    let mut line = format!("policy {level}: {message}");
    for (k, v) in obj {
        if matches!(k.as_str(), "level" | "message" | "file" | "line" | "column") {
            continue;
        }
        match v {
            Value::String(s) => line.push_str(&format!(" {k}={s}")),
            other => line.push_str(&format!(" {k}={other}")),
        }
    }
    line
}

/// Applies the `patch` of an AdmissionResponse (base64 of a JSONPatch; no
/// patch means no change) to the request's `object` and returns the result.
pub fn apply_response_patch(request: &Value, response: &Value) -> Result<Value> {
    let request = extract_admission_request(request)?;
    let mut object = request
        .get("object")
        .filter(|o| !o.is_null())
        .cloned()
        .ok_or_else(|| anyhow!("the request has no `object` to patch"))?;
    let response = match response.get("kind").and_then(Value::as_str) {
        Some("AdmissionReview") => response
            .get("response")
            .ok_or_else(|| anyhow!("AdmissionReview without `response`"))?,
        _ => response,
    };
    let Some(patch) = response.get("patch").filter(|p| !p.is_null()) else {
        return Ok(object);
    };
    if let Some(pt) = response.get("patchType").and_then(Value::as_str) {
        if pt != "JSONPatch" {
            bail!("unsupported patchType {pt:?}");
        }
    }
    let encoded = patch
        .as_str()
        .ok_or_else(|| anyhow!("`patch` is not a string"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("`patch` is not valid base64")?;
    let patch: json_patch::Patch =
        serde_json::from_slice(&decoded).context("`patch` is not a JSONPatch document")?;
    json_patch::patch(&mut object, &patch).context("cannot apply the patch")?;
    Ok(object)
}

/// Checks that `object` deserializes into a `core/v1` Pod (the error names
/// the JSON path of the offending field), then checks the few structural
/// rules of the API server's Pod validation that deserialization cannot see
/// (k8s-openapi defaults missing required fields): see [`check_pod_rules`].
pub fn check_pod(object: &Value) -> Result<k8s_openapi::api::core::v1::Pod> {
    let text = serde_json::to_string(object)?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let pod: k8s_openapi::api::core::v1::Pod =
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            anyhow!("not a valid Pod at `{path}`: {}", e.inner())
        })?;
    check_pod_rules(&pod)?;
    Ok(pod)
}

/// Rules enforced by the Kubernetes API server on every Pod:
/// `spec` present with at least one container; every container
/// (`initContainers`, `containers`, `ephemeralContainers`) has a name and an
/// image (ephemeral: a name); container names are unique across the Pod;
/// volume names are unique; every `volumeMounts[].name` names a volume of
/// the Pod.
pub fn check_pod_rules(pod: &k8s_openapi::api::core::v1::Pod) -> Result<()> {
    use std::collections::HashSet;
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| anyhow!("not a valid Pod at `spec`: missing"))?;
    if spec.containers.is_empty() {
        bail!("not a valid Pod at `spec.containers`: at least one container is required");
    }
    let mut volumes = HashSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        if v.name.is_empty() {
            bail!("not a valid Pod at `spec.volumes[{i}].name`: required");
        }
        if !volumes.insert(v.name.as_str()) {
            bail!(
                "not a valid Pod at `spec.volumes[{i}].name`: duplicate volume name {:?}",
                v.name
            );
        }
    }
    let mut names = HashSet::new();
    let lists = [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("containers", spec.containers.as_slice()),
    ];
    for (list, containers) in lists {
        for (i, c) in containers.iter().enumerate() {
            let at = format!("spec.{list}[{i}]");
            unique_name(&mut names, &c.name, &at)?;
            if c.image.as_deref().unwrap_or_default().is_empty() {
                bail!("not a valid Pod at `{at}.image`: required");
            }
            for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
                if !volumes.contains(m.name.as_str()) {
                    bail!(
                        "not a valid Pod at `{at}.volumeMounts[{j}].name`: volume {:?} not found",
                        m.name
                    );
                }
            }
        }
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        unique_name(
            &mut names,
            &c.name,
            &format!("spec.ephemeralContainers[{i}]"),
        )?;
    }
    Ok(())
}

/// Container names are required and unique across all the Pod's containers.
fn unique_name<'a>(
    names: &mut std::collections::HashSet<&'a str>,
    name: &'a str,
    at: &str,
) -> Result<()> {
    if name.is_empty() {
        bail!("not a valid Pod at `{at}.name`: required");
    }
    if !names.insert(name) {
        bail!("not a valid Pod at `{at}.name`: duplicate container name {name:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_request() -> Value {
        json!({
            "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "namespace": "default",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "nginx", "namespace": "default"},
                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
            }
        })
    }

    #[test]
    fn bare_request_is_used_as_is() {
        let req = pod_request();
        assert_eq!(extract_admission_request(&req).unwrap(), &req);
    }

    #[test]
    fn admission_review_request_is_extracted() {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": pod_request(),
        });
        assert_eq!(extract_admission_request(&review).unwrap(), &pod_request());
    }

    #[test]
    fn admission_review_without_request_is_an_error() {
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
        assert!(extract_admission_request(&review).is_err());
        assert!(extract_admission_request(&json!([1, 2])).is_err());
    }

    #[test]
    fn settings_are_normalized() {
        assert_eq!(normalize_settings(&Value::Null).unwrap(), json!({}));
        assert_eq!(
            normalize_settings(&json!({"a": 1})).unwrap(),
            json!({"a": 1})
        );
        assert!(normalize_settings(&json!("x")).is_err());
    }

    #[test]
    fn accept_without_mutation() {
        let req = pod_request();
        let resp = admission_response_from_guest_bytes(
            &req,
            br#"{"accepted":true,"message":null,"code":null,"mutated_object":null}"#,
        );
        let v = resp.to_value();
        assert_eq!(
            v,
            json!({
                "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
                "allowed": true,
                "auditAnnotations": null,
                "warnings": null
            })
        );
        // kwctl's field order, which the struct keeps when serialized.
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"uid":"1299d386-525b-4032-98ae-1949f69f9cfc","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );
    }

    #[test]
    fn identical_mutated_object_gives_no_patch() {
        let req = pod_request();
        let answer = json!({"accepted": true, "mutated_object": req["object"].clone()});
        let resp = admission_response_from_guest_bytes(&req, answer.to_string().as_bytes());
        assert!(resp.allowed);
        assert_eq!(resp.patch, None);
        assert_eq!(resp.patch_type, None);
        let v = resp.to_value();
        assert!(v.get("patchType").is_none());
        assert!(v.get("patch").is_none());
    }

    #[test]
    fn mutation_gives_a_base64_json_patch() {
        let req = pod_request();
        let mut mutated = req["object"].clone();
        mutated["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "sidecar", "image": "busybox"}));
        let answer = json!({"accepted": true, "mutated_object": mutated.clone()});
        let resp = admission_response_from_guest_bytes(&req, answer.to_string().as_bytes());
        assert_eq!(resp.patch_type.as_deref(), Some("JSONPatch"));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(resp.patch.as_ref().unwrap())
            .unwrap();
        let patch: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(
            patch,
            json!([{"op": "add", "path": "/spec/containers/1",
                    "value": {"name": "sidecar", "image": "busybox"}}])
        );
        // and apply-patch's helper reproduces the mutated object
        let patched = apply_response_patch(&req, &resp.to_value()).unwrap();
        assert_eq!(patched, mutated);
        check_pod(&patched).unwrap();
    }

    #[test]
    fn rejection_copies_message_and_code() {
        let req = pod_request();
        let resp = admission_response_from_guest_bytes(
            &req,
            br#"{"accepted":false,"message":"no way","code":403,"warnings":["w1"],"audit_annotations":{"k":"v"}}"#,
        );
        assert_eq!(
            resp.to_value(),
            json!({
                "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
                "allowed": false,
                "status": {"message": "no way", "code": 403},
                "auditAnnotations": {"k": "v"},
                "warnings": ["w1"]
            })
        );
    }

    #[test]
    fn rejection_without_code_has_no_code() {
        let req = pod_request();
        let resp =
            admission_response_from_guest_bytes(&req, br#"{"accepted":false,"message":"denied"}"#);
        assert_eq!(
            resp.status,
            Some(AdmissionResponseStatus {
                message: Some("denied".into()),
                code: None
            })
        );
        assert_eq!(resp.to_value()["status"], json!({"message": "denied"}));
    }

    #[test]
    fn garbage_guest_answer_is_a_500() {
        let req = pod_request();
        let resp = admission_response_from_guest_bytes(&req, b"not json");
        assert!(!resp.allowed);
        let status = resp.status.unwrap();
        assert_eq!(status.code, Some(500));
        assert!(status
            .message
            .unwrap()
            .starts_with("internal server error: "));
    }

    #[test]
    fn mutation_of_delete_request_is_rejected() {
        let mut req = pod_request();
        req["operation"] = json!("DELETE");
        req["oldObject"] = req["object"].clone();
        req["object"] = Value::Null;
        let answer = json!({"accepted": true, "mutated_object": {"a": 1}});
        let resp = admission_response_from_guest_bytes(&req, answer.to_string().as_bytes());
        assert!(!resp.allowed);
        assert_eq!(
            resp.status.unwrap().message.as_deref(),
            Some(NULL_OBJECT_MUTATION_MESSAGE)
        );
    }

    #[test]
    fn no_patch_leaves_object_unchanged() {
        let req = pod_request();
        let resp = json!({"uid": "x", "allowed": true});
        assert_eq!(apply_response_patch(&req, &resp).unwrap(), req["object"]);
    }

    #[test]
    fn invalid_pod_names_the_path() {
        let obj = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x"},
            "spec": {"containers": [{"name": "a", "image": "b", "ports": [{"containerPort": "eighty"}]}]}
        });
        let err = check_pod(&obj).unwrap_err().to_string();
        assert!(
            err.contains("spec.containers[0].ports[0].containerPort"),
            "{err}"
        );
    }

    #[test]
    fn pod_rules_are_checked() {
        let base = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x"},
            "spec": {
                "volumes": [{"name": "data", "emptyDir": {}}],
                "containers": [{"name": "a", "image": "b",
                                "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]
            }
        });
        check_pod(&base).unwrap();
        let cases = [
            (
                "/spec/containers/0/name",
                json!(""),
                "spec.containers[0].name",
            ),
            (
                "/spec/containers/0/image",
                json!(""),
                "spec.containers[0].image",
            ),
            ("/spec/containers", json!([]), "spec.containers"),
            (
                "/spec/initContainers",
                json!([{"name": "a", "image": "i"}]),
                "spec.containers[0].name",
            ),
            (
                "/spec/volumes/1",
                json!({"name": "data"}),
                "spec.volumes[1].name",
            ),
            (
                "/spec/containers/0/volumeMounts/0/name",
                json!("nope"),
                "volumeMounts[0].name",
            ),
        ];
        for (path, value, expected) in cases {
            let mut obj = base.clone();
            let patch: json_patch::Patch = serde_json::from_value(json!([
                {"op": "add", "path": path, "value": value}
            ]))
            .unwrap();
            json_patch::patch(&mut obj, &patch).unwrap();
            let err = check_pod(&obj).unwrap_err().to_string();
            assert!(err.contains(expected), "{path}: {err}");
        }
    }

    #[test]
    fn log_events_are_one_line() {
        let line = format_log_event(
            br#"{"level":"info","message":"injecting","file":"src/lib.rs","line":3,"column":1,"pod":"nginx","n":2}"#,
        );
        // Key-values in sorted order, as the JSON is read without preserve_order.
        assert_eq!(line, "policy info: injecting n=2 pod=nginx");
    }
}
