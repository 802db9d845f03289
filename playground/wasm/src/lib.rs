//! The playground's one entry point: the sidecar-injector library's own decision and injection
//! (`sidecar_injector::explain`), as `sidecar-injector check` and `inject` run them, for the
//! browser through wasm-bindgen.
//!
//! [`evaluate`] takes the texts a person typed and returns one JSON document: every problem is a
//! value in it (`errors`, or an object's `error`), with the message the policy or the CLI gives
//! and where it points (input, document, field path, line). Nothing here panics on input.

use serde_json::{Map, Value, json};
use sidecar_injector::error::path_within;
use sidecar_injector::explain::{self, ObjectError, Report, SEED_TABLE};
use sidecar_injector::manifest::{self, Document, ManifestError, PolicyInputError};
use sidecar_injector::scope::{self, Namespaces, Policy, PolicyError, Scope};
use sidecar_injector::workload::objects_mut;
use wasm_bindgen::prelude::*;

// A panic would be a bug: the module traps (panic = "abort"), and the page's wrapper turns the
// trap into an error value with this message, then starts a fresh instance.
#[wasm_bindgen(
    inline_js = "export function record_panic(message) { globalThis.sidecarInjectorPanic = message; }"
)]
extern "C" {
    fn record_panic(message: &str);
}

static PANIC_HOOK: std::sync::Once = std::sync::Once::new();

/// What the page reads when even the result could not be written out (never expected).
const UNWRITABLE: &str = r#"{"errors":[{"input":"internal","message":"the result could not be written as JSON"}],"policy":null,"objects":[],"skipped":[],"output":"","seedTable":[]}"#;

/// Evaluates the manifests against the policy, as `sidecar-injector inject --settings POLICY
/// --namespace NAMESPACE --namespace-labels LABELS` does, and returns the result as JSON text:
///
/// - `errors`: inputs that cannot be used, each `{input, message, path?, line?, column?}`
///   (`input` is `policy`, `manifest`, `namespace` or `namespaceLabels`); nothing is evaluated
///   then.
/// - `policy`: `{kind, warnings, namespaceSelector, objectSelector}`.
/// - `objects`: one per Pod or workload, with the verdict, the reason, the truth-table row, the
///   policy server's verdict, hints, the object before and after as YAML, and the JSONPatch;
///   or `{error}` for an object that cannot be evaluated.
/// - `seedTable`: the seed truth table's rows, each `[namespaceSelector matches, policy, Pod
///   override, injected?]`, which an object's `row.seedRow` (from 1) points into.
/// - `skipped`: objects that hold no Pod; `output`: the whole stream with the sidecar injected,
///   empty when an object cannot be evaluated (as `inject`, which then writes nothing).
///
/// `policy` is the policy's settings or its ClusterAdmissionPolicy / AdmissionPolicy (YAML or
/// JSON); `manifests` a stream of Pods, workloads, Lists and Namespaces; `namespace` the
/// namespace of objects that name none; `namespace_labels` its labels, as YAML or JSON
/// (`key: value`) or as `kubectl get namespace --show-labels` prints them (`key=value,...`).
#[wasm_bindgen]
pub fn evaluate(policy: &str, manifests: &str, namespace: &str, namespace_labels: &str) -> String {
    PANIC_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| record_panic(&info.to_string())));
    });
    serde_json::to_string(&evaluate_json(
        policy,
        manifests,
        namespace,
        namespace_labels,
    ))
    .unwrap_or_else(|_| UNWRITABLE.to_string())
}

fn evaluate_json(
    policy_text: &str,
    manifests: &str,
    namespace: &str,
    namespace_labels: &str,
) -> Value {
    let namespace = namespace.trim();
    let mut errors = Vec::new();
    let policy = manifest::read_policy(policy_text)
        .map_err(|error| errors.push(policy_error(&error)))
        .ok();
    let documents = manifest::read_stream(manifests)
        .map_err(|error| errors.push(stream_error("manifest", &error)))
        .ok();
    let labels = if namespace.is_empty() {
        errors.push(json!({
            "input": "namespace",
            "message": "namespace: expected the name of the namespace the objects are created in",
        }));
        None
    } else {
        read_labels(namespace_labels)
            .map_err(|error| errors.push(error))
            .ok()
    };
    let policy_json = policy.as_ref().map(describe_policy);
    let (Some(policy), Some(mut documents), Some(labels)) = (policy, documents, labels) else {
        return json!({"errors": errors, "policy": policy_json, "objects": [], "skipped": [], "output": "", "seedTable": SEED_TABLE});
    };

    // As the CLI: Namespace manifests give labels, and the given labels win for `namespace`.
    let mut namespaces = Namespaces::default();
    for value in documents.iter().filter_map(|d| d.value.as_ref()) {
        namespaces.insert_manifests(value);
    }
    namespaces.insert(namespace, labels);

    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    let mut output = String::new();
    let mut line = 1;
    for (index, document) in documents.iter_mut().enumerate() {
        let original = document.original();
        let place = Place {
            document: index + 1,
            line,
        };
        line += original.matches('\n').count();
        let mut changed = false;
        if let Some(value) = &mut document.value {
            let paths = object_paths(value);
            for (at, object) in objects_mut(value).into_iter().enumerate() {
                let path = paths.get(at).map_or("", String::as_str);
                let before = object.clone();
                match explain::inject_object(object, &policy, &namespaces, namespace) {
                    Ok(Some(report)) => {
                        changed |= report.injected;
                        objects.push(describe_report(&report, &before, object, &place, path));
                    }
                    Ok(None) => skipped.push(json!({
                        "document": place.document,
                        "line": place.line,
                        "path": path,
                        "kind": before.get("kind").and_then(Value::as_str).unwrap_or_default(),
                        "name": before.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default(),
                    })),
                    Err(error) => objects.push(json!({
                        "document": place.document,
                        "line": place.line,
                        "path": path,
                        "name": error.object,
                        "error": object_error(&error, path),
                    })),
                }
            }
        }
        let written = if changed {
            rewritten(document)
        } else {
            original
        };
        output.push_str(&written);
    }
    if objects.iter().any(|object| object.get("error").is_some()) {
        // Half-injected manifests would be worse than none.
        output.clear();
    }
    json!({
        "errors": errors,
        "policy": policy_json,
        "objects": objects,
        "skipped": skipped,
        "output": output,
        "seedTable": SEED_TABLE,
    })
}

/// Where an object is: its document (from 1) and the document's first line in the stream.
struct Place {
    document: usize,
    line: usize,
}

fn rewritten(document: &Document) -> String {
    document
        .rewritten()
        .unwrap_or_else(|error| format!("# this document could not be written: {error}\n"))
}

fn describe_policy(policy: &Policy) -> Value {
    let (kind, namespace_selector, object_selector, namespace) = match &policy.scope {
        Scope::Unknown => ("settings", None, None, None),
        Scope::Cluster {
            namespace_selector,
            object_selector,
        } => (
            "ClusterAdmissionPolicy",
            Some(
                namespace_selector
                    .as_ref()
                    .map_or_else(|| "(every namespace)".to_string(), ToString::to_string),
            ),
            object_selector.as_ref(),
            None,
        ),
        Scope::Namespaced {
            namespace,
            object_selector,
        } => (
            "AdmissionPolicy",
            None,
            object_selector.as_ref(),
            Some(namespace),
        ),
    };
    json!({
        "kind": kind,
        "policy": policy.settings.policy.to_string(),
        "namespace": namespace,
        "namespaceSelector": namespace_selector,
        "objectSelector": object_selector.map(ToString::to_string),
        "warnings": policy.warnings,
    })
}

/// The library's report as the CLI's `check --output json` gives it (with its verdict, the
/// policy server's and the seed table's row), and what the page adds: where the object is, its
/// title, the object before and after injection as YAML, and the JSONPatch between them.
fn describe_report(
    report: &Report,
    before: &Value,
    after: &Value,
    place: &Place,
    path: &str,
) -> Value {
    let patch = serde_json::to_value(json_patch::diff(before, after)).unwrap_or_default();
    let mut json = report.to_json();
    if let Some(fields) = json.as_object_mut() {
        fields.insert("document".into(), place.document.into());
        fields.insert("line".into(), place.line.into());
        fields.insert("path".into(), path.into());
        fields.insert("title".into(), report.object.to_string().into());
        fields.insert("before".into(), yaml(before).into());
        fields.insert("after".into(), yaml(after).into());
        fields.insert("patch".into(), patch);
    }
    json
}

fn yaml(value: &Value) -> String {
    manifest::to_yaml(value)
        .unwrap_or_else(|error| format!("# the object could not be written as YAML: {error}\n"))
}

/// The path of each object `objects_mut` opens in a document, in the same order: empty for the
/// document itself, `items[N]` (and deeper) for the items of a List.
fn object_paths(document: &Value) -> Vec<String> {
    let is_list = document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"));
    match document.get("items").and_then(Value::as_array) {
        Some(items) if is_list => items
            .iter()
            .enumerate()
            .flat_map(|(index, item)| {
                object_paths(item).into_iter().map(move |path| {
                    if path.is_empty() {
                        format!("items[{index}]")
                    } else {
                        format!("items[{index}].{path}")
                    }
                })
            })
            .collect(),
        _ => vec![String::new()],
    }
}

fn policy_error(error: &PolicyInputError) -> Value {
    match error {
        PolicyInputError::Unreadable(error) => stream_error("policy", error),
        PolicyInputError::Invalid(invalid) => {
            let path = match invalid {
                PolicyError::Settings(error) => &error.path,
                PolicyError::Manifest { error, .. } => &error.path,
            };
            json!({"input": "policy", "message": error.to_string(), "path": path})
        }
        PolicyInputError::Empty | PolicyInputError::SeveralDocuments => {
            json!({"input": "policy", "message": error.to_string()})
        }
    }
}

/// A YAML or JSON error, with the line and column its message gives.
fn stream_error(input: &str, error: &ManifestError) -> Value {
    let message = error.to_string();
    let (line, column) = line_and_column(&message);
    json!({"input": input, "message": message, "line": line, "column": column})
}

/// The first `line N` and `column M` in a parser's message.
fn line_and_column(message: &str) -> (Option<usize>, Option<usize>) {
    let number_after = |word: &str| {
        message.match_indices(word).find_map(|(at, _)| {
            let rest = message.get(at + word.len()..)?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<usize>().ok()
        })
    };
    (number_after("line "), number_after("column "))
}

/// Where an object's error points: the field of the policy's template it is about (a template
/// string that failed to render for this Pod, a value one gave that its field cannot hold), or
/// the object's field that its message starts with.
fn object_error(error: &ObjectError, object_path: &str) -> Value {
    let message = &error.message;
    if let Some(path) = &error.settings_path {
        return json!({"message": message, "input": "policy", "settingsPath": path});
    }
    let path = leading_path(message).map(|path| path_within(object_path, &path));
    json!({"message": message, "input": "manifest", "path": path})
}

/// `a.b[0].c` in `a.b[0].c: problem`; `None` when the message does not start with a path.
fn leading_path(message: &str) -> Option<String> {
    let (path, _) = message.split_once(": ")?;
    (!path.is_empty() && !path.contains(char::is_whitespace)).then(|| path.to_string())
}

/// The namespace's labels: a YAML/JSON map of strings, or `key=value,key=value`.
fn read_labels(text: &str) -> Result<Map<String, Value>, Value> {
    let documents =
        manifest::read_stream(text).map_err(|error| stream_error("namespaceLabels", &error))?;
    let mut values = documents.into_iter().filter_map(|d| d.value);
    let failed = |message: String| json!({"input": "namespaceLabels", "message": message});
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(Map::new()),
        (Some(value), None) => value,
        (Some(_), Some(_)) => {
            return Err(failed(
                "namespace labels: several documents; expected one map of labels".into(),
            ));
        }
    };
    match value {
        Value::Object(labels) => {
            for (key, value) in &labels {
                if !value.is_string() {
                    return Err(json!({
                        "input": "namespaceLabels",
                        "path": key,
                        "message": format!(
                            "namespace labels: {key}: expected a string, got {}; label values are strings: quote it, as in \"{}\"",
                            type_name(value),
                            value.to_string().trim_matches('"')
                        ),
                    }));
                }
            }
            Ok(labels)
        }
        // `key=value,...`, as kubectl's --show-labels prints them and the CLI reads them.
        Value::String(pairs) => scope::parse_label_pairs(&pairs)
            .map_err(|problem| failed(format!("namespace labels: {problem}"))),
        other => Err(failed(format!(
            "namespace labels: expected a map such as `istio-injection: enabled`, or key=value pairs separated by commas, got {}",
            type_name(&other)
        ))),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}
