//! Any bytes as the payload of the waPC `validate` call: an outcome and a response, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let evaluation = sidecar_injector::admission::evaluate(payload);
    let response = sidecar_injector::response(evaluation.outcome).to_json();
    serde_json::from_str::<serde_json::Value>(&response).expect("a response is JSON");
});
