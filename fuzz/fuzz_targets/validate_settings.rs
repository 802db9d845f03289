//! Any bytes as settings: accepted or refused with a message naming a place, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|settings: &[u8]| {
    if let Err(error) = sidecar_injector::settings::Settings::validate(settings) {
        assert!(!error.to_string().is_empty());
    }
});
