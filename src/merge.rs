//! How two descriptions of one container, volume or map become one: a Pod's own container that
//! customizes a template's (as in Istio), a later template's that customizes an earlier one's,
//! and the labels and annotations added to a Pod's.
//!
//! A container is overlaid field by field: objects merge recursively, `env`, `volumeMounts` and
//! `ports` merge entry by entry (by `name`, `mountPath` and `containerPort`), the overlay winning
//! each time, and a `null` in the overlay removes the field.

use serde_json::{Map, Value};

/// Container fields that hold lists merged entry by entry, with the field identifying an entry.
const KEYED_LISTS: [(&str, &str); 3] = [
    ("env", "name"),
    ("volumeMounts", "mountPath"),
    ("ports", "containerPort"),
];

/// The image a Pod's own container gives to keep the template's: Kubernetes requires an image in
/// every container, so a Pod that customizes only other fields of a sidecar writes this (Istio's
/// gateway charts do).
pub const AUTO_IMAGE: &str = "auto";

/// A Pod's own container, as it customizes the template's of its name: without `image: auto`,
/// which keeps the template's image.
pub fn customization(mut own: Map<String, Value>) -> Map<String, Value> {
    if own.get("image").and_then(Value::as_str) == Some(AUTO_IMAGE) {
        own.shift_remove("image");
    }
    own
}

/// `base` overlaid with `overlay`, both containers.
pub fn container(base: Value, overlay: Map<String, Value>) -> Value {
    let Value::Object(mut merged) = base else {
        return base;
    };
    for (key, value) in overlay {
        match KEYED_LISTS.iter().find(|(list, _)| *list == key) {
            Some((_, id)) => keyed_list(&mut merged, key, value, id),
            None => field(&mut merged, key, value),
        }
    }
    Value::Object(merged)
}

fn field(target: &mut Map<String, Value>, key: String, value: Value) {
    match (target.get_mut(&key), value) {
        (_, Value::Null) => {
            target.shift_remove(&key);
        }
        (Some(Value::Object(existing)), Value::Object(overlay)) => {
            for (key, value) in overlay {
                field(existing, key, value);
            }
        }
        (Some(slot), value) => *slot = value,
        (None, value) => {
            target.insert(key, value);
        }
    }
}

/// Entries of the overlay's list replace the base's entry with the same id; others are appended.
fn keyed_list(target: &mut Map<String, Value>, key: String, value: Value, id: &str) {
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
        (_, value) => field(target, key, value),
    }
}

/// Adds to `map` the `additions` whose keys it lacks; returns the keys added. What a Pod has is
/// never replaced.
pub fn missing_keys(map: &mut Map<String, Value>, additions: Map<String, Value>) -> Vec<String> {
    let mut added = Vec::new();
    for (key, value) in additions {
        if !map.contains_key(&key) {
            added.push(key.clone());
            map.insert(key, value);
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(base: Value, overlay: Value) -> Value {
        let Value::Object(overlay) = overlay else {
            panic!("an object")
        };
        container(base, overlay)
    }

    #[test]
    fn objects_merge_field_by_field_and_null_removes() {
        assert_eq!(
            merged(
                json!({"image": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}, "tty": true}),
                json!({"resources": {"limits": {"cpu": "2"}}, "tty": null, "stdin": true})
            ),
            json!({"image": "a", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "1"}}, "stdin": true})
        );
    }

    #[test]
    fn keyed_lists_merge_entry_by_entry() {
        assert_eq!(
            merged(
                json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "volumeMounts": [{"mountPath": "/a", "name": "a"}]}),
                json!({"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                    "ports": [{"containerPort": 80, "name": "web"}],
                    "volumeMounts": [{"mountPath": "/b", "name": "b"}]})
            ),
            json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                "ports": [{"containerPort": 80, "name": "web"}],
                "volumeMounts": [{"mountPath": "/a", "name": "a"}, {"mountPath": "/b", "name": "b"}]})
        );
        // A list that is not a list in the base is replaced whole; null removes it.
        assert_eq!(
            merged(json!({"env": null}), json!({"env": [{"name": "A"}]})),
            json!({"env": [{"name": "A"}]})
        );
        assert_eq!(
            merged(json!({"env": [{"name": "A"}]}), json!({"env": null})),
            json!({})
        );
    }

    #[test]
    fn missing_keys_never_replace() {
        let mut map = json!({"a": "pod"}).as_object().unwrap().clone();
        let added = missing_keys(
            &mut map,
            json!({"a": "template", "b": "template"})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(added, ["b"]);
        assert_eq!(Value::Object(map), json!({"a": "pod", "b": "template"}));
    }
}
