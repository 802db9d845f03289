//! sidecar-injector: a Kubewarden policy that injects a sidecar into Pods, deciding as Istio does.
//!
//! This file is the waPC layer only. The policy itself is pure and tested natively:
//! [`settings`] (what the admin configures), [`decision`] (whether, and why), [`inject`] (how),
//! [`template`] (per-string rendering), [`selector`] (label selectors), and [`admission`], which
//! goes from a request to an [`admission::Outcome`].

pub mod admission;
pub mod decision;
pub mod error;
pub mod inject;
pub mod pod;
pub mod selector;
pub mod settings;
pub mod template;

use std::collections::HashMap;
use std::sync::LazyLock;

use kubewarden_policy_sdk::wapc_guest::{CallResult, prelude::register_function};
use kubewarden_policy_sdk::{
    logging, protocol_version_guest, response::ValidationResponse,
    settings::SettingsValidationResponse,
};
use slog::{Drain, Logger, info, o, warn};

use crate::admission::{Evaluation, Outcome};
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
    let evaluation = admission::evaluate(payload);
    log(&evaluation);
    Ok(serde_json::to_vec(&response(evaluation.outcome))?)
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

/// The one place where an outcome becomes what the policy server reads.
pub fn response(outcome: Outcome) -> ValidationResponse {
    let accepted = |decision: &Decision, mutated_object| ValidationResponse {
        accepted: true,
        message: None,
        code: None,
        mutated_object,
        audit_annotations: Some(HashMap::from([
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

fn log(evaluation: &Evaluation) {
    let Evaluation {
        namespace,
        name,
        outcome,
    } = evaluation;
    match outcome {
        Outcome::Accept(decision) | Outcome::Mutate { decision, .. } => {
            info!(LOG, "{}", decision; "namespace" => namespace, "pod" => name, "injected" => decision.inject);
        }
        Outcome::Reject(error) => {
            warn!(LOG, "request rejected: {}", error; "namespace" => namespace, "object" => name);
        }
    }
}
