//! Read access to the fields of a Pod that the decision looks at.
//!
//! The Pod is never parsed whole for the decision: [`PodHead`] reads its metadata and
//! `spec.hostNetwork` from its [`Text`], opening only those levels. Their types are checked here,
//! once, with an error that names the field when a request is malformed.

use serde_json::{Map, Value};

use crate::error::RequestError;
use crate::json::{Kind, Part, Text};

/// The fields of a Pod's metadata that are read; the others are left as text.
const METADATA_READ: [&str; 5] = ["name", "generateName", "namespace", "labels", "annotations"];

/// Where the Pod sits in the admission request, for error messages.
pub const OBJECT_PATH: &str = "request.object";

/// The fields of a Pod the decision reads, from its JSON text.
#[derive(Debug, Clone)]
pub struct PodHead {
    /// `{"metadata": …, "spec": {"hostNetwork": …}}`, or the `spec` as it is when it is not an
    /// object (which [`PodView::read`] refuses, naming it).
    fields: Value,
}

impl PodHead {
    pub fn read(pod: &Text) -> Result<Self, RequestError> {
        let root = pod.root();
        if root.kind() != Kind::Object {
            return Err(RequestError::field(
                OBJECT_PATH,
                format!("expected an object, got {}", root.kind().described()),
            ));
        }
        // The path is written only for an error.
        let parse = |value: Part, path: &dyn Fn() -> String| {
            value.parse().map_err(|_| {
                RequestError::field(
                    format!("{OBJECT_PATH}.{}", path()),
                    "nested deeper than the JSON parser goes (128 levels)",
                )
            })
        };
        let metadata = match root.get("metadata") {
            // What the decision, the choice of templates and the injection read of it; the rest
            // (owner references, managed fields…) stays text, and is written back as it came.
            Some(metadata) if metadata.kind() == Kind::Object => {
                let mut fields = Map::new();
                for key in METADATA_READ {
                    if let Some(value) = metadata.get(key) {
                        let path = || format!("metadata.{key}");
                        fields.insert(key.to_string(), parse(value, &path)?);
                    }
                }
                Value::Object(fields)
            }
            Some(other) => parse(other, &|| "metadata".to_string())?,
            None => Value::Null,
        };
        let spec = match root.get("spec") {
            None => Value::Null,
            Some(spec) if spec.kind() == Kind::Object => {
                let host_network = match spec.get("hostNetwork") {
                    Some(value) => parse(value, &|| "spec.hostNetwork".to_string())?,
                    None => Value::Null,
                };
                Value::Object(Map::from_iter([("hostNetwork".to_string(), host_network)]))
            }
            Some(other) => parse(other, &|| "spec".to_string())?,
        };
        // Moved in, not through json!, which would copy them by serializing each.
        Ok(Self {
            fields: Value::Object(Map::from_iter([
                ("metadata".to_string(), metadata),
                ("spec".to_string(), spec),
            ])),
        })
    }

    /// The decision's view, with the types checked.
    pub fn view(&self) -> Result<PodView<'_>, RequestError> {
        PodView::read(&self.fields)
    }

    /// A field of the Pod's metadata, as read.
    fn metadata(&self, key: &str) -> Option<&Value> {
        self.fields.get("metadata")?.get(key)
    }

    /// The Pod's name, or its `generateName` prefix while the API server has not named it yet.
    pub fn name(&self) -> &str {
        let metadata = |key| {
            self.metadata(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        metadata("name")
            .or_else(|| metadata("generateName"))
            .unwrap_or_default()
    }

    /// The Pod's annotations, when it has them as an object.
    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.metadata("annotations").and_then(Value::as_object)
    }

    /// The Pod's labels and annotations, as read: what injection adds to.
    pub fn into_labels_and_annotations(self) -> [Option<Value>; 2] {
        let Value::Object(mut fields) = self.fields else {
            return [None, None];
        };
        let Some(Value::Object(mut metadata)) = fields.remove("metadata") else {
            return [None, None];
        };
        [metadata.remove("labels"), metadata.remove("annotations")]
    }

    /// The Pod's own `metadata.namespace`, which a Pod made by a controller does not have yet.
    pub fn namespace(&self) -> &str {
        self.metadata("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// The parts of a Pod the decision needs, with their types checked.
#[derive(Debug, Clone, Copy)]
pub struct PodView<'a> {
    pub labels: Option<&'a Map<String, Value>>,
    pub annotations: Option<&'a Map<String, Value>>,
    pub host_network: bool,
}

impl<'a> PodView<'a> {
    pub fn read(pod: &'a Value) -> Result<Self, RequestError> {
        let object = as_object(pod, OBJECT_PATH)?;
        let metadata = optional_object(object, "metadata", OBJECT_PATH)?;
        let at = || format!("{OBJECT_PATH}.metadata");
        let labels = match metadata {
            Some(metadata) => string_map(metadata, "labels", &at())?,
            None => None,
        };
        let annotations = match metadata {
            Some(metadata) => string_map(metadata, "annotations", &at())?,
            None => None,
        };
        let spec = optional_object(object, "spec", OBJECT_PATH)?;
        let host_network = match spec.and_then(|spec| spec.get("hostNetwork")) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(value)) => *value,
            Some(other) => {
                return Err(RequestError::expected(
                    format!("{OBJECT_PATH}.spec.hostNetwork"),
                    "a boolean",
                    other,
                ));
            }
        };
        Ok(Self {
            labels,
            annotations,
            host_network,
        })
    }

    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.labels?.get(key).and_then(Value::as_str)
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.annotations?.get(key).and_then(Value::as_str)
    }
}

pub fn as_object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, RequestError> {
    value
        .as_object()
        .ok_or_else(|| RequestError::expected(path, "an object", value))
}

/// `object[key]` when it is an object; `None` when absent or null.
pub fn optional_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, RequestError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(RequestError::expected(
            format!("{path}.{key}"),
            "an object",
            other,
        )),
    }
}

/// `object[key]` when it is a map of strings (labels, annotations); `None` when absent or null.
fn string_map<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, RequestError> {
    let Some(map) = optional_object(object, key, path)? else {
        return Ok(None);
    };
    match map.iter().find(|(_, value)| !value.is_string()) {
        Some((name, value)) => Err(RequestError::expected(
            format!("{path}.{key}.{name}"),
            "a string",
            value,
        )),
        None => Ok(Some(map)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[test]
    fn reads_the_decision_fields() {
        let pod = json!({
            "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": {"hostNetwork": true}
        });
        let view = PodView::read(&pod).unwrap();
        assert_eq!(view.label("app"), Some("web"));
        assert_eq!(view.annotation("a"), Some("b"));
        assert_eq!(view.label("missing"), None);
        assert!(view.host_network);
    }

    #[test]
    fn absent_and_null_fields_are_empty() {
        for pod in [
            json!({}),
            json!({"metadata": null, "spec": null}),
            json!({"metadata": {"labels": null}}),
        ] {
            let view = PodView::read(&pod).unwrap();
            assert!(view.labels.is_none() && view.annotations.is_none() && !view.host_network);
        }
    }

    #[rstest]
    #[case::not_object(json!("pod"), "invalid admission request: request.object: expected an object, got a string")]
    #[case::array(json!([]), "invalid admission request: request.object: expected an object, got an array")]
    #[case::metadata(json!({"metadata": 1}), "invalid admission request: request.object.metadata: expected an object, got a number")]
    #[case::labels(json!({"metadata": {"labels": []}}), "invalid admission request: request.object.metadata.labels: expected an object, got an array")]
    #[case::label_value(json!({"metadata": {"labels": {"app": 1}}}), "invalid admission request: request.object.metadata.labels.app: expected a string, got a number")]
    #[case::annotation_value(json!({"metadata": {"annotations": {"a": null}}}), "invalid admission request: request.object.metadata.annotations.a: expected a string, got null")]
    #[case::spec(json!({"spec": "x"}), "invalid admission request: request.object.spec: expected an object, got a string")]
    #[case::host_network(json!({"spec": {"hostNetwork": "true"}}), "invalid admission request: request.object.spec.hostNetwork: expected a boolean, got a string")]
    fn malformed(#[case] pod: Value, #[case] message: &str) {
        assert_eq!(PodView::read(&pod).unwrap_err().to_string(), message);
    }
}
