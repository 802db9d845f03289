//! End-to-end tests of the waPC host with tiny hand-written waPC guests (WAT),
//! so the host side is tested without the real policy module.

use base64::Engine as _;
use policy_runner::PolicyModule;
use serde_json::{json, Value};

fn wat_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:02x}")),
        }
    }
    out.push('"');
    out
}

enum Validate<'a> {
    /// answer this document to `validate`
    Respond(&'a str),
    /// trap in `validate`
    Trap,
    /// call an unsupported host capability; answer the document if the host
    /// call failed
    Capability(&'a str),
}

/// A waPC guest: `validate_settings` accepts only `{}`; every call first logs
/// through `kubewarden/tracing/log`; a second call on the same instance fails
/// (proves that every evaluation uses a fresh instance).
fn guest(validate: Validate) -> Vec<u8> {
    let log = r#"{"level":"info","message":"hello from wat","answer":42}"#;
    let settings_ok = r#"{"valid":true,"message":null}"#;
    let settings_bad = r#"{"valid":false,"message":"only {} is accepted"}"#;
    let reused = "instance reused";
    let unexpected = "host call unexpectedly succeeded";
    let (answer, body) = match validate {
        Validate::Respond(doc) => (
            doc,
            format!(
                "(call $guest_response (i32.const 8192) (i32.const {})) (i32.const 1)",
                doc.len()
            ),
        ),
        Validate::Trap => ("", "unreachable".to_owned()),
        Validate::Capability(doc) => (
            doc,
            format!(
                "(if (result i32) (i32.eqz (call $host_call (i32.const 1024) (i32.const 10) \
                 (i32.const 1200) (i32.const 3) (i32.const 1210) (i32.const 9) \
                 (i32.const 1072) (i32.const {log_len})))
                   (then (call $guest_response (i32.const 8192) (i32.const {len})) (i32.const 1))
                   (else (call $guest_error (i32.const 2600) (i32.const {ulen})) (i32.const 0)))",
                log_len = log.len(),
                len = doc.len(),
                ulen = unexpected.len()
            ),
        ),
    };
    let wat = format!(
        r#"(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call" (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 1024) "kubewarden")
  (data (i32.const 1040) "tracing")
  (data (i32.const 1056) "log")
  (data (i32.const 1072) {log})
  (data (i32.const 1200) "oci")
  (data (i32.const 1210) "v1/verify")
  (data (i32.const 2048) {settings_ok})
  (data (i32.const 2200) {settings_bad})
  (data (i32.const 2400) {reused})
  (data (i32.const 2600) {unexpected})
  (data (i32.const 8192) {answer})
  (func (export "wapc_init"))
  (func (export "__guest_call") (param $op_len i32) (param $msg_len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 65536))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (i32.gt_u (global.get $calls) (i32.const 1))
      (then (call $guest_error (i32.const 2400) (i32.const {reused_len})) (return (i32.const 0))))
    (drop (call $host_call (i32.const 1024) (i32.const 10) (i32.const 1040) (i32.const 7)
                           (i32.const 1056) (i32.const 3) (i32.const 1072) (i32.const {log_len})))
    (if (i32.eq (local.get $op_len) (i32.const 17))
      (then
        (if (i32.eq (local.get $msg_len) (i32.const 2))
          (then (call $guest_response (i32.const 2048) (i32.const {ok_len})))
          (else (call $guest_response (i32.const 2200) (i32.const {bad_len}))))
        (return (i32.const 1))))
    {body}))
"#,
        log = wat_string(log),
        settings_ok = wat_string(settings_ok),
        settings_bad = wat_string(settings_bad),
        reused = wat_string(reused),
        unexpected = wat_string(unexpected),
        answer = wat_string(answer),
        reused_len = reused.len(),
        log_len = log.len(),
        ok_len = settings_ok.len(),
        bad_len = settings_bad.len(),
        body = body,
    );
    wat.into_bytes()
}

fn request() -> Value {
    json!({
        "uid": "abc-123",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "default",
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "nginx"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}
        }
    })
}

#[test]
fn settings_validation() {
    let module = PolicyModule::from_bytes(&guest(Validate::Trap)).unwrap();
    let ok = module.validate_settings(&json!({})).unwrap();
    assert!(ok.valid);
    assert_eq!(ok.message, None);
    // null settings are sent as {}
    assert!(module.validate_settings(&Value::Null).unwrap().valid);
    let bad = module.validate_settings(&json!({"x": 1})).unwrap();
    assert!(!bad.valid);
    assert_eq!(bad.message.as_deref(), Some("only {} is accepted"));
}

#[test]
fn every_evaluation_uses_a_fresh_instance() {
    let answer = r#"{"accepted":false,"message":"nope","code":418}"#;
    let module = PolicyModule::from_bytes(&guest(Validate::Respond(answer))).unwrap();
    // validate_settings then several evaluations: a reused instance would
    // answer "instance reused".
    assert!(module.validate_settings(&json!({})).unwrap().valid);
    for _ in 0..3 {
        let resp = module.evaluate(&json!({}), &request()).unwrap();
        assert_eq!(
            resp,
            json!({
                "uid": "abc-123",
                "allowed": false,
                "status": {"message": "nope", "code": 418},
                "auditAnnotations": null,
                "warnings": null
            })
        );
    }
}

#[test]
fn admission_review_input_and_mutation() {
    let mut mutated = request()["object"].clone();
    mutated["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox"}));
    let answer = json!({"accepted": true, "message": null, "code": null,
                        "mutated_object": mutated.clone()})
    .to_string();
    let module = PolicyModule::from_bytes(&guest(Validate::Respond(&answer))).unwrap();
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": request(),
    });
    let resp = module.evaluate(&json!({}), &review).unwrap();
    assert_eq!(resp["uid"], "abc-123");
    assert_eq!(resp["allowed"], true);
    assert_eq!(resp["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(resp["patch"].as_str().unwrap())
        .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/spec/containers/1",
                "value": {"name": "sidecar", "image": "busybox"}}])
    );
    let patched = policy_runner::apply_response_patch(&review, &resp).unwrap();
    assert_eq!(patched, mutated);
    policy_runner::check_pod(&patched).unwrap();
}

#[test]
fn trap_gives_internal_server_error() {
    let module = PolicyModule::from_bytes(&guest(Validate::Trap)).unwrap();
    let resp = module.evaluate(&json!({}), &request()).unwrap();
    assert_eq!(resp["uid"], "abc-123");
    assert_eq!(resp["allowed"], false);
    assert_eq!(resp["status"]["code"], 500);
    let msg = resp["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with("internal server error: "), "{msg}");
    // the module is still usable afterwards (fresh instance)
    assert!(module.validate_settings(&json!({})).unwrap().valid);
}

#[test]
fn unsupported_host_capability_is_refused() {
    let answer = r#"{"accepted":false,"message":"host call refused"}"#;
    let module = PolicyModule::from_bytes(&guest(Validate::Capability(answer))).unwrap();
    let resp = module.evaluate(&json!({}), &request()).unwrap();
    assert_eq!(resp["allowed"], false);
    assert_eq!(resp["status"], json!({"message": "host call refused"}));
}

#[test]
fn not_a_module_is_an_error() {
    assert!(PolicyModule::from_bytes(b"definitely not wasm").is_err());
}
