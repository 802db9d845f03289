//! Stale sidecars: a running Pod keeps the sidecar it was injected with, at its creation, while the
//! template changes afterwards. Its status annotation records the revision it was injected with;
//! the settings give the revision they would inject now ([`crate::revision::for_pod`], computed as
//! the policy computes it in the cluster). When the two differ, the Pod must be recreated, which
//! is done by restarting the workload that owns it.

use std::fmt;

use serde_json::{Value, json};

use crate::error::RequestError;
use crate::settings::Settings;
use crate::status::Status;

/// The sidecar of an injected Pod, compared with what the settings inject now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    /// The revision it was injected with; `None` when its status annotation does not say (or
    /// cannot be read: then [`Sidecar::unreadable`] says why).
    pub injected: Option<String>,
    /// The revision the settings inject into this Pod now.
    pub current: String,
    pub unreadable: Option<String>,
    /// Who recreates the Pod, from its `ownerReferences`: the controller first.
    pub owners: Vec<Owner>,
}

/// An entry of `metadata.ownerReferences`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub kind: String,
    pub name: String,
    pub controller: bool,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl Sidecar {
    /// The sidecar of `pod`, when it carries the status annotation.
    pub fn of(pod: &Value, settings: &Settings) -> Result<Option<Self>, RequestError> {
        let (injected, unreadable) = match Status::of(pod) {
            Ok(None) => return Ok(None),
            Ok(Some(status)) => (status.revision, None),
            Err(error) => (None, Some(error.to_string())),
        };
        Ok(Some(Self {
            injected,
            current: crate::revision::for_pod(settings, pod)?,
            unreadable,
            owners: owners(pod),
        }))
    }

    pub fn is_stale(&self) -> bool {
        self.injected.as_deref() != Some(self.current.as_str())
    }

    /// "up to date: revision X", or what to do about a stale sidecar.
    pub fn verdict(&self) -> String {
        let Some(injected) = self.injected.as_deref().filter(|_| self.is_stale()) else {
            if !self.is_stale() {
                return format!("up to date: injected with revision {}", self.current);
            }
            let why = self
                .unreadable
                .as_deref()
                .unwrap_or("it records no revision");
            return format!(
                "stale: injected with an unknown revision ({why}), the policy now injects {}; {}",
                self.current,
                self.restart()
            );
        };
        format!(
            "stale: injected with revision {injected}, the policy now injects {}; {}",
            self.current,
            self.restart()
        )
    }

    fn restart(&self) -> String {
        if self.owners.is_empty() {
            return "restart its owner: it has none, so delete and recreate the Pod".to_string();
        }
        let owners: Vec<String> = self.owners.iter().map(ToString::to_string).collect();
        format!("restart its owner {}", owners.join(", "))
    }

    /// For programs: the same fields, and the sentence.
    pub fn to_json(&self) -> Value {
        json!({
            "stale": self.is_stale(),
            "revision": self.injected,
            "currentRevision": self.current,
            "owners": self.owners.iter().map(|owner| json!({
                "kind": owner.kind,
                "name": owner.name,
                "controller": owner.controller,
            })).collect::<Vec<_>>(),
            "verdict": self.verdict(),
        })
    }
}

/// The owners in `metadata.ownerReferences`, the controller first; entries without a kind or a
/// name are left out.
pub fn owners(pod: &Value) -> Vec<Owner> {
    let mut owners: Vec<Owner> = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|reference| {
            let text = |key| reference.get(key).and_then(Value::as_str);
            Some(Owner {
                kind: text("kind")?.to_string(),
                name: text("name")?.to_string(),
                controller: reference.get("controller") == Some(&Value::Bool(true)),
            })
        })
        .collect();
    // Stable: the others keep their order.
    owners.sort_by_key(|owner| !owner.controller);
    owners
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::STATUS_KEY;

    fn settings(image: &str) -> Settings {
        let json = json!({"template": {"containers": [{"name": "proxy", "image": image}]}});
        Settings::validate(json.to_string().as_bytes()).unwrap()
    }

    fn pod(status: Option<&str>, owners: Value) -> Value {
        let mut pod = json!({"metadata": {"name": "web-1", "ownerReferences": owners},
            "spec": {"containers": [{"name": "app"}]}});
        if let Some(status) = status {
            pod["metadata"]["annotations"] = json!({STATUS_KEY: status});
        }
        pod
    }

    #[test]
    fn a_pod_injected_with_the_current_revision_is_up_to_date() {
        let settings = settings("proxy:1");
        let status =
            json!({"containers": ["proxy"], "revision": crate::revision::current(&settings)})
                .to_string();
        let sidecar = Sidecar::of(&pod(Some(&status), json!([])), &settings)
            .unwrap()
            .unwrap();
        assert!(!sidecar.is_stale());
        assert_eq!(
            sidecar.verdict(),
            format!(
                "up to date: injected with revision {}",
                crate::revision::current(&settings)
            )
        );
    }

    #[test]
    fn a_pod_injected_with_another_revision_is_stale_and_names_its_owner() {
        let old = crate::revision::current(&settings("proxy:1"));
        let settings = settings("proxy:2");
        let status = json!({"revision": old}).to_string();
        let owners = json!([
            {"kind": "Other", "name": "o"},
            {"kind": "ReplicaSet", "name": "web-7c9", "controller": true},
            {"kind": "NoName"}
        ]);
        let sidecar = Sidecar::of(&pod(Some(&status), owners), &settings)
            .unwrap()
            .unwrap();
        assert!(sidecar.is_stale());
        assert_eq!(
            sidecar.verdict(),
            format!(
                "stale: injected with revision {old}, the policy now injects {}; restart its owner ReplicaSet/web-7c9, Other/o",
                crate::revision::current(&settings)
            )
        );
        assert_eq!(sidecar.to_json()["owners"][0]["controller"], true);
    }

    #[test]
    fn an_unknown_revision_is_stale() {
        let settings = settings("proxy:1");
        let sidecar = Sidecar::of(&pod(Some("{"), Value::Null), &settings)
            .unwrap()
            .unwrap();
        assert!(sidecar.is_stale());
        let verdict = sidecar.verdict();
        assert!(
            verdict.starts_with("stale: injected with an unknown revision (metadata.annotations.sidecar.istio.io/status: not valid JSON")
                && verdict.ends_with("restart its owner: it has none, so delete and recreate the Pod"),
            "{verdict}"
        );
        let none = Sidecar::of(&pod(Some("{}"), Value::Null), &settings)
            .unwrap()
            .unwrap();
        assert!(none.verdict().contains("(it records no revision)"));
    }

    #[test]
    fn a_pod_without_the_status_annotation_has_no_sidecar() {
        assert_eq!(Sidecar::of(&pod(None, json!([])), &settings("p")), Ok(None));
    }
}
