//! Any bytes as the payload of the waPC `validate` call: an outcome and a response, never a panic.
//! The response is always JSON text. When the payload is one a host could send (serde_json reads
//! it, as the policy server does before it calls the policy), serde_json reads the response too:
//! numbers serde_json cannot hold (`1e999`) are JSON, but no host sends them, and the module copies
//! what it does not read of a Pod as it came.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use serde_json::value::RawValue;

fuzz_target!(|payload: &[u8]| {
    let evaluation = sidecar_injector::admission::evaluate(payload);
    let response = sidecar_injector::response(evaluation.outcome).into_json();
    serde_json::from_slice::<Box<RawValue>>(&response).expect("a response is JSON");
    if serde_json::from_slice::<Value>(payload).is_ok() {
        serde_json::from_slice::<Value>(&response).expect("a host reads the response");
    }
});
