//! Where the Pod is in the objects people write: a Pod itself, or the pod template of a workload
//! whose controller creates Pods from it. Used offline (CLI, playground); the policy itself only
//! ever sees Pods.

use serde_json::{Map, Value};

/// An object that holds a Pod, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSource {
    pub kind: String,
    /// The object's own name (or generateName), namespace when it has one.
    pub name: String,
    pub namespace: Option<String>,
    /// Keys from the object to its pod template; empty for a Pod.
    pub template_path: &'static [&'static str],
}

const TEMPLATE: &[&str] = &["spec", "template"];
const CRON_JOB_TEMPLATE: &[&str] = &["spec", "jobTemplate", "spec", "template"];

/// Where the kind keeps its pod template, by API group and kind.
fn template_path(api_version: &str, kind: &str) -> Option<&'static [&'static str]> {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    match (group, kind) {
        ("", "Pod") => Some(&[]),
        ("", "ReplicationController") => Some(TEMPLATE),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => Some(TEMPLATE),
        ("batch", "Job") => Some(TEMPLATE),
        ("batch", "CronJob") => Some(CRON_JOB_TEMPLATE),
        // OpenShift's DeploymentConfig (in its group, or as OpenShift's first API served it,
        // `v1`) and Argo's Rollout, which Istio's injector knows too.
        ("apps.openshift.io" | "", "DeploymentConfig") | ("argoproj.io", "Rollout") => {
            Some(TEMPLATE)
        }
        _ => None,
    }
}

impl PodSource {
    /// What holds a Pod in `object`, or `None` for other objects (Services, ConfigMaps…).
    pub fn of(object: &Value) -> Option<Self> {
        let text = |pointer| object.pointer(pointer).and_then(Value::as_str);
        let kind = text("/kind")?;
        let template_path = template_path(text("/apiVersion").unwrap_or_default(), kind)?;
        let name = text("/metadata/name")
            .filter(|name| !name.is_empty())
            .or_else(|| text("/metadata/generateName"))
            .unwrap_or_default();
        Some(Self {
            kind: kind.to_string(),
            name: name.to_string(),
            namespace: text("/metadata/namespace")
                .filter(|namespace| !namespace.is_empty())
                .map(str::to_string),
            template_path,
        })
    }

    pub fn is_pod(&self) -> bool {
        self.template_path.is_empty()
    }

    /// The template's path as written in messages: `spec.template`, or empty for a Pod.
    pub fn template_location(&self) -> String {
        self.template_path.join(".")
    }

    /// The pod template in `object`, when it is there and is an object.
    pub fn template<'a>(&self, object: &'a Value) -> Option<&'a Map<String, Value>> {
        self.template_path
            .iter()
            .try_fold(object, |value, key| value.get(key))?
            .as_object()
    }

    fn template_mut<'a>(&self, object: &'a mut Value) -> Option<&'a mut Map<String, Value>> {
        self.template_path
            .iter()
            .try_fold(object, |value, key| value.get_mut(key))?
            .as_object_mut()
    }

    /// The Pod its controller would create, as far as the policy looks at it: the template's
    /// metadata and spec. For a Pod, the object itself.
    pub fn pod(&self, object: &Value) -> Option<Value> {
        if self.is_pod() {
            return Some(object.clone());
        }
        let template = self.template(object)?;
        let mut pod = Map::new();
        pod.insert("apiVersion".into(), "v1".into());
        pod.insert("kind".into(), "Pod".into());
        for key in ["metadata", "spec"] {
            if let Some(value) = template.get(key) {
                pod.insert(key.into(), value.clone());
            }
        }
        Some(Value::Object(pod))
    }

    /// Writes an injected (or uninjected) Pod back where it came from: the object itself, or the
    /// template's metadata and spec (each kept at its place in the template; one the Pod no
    /// longer has is removed).
    pub fn put_back(&self, object: &mut Value, mut pod: Value) {
        if self.is_pod() {
            *object = pod;
            return;
        }
        let Some(template) = self.template_mut(object) else {
            return;
        };
        for key in ["metadata", "spec"] {
            match pod.get_mut(key) {
                Some(value) => {
                    template.insert(key.into(), value.take());
                }
                None => {
                    template.shift_remove(key);
                }
            }
        }
    }
}

/// The objects in a document: the document itself, or the items of a `List` (`v1/List`,
/// `PodList`, `DeploymentList`…), recursively.
pub fn objects_mut(document: &mut Value) -> Vec<&mut Value> {
    if !is_list(document) {
        return vec![document];
    }
    match document.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().flat_map(objects_mut).collect(),
        _ => Vec::new(),
    }
}

/// [`objects_mut`], to read.
pub fn objects(document: &Value) -> Vec<&Value> {
    match document.get("items") {
        Some(Value::Array(items)) if is_list(document) => items.iter().flat_map(objects).collect(),
        _ => vec![document],
    }
}

fn is_list(document: &Value) -> bool {
    document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"))
        && document.get("items").is_some_and(Value::is_array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case::pod("v1", "Pod", "")]
    #[case::deployment("apps/v1", "Deployment", "spec.template")]
    #[case::stateful_set("apps/v1", "StatefulSet", "spec.template")]
    #[case::daemon_set("apps/v1", "DaemonSet", "spec.template")]
    #[case::replica_set("apps/v1", "ReplicaSet", "spec.template")]
    #[case::replication_controller("v1", "ReplicationController", "spec.template")]
    #[case::job("batch/v1", "Job", "spec.template")]
    #[case::cron_job("batch/v1", "CronJob", "spec.jobTemplate.spec.template")]
    #[case::deployment_config("apps.openshift.io/v1", "DeploymentConfig", "spec.template")]
    #[case::deployment_config_v1("v1", "DeploymentConfig", "spec.template")]
    #[case::rollout("argoproj.io/v1alpha1", "Rollout", "spec.template")]
    fn finds_the_pod_template(#[case] api_version: &str, #[case] kind: &str, #[case] at: &str) {
        let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}});
        let source = PodSource::of(&object).unwrap();
        assert_eq!(source.template_location(), at);
        assert_eq!(source.name, "x");
    }

    #[rstest]
    #[case::service(json!({"apiVersion": "v1", "kind": "Service"}))]
    #[case::other_group(json!({"apiVersion": "example.com/v1", "kind": "Deployment"}))]
    #[case::no_kind(json!({"apiVersion": "v1"}))]
    #[case::not_an_object(json!("Pod"))]
    fn other_objects_hold_no_pod(#[case] object: Value) {
        assert_eq!(PodSource::of(&object), None);
    }

    #[test]
    fn the_template_goes_back_in_place() {
        let mut object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}, "x-later": 1}}});
        let source = PodSource::of(&object).unwrap();
        let mut pod = source.pod(&object).unwrap();
        assert_eq!(pod["kind"], "Pod");
        pod["metadata"]["labels"]["injected"] = json!("yes");
        source.put_back(&mut object, pod);
        assert_eq!(
            serde_json::to_string(&object["spec"]["template"]).unwrap(),
            r#"{"metadata":{"labels":{"app":"web","injected":"yes"}},"spec":{"containers":[]},"x-later":1}"#
        );
    }

    #[test]
    fn lists_are_opened() {
        let mut list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"kind": "Pod"}, {"kind": "DeploymentList", "items": [{"kind": "Deployment"}]}]});
        let kinds: Vec<_> = objects_mut(&mut list)
            .into_iter()
            .map(|o| o["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["Pod", "Deployment"]);
        let read: Vec<_> = objects(&list).into_iter().map(|o| &o["kind"]).collect();
        assert_eq!(read, ["Pod", "Deployment"]);
    }
}
