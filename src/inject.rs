//! Adds the sidecar template to a Pod.
//!
//! The Pod is edited as raw JSON, never round-tripped through `k8s_openapi::Pod`: a round trip
//! would drop fields newer than the compiled-in Kubernetes version and reorder others. Every value
//! of the submitted Pod is kept where it was; only the injected parts are added, so the mutated Pod
//! minus those parts is the submitted Pod (the JSONPatch the policy server derives shows only them).
//!
//! Where things go:
//! - `spec.initContainers`: the template's init containers, then (with `nativeSidecars`) the
//!   sidecar containers with `restartPolicy: Always`, then the Pod's own, which so have the network.
//! - `spec.containers`: the sidecar containers after the Pod's, or before them with
//!   `holdApplicationUntilProxyStarts`.
//! - `spec.volumes`, `spec.imagePullSecrets`: appended, except names the Pod already uses.
//! - labels and annotations: added, except keys the Pod already has.
//! - annotation `sidecar.istio.io/status`: what was injected and the template's revision.
//!
//! A Pod container named like a template container customizes it (as in Istio): the template
//! container is used, overlaid with the Pod's fields; objects merge field by field, `env`,
//! `volumeMounts` and `ports` merge by `name`, `mountPath` and `containerPort`, the Pod winning
//! each time, and a `null` removes the template's field. The Pod's copy leaves its old place.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{RequestError, json_type};
use crate::pod::{OBJECT_PATH, as_object};
use crate::settings::{STATUS_KEY, Settings, Template};
use crate::template::Renderer;

/// Container fields that hold lists merged entry by entry, with the field identifying an entry.
const KEYED_LISTS: [(&str, &str); 3] = [
    ("env", "name"),
    ("volumeMounts", "mountPath"),
    ("ports", "containerPort"),
];

/// Returns `pod` with the sidecar injected. The decision must have been taken before: this
/// function injects unconditionally.
pub fn inject(mut pod: Value, settings: &Settings, namespace: &str) -> Result<Value, RequestError> {
    let template = Rendered::new(&settings.template, &pod, namespace)?;
    let object = pod
        .as_object_mut()
        .ok_or_else(|| RequestError::field(OBJECT_PATH, "expected an object"))?;
    let spec = match object.get_mut("spec") {
        Some(Value::Object(spec)) => spec,
        Some(other) => {
            return Err(RequestError::expected(
                format!("{OBJECT_PATH}.spec"),
                "an object",
                other,
            ));
        }
        None => {
            return Err(RequestError::field(
                format!("{OBJECT_PATH}.spec"),
                "missing",
            ));
        }
    };

    let mut containers = take_list(spec, "containers")?;
    let mut init_containers = take_list(spec, "initContainers")?;
    check_containers(&containers, "containers")?;
    check_containers(&init_containers, "initContainers")?;
    let mut customize = |container: Value| {
        let name = container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match take_named(&mut containers, name).or_else(|| take_named(&mut init_containers, name)) {
            Some(Value::Object(own)) => merge_container(container, own),
            _ => container,
        }
    };
    let mut sidecars: Vec<Value> = template
        .containers
        .into_iter()
        .map(&mut customize)
        .collect();
    let template_inits: Vec<Value> = template
        .init_containers
        .into_iter()
        .map(&mut customize)
        .collect();

    let mut status = Status::default();
    status.init_containers = names(&template_inits);
    let mut new_inits = template_inits;
    if settings.native_sidecars {
        for sidecar in &mut sidecars {
            if let Value::Object(sidecar) = sidecar {
                sidecar
                    .entry("restartPolicy")
                    .or_insert_with(|| json!("Always"));
            }
        }
        status.init_containers.extend(names(&sidecars));
        new_inits.append(&mut sidecars);
    } else {
        status.containers = names(&sidecars);
    }
    new_inits.append(&mut init_containers);
    let containers = if settings.hold_application_until_proxy_starts {
        sidecars.append(&mut containers);
        sidecars
    } else {
        containers.append(&mut sidecars);
        containers
    };
    put_list(spec, "containers", containers);
    put_list(spec, "initContainers", new_inits);
    status.volumes = append_new_names(spec, "volumes", template.volumes)?;
    status.image_pull_secrets =
        append_new_names(spec, "imagePullSecrets", template.image_pull_secrets)?;

    let metadata = object.entry("metadata").or_insert_with(|| json!({}));
    let metadata = metadata.as_object_mut().ok_or_else(|| {
        RequestError::field(format!("{OBJECT_PATH}.metadata"), "expected an object")
    })?;
    add_missing_keys(metadata, "labels", template.labels)?;
    let mut annotations = template.annotations;
    annotations.insert(
        STATUS_KEY.to_string(),
        Value::String(status.render(settings)),
    );
    add_missing_keys(metadata, "annotations", annotations)?;
    Ok(pod)
}

/// The template with its strings rendered for one Pod.
struct Rendered {
    containers: Vec<Value>,
    init_containers: Vec<Value>,
    volumes: Vec<Value>,
    image_pull_secrets: Vec<Value>,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
}

impl Rendered {
    fn new(template: &Template, pod: &Value, namespace: &str) -> Result<Self, RequestError> {
        let mut renderer = Renderer::new(pod, namespace);
        let mut list = |items: &[Value], name: &str| {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| renderer.render(item, &format!("template.{name}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        let containers = list(&template.containers, "containers");
        let init_containers = list(&template.init_containers, "initContainers");
        let volumes = list(&template.volumes, "volumes");
        let image_pull_secrets = list(&template.image_pull_secrets, "imagePullSecrets");
        let mut map = |map: &Map<String, Value>, name: &str| {
            map.iter()
                .map(|(key, value)| {
                    Ok((
                        key.clone(),
                        renderer.render(value, &format!("template.{name}.{key}"))?,
                    ))
                })
                .collect::<Result<Map<_, _>, _>>()
        };
        let labels = map(&template.labels, "labels");
        let annotations = map(&template.annotations, "annotations");
        let rendered = || -> Result<Self, crate::error::RenderError> {
            Ok(Self {
                containers: containers?,
                init_containers: init_containers?,
                volumes: volumes?,
                image_pull_secrets: image_pull_secrets?,
                labels: labels?,
                annotations: annotations?,
            })
        };
        rendered().map_err(RequestError::Render)
    }
}

/// What the status annotation records.
#[derive(Default)]
struct Status {
    init_containers: Vec<String>,
    containers: Vec<String>,
    volumes: Vec<String>,
    image_pull_secrets: Vec<String>,
}

impl Status {
    fn render(&self, settings: &Settings) -> String {
        json!({
            "initContainers": self.init_containers,
            "containers": self.containers,
            "volumes": self.volumes,
            "imagePullSecrets": self.image_pull_secrets,
            "revision": revision(settings),
        })
        .to_string()
    }
}

/// A short hash of everything that shapes the injection, to tell which template a Pod got.
pub fn revision(settings: &Settings) -> String {
    let mut hasher = Sha256::new();
    // Serializing a Template cannot fail: it holds only JSON values.
    hasher.update(serde_json::to_vec(&settings.template).unwrap_or_default());
    hasher.update([
        u8::from(settings.native_sidecars),
        u8::from(settings.hold_application_until_proxy_starts),
    ]);
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Takes the list at `spec[key]` out, leaving its slot in place; absent or null is empty.
fn take_list(spec: &mut Map<String, Value>, key: &str) -> Result<Vec<Value>, RequestError> {
    match spec.get_mut(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(std::mem::take(items)),
        Some(other) => Err(RequestError::expected(
            format!("{OBJECT_PATH}.spec.{key}"),
            "an array",
            other,
        )),
    }
}

/// Puts a list back into its slot, or at the end of `spec` when it was absent and is not empty.
fn put_list(spec: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    match spec.get_mut(key) {
        Some(slot) => *slot = Value::Array(items),
        None if !items.is_empty() => {
            spec.insert(key.to_string(), Value::Array(items));
        }
        None => {}
    }
}

/// Every container must be an object with a name, for customization to find it.
fn check_containers(containers: &[Value], list: &str) -> Result<(), RequestError> {
    for (i, container) in containers.iter().enumerate() {
        let at = format!("{OBJECT_PATH}.spec.{list}[{i}]");
        match as_object(container, &at)?.get("name") {
            Some(Value::String(_)) => {}
            None | Some(Value::Null) => {
                return Err(RequestError::field(format!("{at}.name"), "missing"));
            }
            Some(other) => {
                return Err(RequestError::expected(
                    format!("{at}.name"),
                    "a string",
                    other,
                ));
            }
        }
    }
    Ok(())
}

fn take_named(containers: &mut Vec<Value>, name: &str) -> Option<Value> {
    let index = containers
        .iter()
        .position(|c| c.get("name").and_then(Value::as_str) == Some(name))?;
    Some(containers.remove(index))
}

fn names(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| item.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The template container overlaid with the Pod's own container of the same name.
fn merge_container(template: Value, own: Map<String, Value>) -> Value {
    let Value::Object(mut merged) = template else {
        return template;
    };
    for (key, value) in own {
        match KEYED_LISTS.iter().find(|(list, _)| *list == key) {
            Some((_, id)) => merge_keyed_list(&mut merged, key, value, id),
            None => merge_field(&mut merged, key, value),
        }
    }
    Value::Object(merged)
}

fn merge_field(target: &mut Map<String, Value>, key: String, value: Value) {
    match (target.get_mut(&key), value) {
        (_, Value::Null) => {
            target.shift_remove(&key);
        }
        (Some(Value::Object(existing)), Value::Object(overlay)) => {
            for (key, value) in overlay {
                merge_field(existing, key, value);
            }
        }
        (Some(slot), value) => *slot = value,
        (None, value) => {
            target.insert(key, value);
        }
    }
}

/// Entries of the Pod's list replace the template's entry with the same id; others are appended.
fn merge_keyed_list(target: &mut Map<String, Value>, key: String, value: Value, id: &str) {
    match (target.get_mut(&key), value) {
        (Some(Value::Array(existing)), Value::Array(overlay)) => {
            for entry in overlay {
                let slot = entry
                    .get(id)
                    .and_then(|wanted| existing.iter_mut().find(|e| e.get(id) == Some(wanted)));
                match slot {
                    Some(slot) => *slot = entry,
                    None => existing.push(entry),
                }
            }
        }
        (_, value) => merge_field(target, key, value),
    }
}

/// Appends the entries whose name the Pod's list at `spec[key]` lacks; returns their names.
fn append_new_names(
    spec: &mut Map<String, Value>,
    key: &str,
    additions: Vec<Value>,
) -> Result<Vec<String>, RequestError> {
    if additions.is_empty() {
        return Ok(Vec::new());
    }
    let mut list = take_list(spec, key)?;
    let mut added = Vec::new();
    for addition in additions {
        let Some(name) = addition.get("name").and_then(Value::as_str) else {
            continue;
        };
        if list
            .iter()
            .any(|item| item.get("name").and_then(Value::as_str) == Some(name))
        {
            continue;
        }
        added.push(name.to_string());
        list.push(addition);
    }
    put_list(spec, key, list);
    Ok(added)
}

/// Adds each key of `additions` that `metadata[field]` lacks.
fn add_missing_keys(
    metadata: &mut Map<String, Value>,
    field: &str,
    additions: Map<String, Value>,
) -> Result<(), RequestError> {
    if additions.is_empty() {
        return Ok(());
    }
    let map = metadata.entry(field).or_insert_with(|| json!({}));
    if map.is_null() {
        *map = json!({});
    }
    let Value::Object(map) = map else {
        return Err(RequestError::field(
            format!("{OBJECT_PATH}.metadata.{field}"),
            format!("expected an object, got {}", json_type(map)),
        ));
    };
    for (key, value) in additions {
        map.entry(key).or_insert(value);
    }
    Ok(())
}
