//! The waPC layer: the entry points the Kubewarden policy server calls, and the one place where
//! an outcome becomes the response it reads. Everything else in the crate is pure.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use kubewarden_policy_sdk::wapc_guest::{self, CallResult, prelude::register_function};
use kubewarden_policy_sdk::{
    logging, protocol_version_guest, settings::SettingsValidationResponse,
};
use slog::{Drain, Logger, debug, o, warn};

use crate::admission::{self, Evaluation, Outcome};
use crate::decision::Decision;
use crate::settings::Settings;

static LOG: LazyLock<Logger> = LazyLock::new(|| {
    Logger::root(
        logging::KubewardenDrain::new().fuse(),
        o!("policy" => "sidecar-injector"),
    )
});

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    let evaluation = admission::evaluate_with(payload, Some(Arc::new(read_namespace)));
    log(&evaluation);
    Ok(response(evaluation.outcome).into_json())
}

/// The Pod's Namespace, from the policy server (`kubernetes/get_resource`, which it answers from
/// the cluster through a cache of a few seconds): asked only when the settings or a template need
/// it ([`crate::namespace`]). The policy server answers only for the resources the policy's
/// `contextAwareResources` grant; anything else it refuses, and that refusal is the error. The
/// Namespace comes whole: Kubewarden 1.31's hosts drop a request's `field_masks` (the SDK's way
/// to ask for only some fields), so asking for its metadata alone would change nothing there, and
/// could not be tested here.
fn read_namespace(name: &str) -> Result<String, String> {
    let name = serde_json::to_string(name).map_err(|e| e.to_string())?;
    let request = format!(
        r#"{{"api_version":"v1","kind":"Namespace","name":{name},"namespace":null,"disable_cache":false}}"#
    );
    let answer = wapc_guest::host_call(
        "kubewarden",
        "kubernetes",
        "get_resource",
        request.as_bytes(),
    )
    .map_err(|e| {
        // The host's error, without the stack trace a host built with backtraces appends.
        let error = e.to_string();
        let error = error
            .split("\n\nStack backtrace:")
            .next()
            .unwrap_or_default();
        format!("the policy server answered: {}", error.trim_end())
    })?;
    String::from_utf8(answer).map_err(|_| "the policy server's answer is not UTF-8".to_string())
}

fn validate_settings(payload: &[u8]) -> CallResult {
    let response = match Settings::validate(payload) {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(error) => SettingsValidationResponse {
            valid: false,
            message: Some(error.to_string()),
        },
    };
    Ok(serde_json::to_vec(&response)?)
}

/// The Kubewarden SDK's `ValidationResponse`, field for field, but for the mutated object, which
/// is the JSON text [`crate::inject`] wrote: the Pod is never parsed whole to be answered.
#[derive(Debug)]
pub struct ValidationResponse {
    pub accepted: bool,
    pub message: Option<String>,
    pub code: Option<u16>,
    /// The mutated Pod, as JSON text.
    pub mutated_object: Option<String>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

impl ValidationResponse {
    /// What `validate` answers: the SDK's JSON, with the mutated object's text as it is, written
    /// around it in its own buffer (grown when it must be) rather than copied into another.
    pub fn into_json(self) -> Vec<u8> {
        let mut head = Vec::with_capacity(64);
        head.extend_from_slice(b"{\"accepted\":");
        head.extend_from_slice(if self.accepted { b"true" } else { b"false" });
        head.extend_from_slice(b",\"message\":");
        write(&mut head, &self.message);
        head.extend_from_slice(b",\"code\":");
        write(&mut head, &self.code);
        head.extend_from_slice(b",\"mutated_object\":");
        let mut out = match self.mutated_object {
            Some(object) => {
                let mut out = object.into_bytes();
                out.splice(0..0, head);
                out
            }
            None => {
                head.extend_from_slice(b"null");
                head
            }
        };
        out.extend_from_slice(b",\"audit_annotations\":");
        write(&mut out, &self.audit_annotations);
        out.extend_from_slice(b",\"warnings\":");
        write(&mut out, &self.warnings);
        out.push(b'}');
        out
    }
}

/// A field of the response as JSON. Strings, numbers, maps and lists of strings: nothing there
/// can fail to serialize.
fn write(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    let _ = serde_json::to_writer(out, value);
}

/// The one place where an outcome becomes what the policy server reads.
pub fn response(outcome: Outcome) -> ValidationResponse {
    let accepted = |decision: &Decision, mutated_object| ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object,
        audit_annotations: Some(BTreeMap::from([
            ("injected".to_string(), decision.inject.to_string()),
            ("reason".to_string(), decision.reason.to_string()),
        ])),
        warnings: decision.warning().map(|warning| vec![warning]),
    };
    match outcome {
        Outcome::Accept(decision) => accepted(&decision, None),
        Outcome::Mutate { decision, pod } => accepted(&decision, Some(pod)),
        Outcome::Reject(error) => ValidationResponse {
            accepted: false,
            message: Some(error.to_string()),
            code: Some(error.code()),
            mutated_object: None,
            audit_annotations: None,
            warnings: None,
        },
    }
}

/// Only rejections are logged: a template that fails for a Pod (500) at warn, for an operator to
/// act on, and a refusal (400) at debug. An injection or a decline sends nothing: the reason is in
/// the response's audit annotations, which the policy server's own debug line for every request
/// ("policy evaluated", `--log-level debug`) shows with the rest of the response. A line of the
/// policy's own would be sent to the host on every Pod creation, whatever its log level (the SDK
/// cannot know it), and the host reads each one and adds the policy's whole settings to it: an
/// experiment measured 3% to 4% of the policy server's throughput for that debug line alone.
fn log(evaluation: &Evaluation) {
    let Evaluation {
        namespace,
        name,
        outcome,
    } = evaluation;
    match outcome {
        Outcome::Accept(_) | Outcome::Mutate { .. } => {}
        Outcome::Reject(error) if error.code() >= 500 => {
            warn!(LOG, "request rejected: {}", error; "namespace" => namespace, "object" => name);
        }
        Outcome::Reject(error) => {
            debug!(LOG, "request rejected: {}", error; "namespace" => namespace, "object" => name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Override, Reason, Source};
    use crate::settings::InjectionPolicy;
    use serde_json::{Value, json};

    fn respond(pod: Value, namespace: &str) -> Value {
        let payload = json!({
            "request": {"uid": "1", "kind": {"kind": "Pod", "version": "v1"}, "namespace": namespace, "operation": "CREATE", "object": pod},
            "settings": {"template": {"containers": [{"name": "proxy", "image": "proxy:1"}]}}
        });
        let bytes = validate(payload.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn injection_answers_with_the_mutated_pod_and_the_reason() {
        let response = respond(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "a"}]}}),
            "shop",
        );
        assert_eq!(response["accepted"], true);
        assert_eq!(
            response["mutated_object"]["spec"]["containers"][1]["name"],
            "proxy"
        );
        assert_eq!(
            response["audit_annotations"],
            json!({"injected": "true", "reason": "the Pod does not choose, and the policy's default is enabled"})
        );
        assert_eq!(response["warnings"], Value::Null);
    }

    #[test]
    fn no_injection_accepts_without_a_mutated_object() {
        let pod = json!({"metadata": {"name": "p", "labels": {"sidecar.istio.io/inject": "true"}}, "spec": {"hostNetwork": true, "containers": []}});
        let response = respond(pod, "shop");
        assert_eq!(response["accepted"], true);
        assert_eq!(response["mutated_object"], Value::Null);
        assert_eq!(response["audit_annotations"]["injected"], "false");
        assert_eq!(response["warnings"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn malformed_requests_are_rejected_with_a_message() {
        let response = respond(json!({"spec": {"containers": "app"}}), "shop");
        assert_eq!(response["accepted"], false);
        assert_eq!(response["code"], 400);
        assert_eq!(
            response["message"],
            "invalid admission request: request.object.spec.containers: expected an array, got a string"
        );
    }

    /// The response, written around the mutated object, reads as the SDK's own serialization of
    /// the same response: accepted with and without an object, a warning, a rejection.
    #[test]
    fn the_response_is_the_sdks() {
        let pod = r#"{"metadata":{"name":"p \"q\""},"spec":{"containers":[]}}"#;
        let responses = [
            response(Outcome::Mutate {
                decision: Decision {
                    inject: true,
                    reason: Reason::DefaultPolicy {
                        policy: InjectionPolicy::Enabled,
                        found: None,
                    },
                },
                pod: pod.to_string(),
            }),
            response(Outcome::Accept(Decision {
                inject: false,
                // Asked for, so with a warning.
                reason: Reason::HostNetwork {
                    found: Some(Override {
                        source: Source::Annotation,
                        value: "true".to_string(),
                    }),
                },
            })),
            response(Outcome::Reject(crate::error::RequestError::field(
                "request.object.spec",
                "expected an object",
            ))),
        ];
        for ours in responses {
            let sdk = kubewarden_policy_sdk::response::ValidationResponse {
                accepted: ours.accepted,
                message: ours.message.clone(),
                code: ours.code,
                mutated_object: ours
                    .mutated_object
                    .as_deref()
                    .map(|text| serde_json::from_str(text).unwrap()),
                audit_annotations: ours
                    .audit_annotations
                    .clone()
                    .map(|map| map.into_iter().collect()),
                warnings: ours.warnings.clone(),
            };
            let written: Value = serde_json::from_slice(&ours.into_json()).unwrap();
            assert_eq!(written, serde_json::to_value(&sdk).unwrap());
        }
    }

    #[test]
    fn settings_validation_answers() {
        let answer = |settings: &str| -> Value {
            serde_json::from_slice(&validate_settings(settings.as_bytes()).unwrap()).unwrap()
        };
        assert_eq!(
            answer(r#"{"template": {"containers": [{"name": "p", "image": "i"}]}}"#),
            json!({"valid": true, "message": null})
        );
        assert_eq!(
            answer(
                r#"{"policy": "Enabled", "template": {"containers": [{"name": "p", "image": "i"}]}}"#
            ),
            json!({"valid": false, "message": "policy: expected \"enabled\" or \"disabled\", got \"Enabled\""})
        );
        assert_eq!(
            answer("not json"),
            json!({"valid": false, "message": "the settings are not valid JSON: expected ident at line 1 column 2"})
        );
    }
}
