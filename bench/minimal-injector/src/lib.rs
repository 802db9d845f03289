//! The cheapest possible injector, built like sidecar-injector: the request parsed with the SDK,
//! the Pod as untyped JSON, the parts of an already rendered template appended to it, the mutated
//! Pod answered. No decision, no templating, no status annotation. Every injector pays at least
//! this, and the policy server then parses the mutated Pod and diffs it into a JSONPatch; the
//! benchmarks measure sidecar-injector's injections against it.
//!
//! Settings: `{"template": {"containers", "initContainers", "volumes", "imagePullSecrets",
//! "labels", "annotations"}}`, each optional, rendered for the benchmark's Pod beforehand, and
//! `holdApplicationUntilProxyStarts`, which puts the containers first, as sidecar-injector does:
//! both answer the same Pod (but for sidecar-injector's status annotation), so that the policy
//! server's work on the answer is the same for both. `probes` (container name to probe fields)
//! sets the probes sidecar-injector rewrote, as already rewritten for the benchmark's Pod.

use kubewarden_policy_sdk::wapc_guest::{CallResult, prelude::register_function};
use kubewarden_policy_sdk::{
    mutate_request, protocol_version_guest, request::ValidationRequest,
    settings::SettingsValidationResponse,
};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    template: Template,
    #[serde(default)]
    hold_application_until_proxy_starts: bool,
    #[serde(default)]
    probes: Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Template {
    #[serde(default)]
    containers: Vec<Value>,
    #[serde(default)]
    init_containers: Vec<Value>,
    #[serde(default)]
    volumes: Vec<Value>,
    #[serde(default)]
    image_pull_secrets: Vec<Value>,
    #[serde(default)]
    labels: Map<String, Value>,
    #[serde(default)]
    annotations: Map<String, Value>,
}

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function("protocol_version", protocol_version_guest);
}

fn validate(payload: &[u8]) -> CallResult {
    let request = ValidationRequest::<Settings>::new(payload)?;
    let Settings {
        template,
        hold_application_until_proxy_starts: first,
        probes,
    } = request.settings;
    let mut pod = request.request.object;
    let spec = &mut pod["spec"];
    if let Some(containers) = spec["containers"].as_array_mut() {
        for container in containers {
            let name = container["name"].as_str().unwrap_or_default();
            if let (Some(Value::Object(rewritten)), Value::Object(fields)) =
                (probes.get(name).cloned(), &mut *container)
            {
                fields.extend(rewritten);
            }
        }
    }
    if first {
        prepend(spec, "containers", template.containers);
    } else {
        append(spec, "containers", template.containers);
    }
    prepend(spec, "initContainers", template.init_containers);
    // Before the Pod's own, as sidecar-injector (and Istio) put them.
    prepend(spec, "volumes", template.volumes);
    prepend(spec, "imagePullSecrets", template.image_pull_secrets);
    let metadata = &mut pod["metadata"];
    insert(metadata, "labels", template.labels);
    insert(metadata, "annotations", template.annotations);
    mutate_request(pod)
}

// Each helper touches `parent[key]` only when it has something to add: indexing a JSON object
// with a missing key inserts a null, which would be a change of its own in the answered Pod.

fn append(parent: &mut Value, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    match &mut parent[key] {
        Value::Array(existing) => existing.extend(items),
        other => *other = Value::Array(items),
    }
}

fn prepend(parent: &mut Value, key: &str, mut items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    let list = &mut parent[key];
    if let Value::Array(existing) = list {
        items.append(existing);
    }
    *list = Value::Array(items);
}

fn insert(parent: &mut Value, key: &str, entries: Map<String, Value>) {
    if entries.is_empty() {
        return;
    }
    let map = &mut parent[key];
    if !map.is_object() {
        *map = Value::Object(Map::new());
    }
    if let Value::Object(map) = map {
        for (key, value) in entries {
            map.entry(key).or_insert(value);
        }
    }
}

fn validate_settings(_payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&SettingsValidationResponse {
        valid: true,
        message: None,
    })?)
}
