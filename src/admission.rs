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
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let parsed: ValidationPayload =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
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
        })?;
    let settings = Settings::from_raw(parsed.settings).map_err(RequestError::Settings)?;
    Ok((parsed.request, settings))
}
