//! A no-op Kubewarden policy built like sidecar-injector (same SDK, same profile): it parses the
//! admission request with the SDK, as every policy must, and accepts. What the policy server
//! spends on it is the floor against which the injector's cost is measured.

use kubewarden_policy_sdk::wapc_guest::{CallResult, prelude::register_function};
use kubewarden_policy_sdk::{
    accept_request, protocol_version_guest, request::ValidationRequest,
    settings::SettingsValidationResponse,
};

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    ValidationRequest::<serde_json::Value>::new(payload)?;
    accept_request()
}

fn validate_settings(_payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: true,
        message: None,
    })?)
}
