//! The workload a Pod belongs to, as Istio names it for the proxy's identity
//! (`ISTIO_META_WORKLOAD_NAME`, `ISTIO_META_OWNER`, the canonical-name fallback), available to
//! template strings as `workload.name`, `workload.namespace`, `workload.kind` and
//! `workload.apiVersion`.
//!
//! The policy sees only the Pod, so the workload is read from it as Istio's injector reads it: a
//! Pod with a `generateName` and a controller in its `ownerReferences` belongs to that controller,
//! except that a ReplicaSet named `<name>-<pod-template-hash>` stands for the Deployment `<name>`
//! (Argo's `rollouts-pod-template-hash`: the Rollout), a ReplicationController of a Pod labelled
//! `deploymentconfig` for that DeploymentConfig, and a Job named `<name>-<8 to 10 digits>` for
//! the CronJob `<name>`. Any other Pod is its own workload. The CLI, which reads the workload
//! itself from a manifest, names it directly ([`Workload::of_object`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Pod's workload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub name: String,
    pub namespace: String,
    pub kind: String,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
}

/// What of a Pod's metadata the workload is read from; the rest of the Pod is skipped.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Metadata {
    name: Option<String>,
    generate_name: Option<String>,
    labels: Option<Map<String, Value>>,
    owner_references: Option<Vec<OwnerReference>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct OwnerReference {
    api_version: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    controller: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PodMetadata {
    metadata: Option<Metadata>,
}

impl Workload {
    /// The workload of the Pod `pod` (JSON text) in `namespace`, the request's. A Pod whose
    /// metadata cannot be read is its own workload, unnamed: the injection itself refuses such a
    /// Pod with a message of its own.
    pub fn of_pod(pod: &str, namespace: &str) -> Self {
        let metadata = serde_json::from_str::<PodMetadata>(pod)
            .ok()
            .and_then(|pod| pod.metadata)
            .unwrap_or_default();
        let pod_name = metadata.name.clone().unwrap_or_default();
        let mut workload = Self {
            name: pod_name.clone(),
            namespace: namespace.to_string(),
            kind: "Pod".to_string(),
            api_version: "v1".to_string(),
        };
        let generated = metadata
            .generate_name
            .as_deref()
            .is_some_and(|name| !name.is_empty());
        let controller = metadata
            .owner_references
            .iter()
            .flatten()
            .find(|owner| owner.controller == Some(true));
        if let (true, Some(owner)) = (generated, controller) {
            let label = |key: &str| {
                metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(key))
                    .and_then(Value::as_str)
                    .filter(|value| !value.is_empty())
            };
            let owner_name = owner.name.clone().unwrap_or_default();
            workload.api_version = owner.api_version.clone().unwrap_or_default();
            workload.kind = owner.kind.clone().unwrap_or_default();
            workload.name = owner_name.clone();
            let trimmed = |hash: &str| owner_name.strip_suffix(hash)?.strip_suffix('-');
            match workload.kind.as_str() {
                "ReplicaSet" => {
                    if let Some(name) = label("pod-template-hash").and_then(trimmed) {
                        workload.name = name.to_string();
                        workload.kind = "Deployment".to_string();
                    } else if let Some(name) = label("rollouts-pod-template-hash").and_then(trimmed)
                    {
                        workload.name = name.to_string();
                        workload.kind = "Rollout".to_string();
                        workload.api_version = "v1alpha1".to_string();
                    }
                }
                "ReplicationController" => {
                    if let Some(config) = label("deploymentconfig") {
                        workload.name = config.to_string();
                        workload.kind = "DeploymentConfig".to_string();
                    }
                }
                "Job" => {
                    if let Some(name) = cron_job_name(&owner_name) {
                        workload.name = name.to_string();
                        workload.kind = "CronJob".to_string();
                        workload.api_version = "batch/v1".to_string();
                    }
                }
                _ => {}
            }
        }
        if workload.name.is_empty() {
            workload.name = pod_name;
        }
        workload
    }

    /// A workload named in a manifest: the object itself (a Deployment, a Job…), in its own
    /// namespace or else `namespace`.
    pub fn of_object(object: &Value, namespace: &str) -> Self {
        let text = |pointer| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let own = text("/metadata/namespace");
        Self {
            name: text("/metadata/name"),
            namespace: if own.is_empty() {
                namespace.to_string()
            } else {
                own
            },
            kind: text("/kind"),
            api_version: text("/apiVersion"),
        }
    }
}

/// `<name>` of a Job named `<name>-<8 to 10 digits>`, as a CronJob names its Jobs.
fn cron_job_name(job: &str) -> Option<&str> {
    let (name, suffix) = job.rsplit_once('-')?;
    let digits = (8..=10).contains(&suffix.len()) && suffix.bytes().all(|b| b.is_ascii_digit());
    (digits && !name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn of(metadata: Value) -> Workload {
        Workload::of_pod(
            &json!({"metadata": metadata, "spec": {}}).to_string(),
            "shop",
        )
    }

    fn owned(kind: &str, name: &str, labels: Value) -> Value {
        json!({"generateName": format!("{name}-"), "labels": labels, "ownerReferences": [
            {"apiVersion": "v1", "kind": "Other", "name": "not-the-controller"},
            {"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": true}]})
    }

    fn workload(name: &str, kind: &str, api_version: &str) -> Workload {
        Workload {
            name: name.into(),
            namespace: "shop".into(),
            kind: kind.into(),
            api_version: api_version.into(),
        }
    }

    #[rstest]
    #[case::pod(json!({"name": "web-1"}), workload("web-1", "Pod", "v1"))]
    #[case::named_pod_with_owner(json!({"name": "web-1", "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": true}]}),
        workload("web-1", "Pod", "v1"))]
    #[case::deployment(owned("ReplicaSet", "web-7c9d8b5f4", json!({"pod-template-hash": "7c9d8b5f4"})), workload("web", "Deployment", "apps/v1"))]
    #[case::replica_set(owned("ReplicaSet", "web-7c9d8b5f4", json!({})), workload("web-7c9d8b5f4", "ReplicaSet", "apps/v1"))]
    #[case::rollout(owned("ReplicaSet", "web-5d4f", json!({"rollouts-pod-template-hash": "5d4f"})), workload("web", "Rollout", "v1alpha1"))]
    #[case::deployment_config(owned("ReplicationController", "web-3", json!({"deploymentconfig": "web"})), workload("web", "DeploymentConfig", "apps/v1"))]
    #[case::cron_job(owned("Job", "report-29012345", json!({})), workload("report", "CronJob", "batch/v1"))]
    #[case::job(owned("Job", "report-2901", json!({})), workload("report-2901", "Job", "apps/v1"))]
    #[case::stateful_set(owned("StatefulSet", "db", json!({})), workload("db", "StatefulSet", "apps/v1"))]
    fn as_istio_reads_the_pod(#[case] metadata: Value, #[case] expected: Workload) {
        assert_eq!(of(metadata), expected);
    }

    #[test]
    fn text_that_is_not_a_pod_gives_an_unnamed_pod() {
        assert_eq!(Workload::of_pod("[", "shop"), workload("", "Pod", "v1"));
        assert_eq!(
            Workload::of_pod(r#"{"metadata": 1}"#, "shop"),
            workload("", "Pod", "v1")
        );
    }

    #[test]
    fn a_manifests_object_names_itself() {
        let deployment =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        assert_eq!(
            Workload::of_object(&deployment, "shop"),
            workload("web", "Deployment", "apps/v1")
        );
    }
}
