//! The status annotation `sidecar.istio.io/status`, written and read back: what injection added to
//! a Pod, the revision's name, and the hash of what it injected.
//!
//! Istio writes the names of what it injected and `revision`, its revision's name (`default`,
//! `canary`), which its tooling reads (`istioctl x injector list` counts Pods by it). This policy
//! writes the same fields with the same meaning, and its hash of what is injected
//! ([`crate::revision`]) as `hash`. Until revision names, `revision` held that hash: an annotation
//! without `hash` whose `revision` is 16 lowercase hex digits is read as one of those, with no name.
//!
//! Injection writes it ([`Status::render`], from [`crate::inject`]); taking the sidecar out again
//! ([`crate::uninject`]) and finding stale sidecars ([`crate::stale`]) read it. It is a JSON string because annotations
//! are strings. Reading is lenient about what it does not use (fields added later, by Istio or by a
//! newer version of this policy) and strict about the types of what it does use, so that nothing
//! is removed on a guess: every message names the field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::json_type;
use crate::json::write_string;
use crate::keys::STATUS_KEY;

/// What a status annotation records. Lists absent from it are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub init_containers: Vec<String>,
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub image_pull_secrets: Vec<String>,
    /// The keys of the labels the templates added (not those the Pod already had).
    pub labels: Vec<String>,
    /// The keys of the annotations the templates added, the status annotation aside.
    pub annotations: Vec<String>,
    /// The named templates applied, in order; `None` with the one `template`.
    pub templates: Option<Vec<String>>,
    /// The revision's name (`default`, `canary`); `None` when the annotation does not say, as one
    /// written before revision names does not.
    pub revision: Option<String>,
    /// The hash of what was injected ([`crate::revision`]); `None` when the annotation does not
    /// say, as Istio's does not.
    pub hash: Option<String>,
    /// Present when the application's probes were rewritten to the sidecar's status port.
    pub probes: Option<Probes>,
    /// Present when the Pod's Prometheus annotations were pointed at the agent.
    pub metrics: Option<Metrics>,
    /// The hash of the Namespace's labels and annotations ([`crate::namespace::Namespace::hash`]),
    /// when a template string read them (`ns`): what the stale report compares with the
    /// Namespace's now.
    pub namespace_hash: Option<String>,
}

/// How the Prometheus metrics merge changed the Pod ([`crate::metrics`]), to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// The injected container that serves the merged metrics.
    pub container: String,
    /// Its environment variable that received the Pod's own scrape settings; `None` when the Pod
    /// had none.
    pub env: Option<String>,
    /// The Pod's annotations the merge removed or replaced, with their values before. (The keys it
    /// added are in [`Status::annotations`].)
    pub replaced: BTreeMap<String, String>,
}

/// How the probes were rewritten, to put them back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probes {
    /// The injected container that received the original probes.
    pub container: String,
    /// The environment variable of that container that holds them.
    pub env: String,
    pub status_port: u16,
    /// The paths of the rewritten probes, as `/app-health/web/readyz`.
    pub rewritten: Vec<String>,
    /// The port name of each rewritten probe that named its port, by path.
    pub port_names: BTreeMap<String, String>,
}

/// `"key":`
fn field(out: &mut String, key: &str) {
    write_string(out, key);
    out.push(':');
}

/// `["a","b"]`
fn list(out: &mut String, names: &[String]) {
    out.push('[');
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, name);
    }
    out.push(']');
}

/// `{"a":"1","b":"2"}`, not empty.
fn string_map(out: &mut String, map: &BTreeMap<String, String>) {
    for (i, (key, value)) in map.iter().enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        field(out, key);
        write_string(out, value);
    }
    out.push('}');
}

/// A status annotation that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata.annotations.{STATUS_KEY}: {problem}")]
pub struct StatusError {
    pub problem: String,
}

fn problem(text: impl Into<String>) -> StatusError {
    StatusError {
        problem: text.into(),
    }
}

impl Status {
    /// The annotation's value, as injection writes it: the lists of names, then what is present
    /// of the named templates, the added labels and annotations, the rewritten probes, the
    /// revision's name and the hash, in that order ([`Status::parse`] reads it back).
    pub fn render(&self) -> String {
        // Written directly, not built as a value and serialized: it is written on every
        // injection. The text is what serde_json writes for the same fields in the same order.
        let mut out = String::with_capacity(256);
        let lists = [
            ("initContainers", &self.init_containers),
            ("containers", &self.containers),
            ("volumes", &self.volumes),
            ("imagePullSecrets", &self.image_pull_secrets),
        ];
        for (i, (key, names)) in lists.into_iter().enumerate() {
            out.push(if i == 0 { '{' } else { ',' });
            field(&mut out, key);
            list(&mut out, names);
        }
        if let Some(templates) = &self.templates {
            out.push(',');
            field(&mut out, "templates");
            list(&mut out, templates);
        }
        for (key, keys) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            if !keys.is_empty() {
                out.push(',');
                field(&mut out, key);
                list(&mut out, keys);
            }
        }
        if let Some(probes) = &self.probes {
            out.push_str(",\"probes\":{");
            field(&mut out, "container");
            write_string(&mut out, &probes.container);
            out.push(',');
            field(&mut out, "env");
            write_string(&mut out, &probes.env);
            out.push(',');
            field(&mut out, "statusPort");
            out.push_str(&probes.status_port.to_string());
            out.push(',');
            field(&mut out, "rewritten");
            list(&mut out, &probes.rewritten);
            if !probes.port_names.is_empty() {
                out.push(',');
                field(&mut out, "portNames");
                string_map(&mut out, &probes.port_names);
            }
            out.push('}');
        }
        if let Some(metrics) = &self.metrics {
            out.push_str(",\"metrics\":{");
            field(&mut out, "container");
            write_string(&mut out, &metrics.container);
            if let Some(env) = &metrics.env {
                out.push(',');
                field(&mut out, "env");
                write_string(&mut out, env);
            }
            if !metrics.replaced.is_empty() {
                out.push(',');
                field(&mut out, "replaced");
                string_map(&mut out, &metrics.replaced);
            }
            out.push('}');
        }
        for (key, value) in [
            ("revision", &self.revision),
            ("hash", &self.hash),
            ("namespaceHash", &self.namespace_hash),
        ] {
            if let Some(value) = value {
                out.push(',');
                field(&mut out, key);
                write_string(&mut out, value);
            }
        }
        out.push('}');
        out
    }

    /// The status annotation of `pod` (a Pod or a pod template); `None` when it has none.
    pub fn of(pod: &Value) -> Result<Option<Self>, StatusError> {
        let Some(annotations) = pod.pointer("/metadata/annotations") else {
            return Ok(None);
        };
        let Some(value) = annotations.as_object().and_then(|map| map.get(STATUS_KEY)) else {
            return Ok(None);
        };
        let Value::String(text) = value else {
            return Err(problem(format!(
                "expected a string, got {}",
                json_type(value)
            )));
        };
        Self::parse(text).map(Some)
    }

    /// Reads the annotation's value.
    pub fn parse(text: &str) -> Result<Self, StatusError> {
        let fields = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(fields)) => fields,
            Ok(other) => {
                return Err(problem(format!(
                    "expected a JSON object, got {}",
                    json_type(&other)
                )));
            }
            Err(error) => return Err(problem(format!("not valid JSON: {error}"))),
        };
        let templates = match fields.get("templates") {
            None | Some(Value::Null) => None,
            Some(_) => Some(names(&fields, "templates")?),
        };
        let (revision, hash) = match (string(&fields, "revision")?, string(&fields, "hash")?) {
            // Written before revision names: `revision` was the hash.
            (Some(old), None) if is_old_hash(&old) => (None, Some(old)),
            read => read,
        };
        let probes = match fields.get("probes") {
            None | Some(Value::Null) => None,
            Some(Value::Object(probes)) => Some(Probes::read(probes)?),
            Some(other) => {
                return Err(problem(format!(
                    "probes: expected an object, got {}",
                    json_type(other)
                )));
            }
        };
        let metrics = match fields.get("metrics") {
            None | Some(Value::Null) => None,
            Some(Value::Object(metrics)) => Some(Metrics::read(metrics)?),
            Some(other) => {
                return Err(problem(format!(
                    "metrics: expected an object, got {}",
                    json_type(other)
                )));
            }
        };
        Ok(Self {
            init_containers: names(&fields, "initContainers")?,
            containers: names(&fields, "containers")?,
            volumes: names(&fields, "volumes")?,
            image_pull_secrets: names(&fields, "imagePullSecrets")?,
            labels: names(&fields, "labels")?,
            annotations: names(&fields, "annotations")?,
            templates,
            revision,
            hash,
            namespace_hash: string(&fields, "namespaceHash")?,
            probes,
            metrics,
        })
    }
}

impl Metrics {
    fn read(fields: &Map<String, Value>) -> Result<Self, StatusError> {
        let container = match fields.get("container") {
            Some(Value::String(text)) if !text.is_empty() => text.clone(),
            Some(Value::String(_)) => return Err(problem("metrics.container: must not be empty")),
            Some(other) => {
                return Err(problem(format!(
                    "metrics.container: expected a string, got {}",
                    json_type(other)
                )));
            }
            None => return Err(problem("metrics.container: missing")),
        };
        let env = match fields.get("env") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            Some(Value::String(_)) => return Err(problem("metrics.env: must not be empty")),
            Some(other) => {
                return Err(problem(format!(
                    "metrics.env: expected a string, got {}",
                    json_type(other)
                )));
            }
        };
        Ok(Self {
            container,
            env,
            replaced: string_map_at(fields, "replaced", "metrics.replaced")?,
        })
    }
}

/// A map of strings; absent or null is empty.
fn string_map_at(
    fields: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, StatusError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, value)| match value {
                Value::String(value) => Ok((name.clone(), value.clone())),
                other => Err(problem(format!(
                    "{path}.{name}: expected a string, got {}",
                    json_type(other)
                ))),
            })
            .collect(),
        Some(other) => Err(problem(format!(
            "{path}: expected an object, got {}",
            json_type(other)
        ))),
    }
}

/// A string field; absent or null is `None`.
fn string(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, StatusError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(problem(format!(
            "{key}: expected a string, got {}",
            json_type(other)
        ))),
    }
}

/// The hash as `revision` held it before revision names: 16 lowercase hex digits.
fn is_old_hash(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Probes {
    fn read(fields: &Map<String, Value>) -> Result<Self, StatusError> {
        let text = |key: &str| match fields.get(key) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(Value::String(_)) => Err(problem(format!("probes.{key}: must not be empty"))),
            Some(other) => Err(problem(format!(
                "probes.{key}: expected a string, got {}",
                json_type(other)
            ))),
            None => Err(problem(format!("probes.{key}: missing"))),
        };
        let status_port = match fields.get("statusPort") {
            Some(port) => port
                .as_u64()
                .and_then(|port| u16::try_from(port).ok())
                .filter(|port| *port > 0)
                .ok_or_else(|| {
                    problem(format!(
                        "probes.statusPort: expected a port number from 1 to 65535, got {}",
                        shown(port)
                    ))
                })?,
            None => return Err(problem("probes.statusPort: missing")),
        };
        let port_names = string_map_at(fields, "portNames", "probes.portNames")?;
        Ok(Self {
            container: text("container")?,
            env: text("env")?,
            status_port,
            rewritten: names_at(fields, "rewritten", "probes.rewritten")?,
            port_names,
        })
    }
}

/// A list of names; absent or null is empty.
fn names(fields: &Map<String, Value>, key: &str) -> Result<Vec<String>, StatusError> {
    names_at(fields, key, key)
}

fn names_at(
    fields: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<String>, StatusError> {
    let items = match fields.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(problem(format!(
                "{path}: expected an array of strings, got {}",
                json_type(other)
            )));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(name) => Ok(name.clone()),
            other => Err(problem(format!(
                "{path}[{i}]: expected a string, got {}",
                json_type(other)
            ))),
        })
        .collect()
}

/// A number as written, anything else by its type.
fn shown(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        other => json_type(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[test]
    fn what_is_written_is_read_back() {
        let mut port_names = BTreeMap::new();
        port_names.insert("/app-health/web/readyz".to_string(), "http".to_string());
        let status = Status {
            init_containers: vec!["istio-init".into()],
            containers: vec!["istio-proxy".into()],
            volumes: vec!["istio-envoy".into()],
            image_pull_secrets: vec![],
            labels: vec!["security.istio.io/tlsMode".into()],
            annotations: vec![],
            templates: Some(vec!["sidecar".into(), "debug".into()]),
            revision: Some("canary".into()),
            hash: Some("0123456789abcdef".into()),
            probes: Some(Probes {
                container: "istio-proxy".into(),
                env: "ISTIO_KUBE_APP_PROBERS".into(),
                status_port: 15020,
                rewritten: vec!["/app-health/web/readyz".into()],
                port_names,
            }),
            metrics: Some(Metrics {
                container: "istio-proxy".into(),
                env: Some("ISTIO_PROMETHEUS_ANNOTATIONS".into()),
                replaced: BTreeMap::from([("prometheus.io/port".to_string(), "8080".to_string())]),
            }),
            namespace_hash: Some("fedcba9876543210".into()),
        };
        assert_eq!(Status::parse(&status.render()), Ok(status.clone()));
        // What serde_json writes for the same fields in the same order.
        let value: Value = serde_json::from_str(&status.render()).unwrap();
        assert_eq!(value.to_string(), status.render());
        let without_env = Status {
            metrics: Some(Metrics {
                container: "istio-proxy".into(),
                env: None,
                replaced: BTreeMap::new(),
            }),
            ..Status::default()
        };
        assert!(
            without_env
                .render()
                .ends_with(r#""metrics":{"container":"istio-proxy"}}"#)
        );
        assert_eq!(Status::parse(&without_env.render()), Ok(without_env));
        // The revision's name where Istio writes its own, at the end, the hash after it, then
        // the Namespace's hash.
        assert!(
            status.render().ends_with(
                r#","revision":"canary","hash":"0123456789abcdef","namespaceHash":"fedcba9876543210"}"#
            ),
            "{}",
            status.render()
        );
        // A revision named like a hash is kept as a name, since the hash is there.
        let named_like_a_hash = Status {
            revision: Some("fedcba9876543210".into()),
            ..status
        };
        assert_eq!(
            Status::parse(&named_like_a_hash.render()),
            Ok(named_like_a_hash)
        );
        let plain = Status::default();
        assert_eq!(
            plain.render(),
            r#"{"initContainers":[],"containers":[],"volumes":[],"imagePullSecrets":[]}"#
        );
        assert_eq!(Status::parse(&plain.render()), Ok(plain));
    }

    #[test]
    fn reads_every_field() {
        let status = Status::parse(
            r#"{"initContainers":["init"],"containers":["proxy"],"volumes":["certs"],"imagePullSecrets":["reg"],
                "labels":["mesh"],"annotations":["prometheus.io/port"],"templates":["sidecar"],"revision":"abc",
                "hash":"0123456789abcdef","probes":{"container":"proxy","env":"ISTIO_KUBE_APP_PROBERS","statusPort":15020,
                          "rewritten":["/app-health/web/readyz"],"portNames":{"/app-health/web/readyz":"http"}},
                "istioOnly":true}"#,
        )
        .unwrap();
        assert_eq!(status.init_containers, ["init"]);
        assert_eq!(status.containers, ["proxy"]);
        assert_eq!(status.volumes, ["certs"]);
        assert_eq!(status.image_pull_secrets, ["reg"]);
        assert_eq!(status.labels, ["mesh"]);
        assert_eq!(status.annotations, ["prometheus.io/port"]);
        assert_eq!(status.templates, Some(vec!["sidecar".to_string()]));
        assert_eq!(status.revision.as_deref(), Some("abc"));
        assert_eq!(status.hash.as_deref(), Some("0123456789abcdef"));
        let probes = status.probes.unwrap();
        assert_eq!(probes.status_port, 15020);
        assert_eq!(probes.rewritten, ["/app-health/web/readyz"]);
        assert_eq!(probes.port_names["/app-health/web/readyz"], "http");
    }

    /// Before revision names, `revision` held the hash: such an annotation has a hash and no
    /// name. Istio's own has a name and no hash.
    #[rstest]
    #[case::old(
        r#"{"containers":["p"],"revision":"e664d39d34854cb0"}"#,
        None,
        Some("e664d39d34854cb0")
    )]
    #[case::old_with_null_hash(
        r#"{"revision":"e664d39d34854cb0","hash":null}"#,
        None,
        Some("e664d39d34854cb0")
    )]
    #[case::new(
        r#"{"revision":"stable","hash":"e664d39d34854cb0"}"#,
        Some("stable"),
        Some("e664d39d34854cb0")
    )]
    #[case::new_named_like_a_hash(
        r#"{"revision":"e664d39d34854cb0","hash":"3866be549366d1d6"}"#,
        Some("e664d39d34854cb0"),
        Some("3866be549366d1d6")
    )]
    #[case::istio(
        r#"{"containers":["istio-proxy"],"imagePullSecrets":null,"revision":"default"}"#,
        Some("default"),
        None
    )]
    #[case::fifteen_digits(r#"{"revision":"e664d39d34854cb"}"#, Some("e664d39d34854cb"), None)]
    #[case::seventeen_digits(
        r#"{"revision":"e664d39d34854cb00"}"#,
        Some("e664d39d34854cb00"),
        None
    )]
    #[case::uppercase(r#"{"revision":"E664D39D34854CB0"}"#, Some("E664D39D34854CB0"), None)]
    #[case::not_hex(r#"{"revision":"g664d39d34854cb0"}"#, Some("g664d39d34854cb0"), None)]
    #[case::neither("{}", None, None)]
    fn an_old_annotation_holds_the_hash_in_revision(
        #[case] text: &str,
        #[case] revision: Option<&str>,
        #[case] hash: Option<&str>,
    ) {
        let status = Status::parse(text).unwrap();
        assert_eq!(
            (status.revision.as_deref(), status.hash.as_deref()),
            (revision, hash)
        );
    }

    #[test]
    fn absent_lists_are_empty() {
        assert_eq!(Status::parse("{}").unwrap(), Status::default());
    }

    #[test]
    fn a_pod_without_the_annotation_has_no_status() {
        for pod in [
            json!({}),
            json!({"metadata": {}}),
            json!({"metadata": {"annotations": {"a": "b"}}}),
            json!({"metadata": {"annotations": "x"}}),
        ] {
            assert_eq!(Status::of(&pod), Ok(None), "{pod}");
        }
    }

    #[rstest]
    #[case::not_a_string(json!(1), "expected a string, got a number")]
    #[case::not_json(json!("{"), "not valid JSON: ")]
    #[case::not_an_object(json!("[]"), "expected a JSON object, got an array")]
    #[case::list_of_numbers(json!(r#"{"containers":[1]}"#), "containers[0]: expected a string, got a number")]
    #[case::list_not_array(json!(r#"{"volumes":"v"}"#), "volumes: expected an array of strings, got a string")]
    #[case::revision(json!(r#"{"revision":1}"#), "revision: expected a string, got a number")]
    #[case::hash(json!(r#"{"revision":"default","hash":["e664d39d34854cb0"]}"#), "hash: expected a string, got an array")]
    #[case::probes(json!(r#"{"probes":[]}"#), "probes: expected an object, got an array")]
    #[case::probe_port(json!(r#"{"probes":{"container":"p","env":"E","statusPort":0,"rewritten":[]}}"#), "probes.statusPort: expected a port number from 1 to 65535, got 0")]
    #[case::probe_container(json!(r#"{"probes":{"env":"E","statusPort":1,"rewritten":[]}}"#), "probes.container: missing")]
    #[case::port_names(json!(r#"{"probes":{"container":"p","env":"E","statusPort":1,"rewritten":[],"portNames":{"/a":1}}}"#), "probes.portNames./a: expected a string, got a number")]
    #[case::metrics(json!(r#"{"metrics":[]}"#), "metrics: expected an object, got an array")]
    #[case::metrics_container(json!(r#"{"metrics":{"env":"E"}}"#), "metrics.container: missing")]
    #[case::metrics_env(json!(r#"{"metrics":{"container":"p","env":""}}"#), "metrics.env: must not be empty")]
    #[case::metrics_replaced(json!(r#"{"metrics":{"container":"p","replaced":{"prometheus.io/port":8080}}}"#), "metrics.replaced.prometheus.io/port: expected a string, got a number")]
    fn malformed_annotations_name_the_field(#[case] value: Value, #[case] message: &str) {
        let pod = json!({"metadata": {"annotations": {STATUS_KEY: value}}});
        let error = Status::of(&pod).unwrap_err().to_string();
        let expected = format!("metadata.annotations.{STATUS_KEY}: {message}");
        assert!(error.starts_with(&expected), "{error}");
    }
}
