//! Takes the sidecar out of a Pod again, as `istioctl x kube-uninject` does: removes exactly what
//! the status annotation says injection added, and puts back the probes it rewrote and the
//! Prometheus annotations the metrics merge replaced.
//!
//! Injection keeps every value of the submitted Pod where it was and only adds (see
//! [`crate::inject`]), but for the Prometheus annotations the metrics merge replaces, whose old
//! values the status annotation keeps; so removing the additions by name and putting those back
//! gives the submitted Pod back, values and order. What removal cannot know is whether a list or map it empties existed before: injection
//! creates `initContainers`, `volumes`, `imagePullSecrets`, `labels` and `annotations` when the Pod
//! has none, so one that removal empties is removed too (a Pod that had an empty one loses it).
//! Nor can it undo customization: a Pod container named like a template container was merged
//! into it, and leaves with it.
//!
//! Nothing is changed unless everything can be: a Pod whose status annotation or saved probes
//! cannot be read, or do not match the Pod, is an error and is left as it was.

use serde_json::{Map, Value};

use crate::error::json_type;
use crate::keys::STATUS_KEY;
use crate::probes::{RestoreError, restore};
use crate::status::{Probes, Status, StatusError};

/// Why a Pod cannot be uninjected; the message names the field, relative to the Pod.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UninjectError {
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error("{path}: {problem}")]
    Field { path: String, problem: String },
    #[error(transparent)]
    Probes(#[from] RestoreError),
}

fn field(path: impl Into<String>, problem: impl Into<String>) -> UninjectError {
    UninjectError::Field {
        path: path.into(),
        problem: problem.into(),
    }
}

/// The spec lists injection adds to, with the status field that names the additions.
const LISTS: [&str; 4] = [
    "containers",
    "initContainers",
    "volumes",
    "imagePullSecrets",
];

/// Removes the sidecar from `pod` (a Pod, or the metadata and spec of a pod template). Returns
/// what was removed, or `None` when the Pod has no status annotation (it is left as it is).
pub fn uninject(pod: &mut Value) -> Result<Option<Status>, UninjectError> {
    let Some(status) = Status::of(pod)? else {
        return Ok(None);
    };
    // Worked on a copy, which replaces the Pod once everything went well.
    let mut copy = pod.clone();
    remove(&mut copy, &status)?;
    *pod = copy;
    Ok(Some(status))
}

fn remove(pod: &mut Value, status: &Status) -> Result<(), UninjectError> {
    // The status annotation was found, so the Pod is an object.
    let Some(object) = pod.as_object_mut() else {
        return Ok(());
    };
    let mut spec = match object.get_mut("spec") {
        Some(Value::Object(spec)) => Some(spec),
        None | Some(Value::Null) => None,
        Some(other) => {
            return Err(field(
                "spec",
                format!("expected an object, got {}", json_type(other)),
            ));
        }
    };
    if let Some(spec) = &spec {
        for list in LISTS {
            match spec.get(list) {
                None | Some(Value::Null | Value::Array(_)) => {}
                Some(other) => {
                    return Err(field(
                        format!("spec.{list}"),
                        format!("expected an array, got {}", json_type(other)),
                    ));
                }
            }
        }
    }
    let originals = match (&status.probes, &spec) {
        (Some(probes), Some(spec)) => Some(saved_probes(spec, probes)?),
        (Some(probes), None) => return Err(missing_probe_container(probes)),
        (None, _) => None,
    };
    if let Some(spec) = &mut spec {
        let removals = [
            &status.containers,
            &status.init_containers,
            &status.volumes,
            &status.image_pull_secrets,
        ];
        if let (Some(probes), Some(originals)) = (&status.probes, &originals) {
            restore_probes(spec, &removals, probes, originals)?;
        }
        for (list, names) in LISTS.into_iter().zip(removals) {
            remove_named(spec, list, names);
        }
    }
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        // What the metrics merge replaced goes back first (where the Pod still has the key, in
        // its place); then what injection added goes.
        let replaced = status.metrics.iter().flat_map(|m| &m.replaced);
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            for (key, value) in replaced {
                annotations.insert(key.clone(), Value::String(value.clone()));
            }
        }
        let mut annotations = status.annotations.clone();
        annotations.push(STATUS_KEY.to_string());
        let emptied = remove_keys(metadata, "labels", &status.labels)
            | remove_keys(metadata, "annotations", &annotations);
        if emptied && metadata.is_empty() {
            object.shift_remove("metadata");
        }
    }
    Ok(())
}

/// The original probes, from the environment of the injected container that received them.
fn saved_probes(spec: &Map<String, Value>, probes: &Probes) -> Result<String, UninjectError> {
    let container = ["containers", "initContainers"]
        .into_iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(probes.container.as_str()))
        .ok_or_else(|| missing_probe_container(probes))?;
    let env = container.get("env").and_then(Value::as_array);
    let value = env
        .into_iter()
        .flatten()
        .find(|var| var.get("name").and_then(Value::as_str) == Some(probes.env.as_str()))
        .and_then(|var| var.get("value"))
        .and_then(Value::as_str);
    value.map(str::to_string).ok_or_else(|| {
        field(
            "spec",
            format!(
                "the status annotation says the original probes are in the environment variable {} of container {}, which has no such variable with a value",
                probes.env, probes.container
            ),
        )
    })
}

fn missing_probe_container(probes: &Probes) -> UninjectError {
    field(
        "spec",
        format!(
            "the status annotation says container {} holds the original probes, and the Pod has no such container",
            probes.container
        ),
    )
}

/// Restores the probes of the containers that stay (the Pod's own), checking that they are the
/// ones the status annotation says were rewritten; nothing is changed when they cannot be.
fn restore_probes(
    spec: &mut Map<String, Value>,
    removals: &[&Vec<String>; 4],
    probes: &Probes,
    originals: &str,
) -> Result<(), UninjectError> {
    let [containers, init_containers, ..] = removals;
    let staying = spec
        .iter_mut()
        .filter_map(|(list, items)| {
            let removed = match list.as_str() {
                "containers" => containers,
                "initContainers" => init_containers,
                _ => return None,
            };
            Some((removed, items.as_array_mut()?))
        })
        .flat_map(|(removed, items)| {
            items.iter_mut().filter(move |c| {
                !c.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| removed.iter().any(|r| r == name))
            })
        });
    let mut rewritten = probes.rewritten.clone();
    rewritten.sort();
    let restored = restore(staying, originals, &probes.port_names)?;
    if restored != rewritten {
        return Err(field(
            format!("metadata.annotations.{STATUS_KEY}"),
            format!(
                "probes.rewritten lists {}, and the environment variable {} of container {} holds {}",
                listed(&rewritten),
                probes.env,
                probes.container,
                listed(&restored)
            ),
        ));
    }
    Ok(())
}

fn listed(paths: &[String]) -> String {
    if paths.is_empty() {
        "none".to_string()
    } else {
        paths.join(", ")
    }
}

/// Removes the entries of `spec[list]` named in `names`; the list too if that empties it.
fn remove_named(spec: &mut Map<String, Value>, list: &str, names: &[String]) {
    let Some(Value::Array(items)) = spec.get_mut(list) else {
        return;
    };
    let before = items.len();
    items.retain(|item| {
        !item
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|name| names.iter().any(|n| n == name))
    });
    if items.is_empty() && before > 0 {
        spec.shift_remove(list);
    }
}

/// Removes `keys` from `metadata[map]`; the map too if that empties it. True when it did.
fn remove_keys(metadata: &mut Map<String, Value>, map: &str, keys: &[String]) -> bool {
    let Some(Value::Object(entries)) = metadata.get_mut(map) else {
        return false;
    };
    let before = entries.len();
    for key in keys {
        entries.shift_remove(key);
    }
    if entries.is_empty() && before > 0 {
        metadata.shift_remove(map);
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(value: Value) -> String {
        value.to_string()
    }

    /// The same whatever the annotation says of the revision: written now (its name and the
    /// hash), before revision names (the hash as `revision`), or by Istio (its name alone).
    #[rstest::rstest]
    #[case::now(json!({"revision": "canary", "hash": "e664d39d34854cb0"}))]
    #[case::before_revision_names(json!({"revision": "e664d39d34854cb0"}))]
    #[case::istio(json!({"revision": "default"}))]
    fn removes_what_the_status_annotation_names(#[case] revision: Value) {
        let mut names = json!({
            "initContainers": ["mesh-init"], "containers": ["proxy"], "volumes": ["certs"],
            "imagePullSecrets": ["reg"], "labels": ["mesh"], "annotations": ["prometheus.io/port"]});
        if let (Some(names), Value::Object(revision)) = (names.as_object_mut(), revision) {
            names.extend(revision);
        }
        let mut pod = json!({
            "metadata": {
                "name": "web",
                "labels": {"app": "web", "mesh": "on"},
                "annotations": {"own": "1", "prometheus.io/port": "15020", STATUS_KEY: status(names)}
            },
            "spec": {
                "initContainers": [{"name": "mesh-init"}],
                "containers": [{"name": "app"}, {"name": "proxy"}],
                "volumes": [{"name": "data"}, {"name": "certs"}],
                "imagePullSecrets": [{"name": "reg"}]
            }
        });
        let removed = uninject(&mut pod).unwrap().unwrap();
        assert_eq!(removed.containers, ["proxy"]);
        assert_eq!(
            pod,
            json!({
                "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"own": "1"}},
                "spec": {"containers": [{"name": "app"}], "volumes": [{"name": "data"}]}
            })
        );
    }

    #[test]
    fn a_pod_without_the_annotation_is_left_as_it_is() {
        let mut pod =
            json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "proxy"}]}});
        let before = pod.clone();
        assert_eq!(uninject(&mut pod), Ok(None));
        assert_eq!(pod, before);
    }

    #[test]
    fn metadata_that_injection_created_goes() {
        let mut pod = json!({"spec": {"containers": [{"name": "app"}, {"name": "proxy"}]},
            "metadata": {"annotations": {STATUS_KEY: r#"{"containers":["proxy"]}"#}}});
        uninject(&mut pod).unwrap();
        assert_eq!(pod, json!({"spec": {"containers": [{"name": "app"}]}}));
    }

    fn probed_pod(env: Value) -> Value {
        json!({
            "metadata": {"annotations": {STATUS_KEY: status(json!({"containers": ["proxy"],
                "probes": {"container": "proxy", "env": "ISTIO_KUBE_APP_PROBERS", "statusPort": 15020,
                           "rewritten": ["/app-health/app/readyz"], "portNames": {"/app-health/app/readyz": "http"}}}))}},
            "spec": {"containers": [
                {"name": "app", "ports": [{"name": "http", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/app-health/app/readyz", "port": 15020}, "periodSeconds": 5}},
                {"name": "proxy", "env": env}
            ]}
        })
    }

    #[test]
    fn rewritten_probes_are_restored() {
        let originals = r#"{"/app-health/app/readyz":{"httpGet":{"path":"/ready","port":8080}}}"#;
        let mut pod = probed_pod(json!([{"name": "ISTIO_KUBE_APP_PROBERS", "value": originals}]));
        uninject(&mut pod).unwrap();
        assert_eq!(
            pod,
            json!({"spec": {"containers": [
                {"name": "app", "ports": [{"name": "http", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5}}
            ]}})
        );
    }

    #[test]
    fn probes_that_cannot_be_restored_change_nothing() {
        let cases = [
            (
                json!([]),
                "spec: the status annotation says the original probes are in the environment variable ISTIO_KUBE_APP_PROBERS of container proxy",
            ),
            (
                json!([{"name": "ISTIO_KUBE_APP_PROBERS", "value": r#"{"/app-health/gone/livez":{"tcpSocket":{"port":1}}}"#}]),
                "the original probes cannot be restored: ",
            ),
            (
                json!([{"name": "ISTIO_KUBE_APP_PROBERS", "value": "{}"}]),
                "the original probes cannot be restored: /app-health/app/readyz: a port name is recorded",
            ),
        ];
        for (env, message) in cases {
            let mut pod = probed_pod(env);
            let before = pod.clone();
            let error = uninject(&mut pod).unwrap_err().to_string();
            assert!(error.starts_with(message), "{error}");
            assert_eq!(pod, before);
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_guess() {
        let annotated = |status: &str, spec: Value| json!({"metadata": {"annotations": {STATUS_KEY: status}}, "spec": spec});
        let cases = [
            (
                annotated("nope", json!({})),
                "metadata.annotations.sidecar.istio.io/status: not valid JSON",
            ),
            (
                annotated("{}", json!([])),
                "spec: expected an object, got an array",
            ),
            (
                annotated("{}", json!({"volumes": {"name": "v"}})),
                "spec.volumes: expected an array, got an object",
            ),
            (
                annotated(
                    r#"{"probes":{"container":"p","env":"E","statusPort":1,"rewritten":[]}}"#,
                    Value::Null,
                ),
                "spec: the status annotation says container p holds the original probes",
            ),
        ];
        for (mut pod, message) in cases {
            let before = pod.clone();
            let error = uninject(&mut pod).unwrap_err().to_string();
            assert!(error.starts_with(message), "{error}");
            assert_eq!(pod, before);
        }
    }
}
