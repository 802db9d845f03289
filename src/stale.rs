//! Stale sidecars: a running Pod keeps the sidecar it was injected with, at its creation, while the
//! settings change afterwards. Its status annotation records the revision's name and the hash of
//! what it was injected with; the settings give the name they have now and the hash of what they
//! would inject now ([`crate::revision::for_pod`], computed as the policy computes it in the
//! cluster). When the hash differs, or the name does, the Pod must be recreated, which is done by
//! restarting the workload that owns it. An annotation written before revision names records only
//! the hash ([`crate::status`]): only the hash counts for it, so that a sidecar that is still what
//! the policy injects is not called stale for the policy's own upgrade.

use std::fmt;

use serde_json::{Value, json};

use crate::error::RequestError;
use crate::namespace::Namespace;
use crate::settings::Settings;
use crate::status::Status;

/// The sidecar of an injected Pod, compared with what the settings inject now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    /// The revision's name it was injected with; `None` when its status annotation does not say
    /// (written before revision names, or unreadable).
    pub revision: Option<String>,
    /// The hash of what it was injected with; `None` when its status annotation does not say (or
    /// cannot be read: then [`Sidecar::unreadable`] says why).
    pub hash: Option<String>,
    /// The revision's name in the settings now.
    pub current_revision: String,
    /// The hash of what the settings inject into this Pod now.
    pub current_hash: String,
    pub unreadable: Option<String>,
    /// Who recreates the Pod, from its `ownerReferences`: the controller first.
    pub owners: Vec<Owner>,
    /// The hash of its Namespace's labels and annotations when its templates read them (`ns`),
    /// as recorded at injection.
    pub namespace_hash: Option<String>,
    /// The same of the Namespace now, when it is known (its manifest was given).
    pub current_namespace_hash: Option<String>,
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
    /// The sidecar of `pod`, when it carries the status annotation; `namespace` is its Namespace
    /// now, when known.
    pub fn of(
        pod: &Value,
        settings: &Settings,
        namespace: Option<&Namespace>,
    ) -> Result<Option<Self>, RequestError> {
        let (revision, hash, namespace_hash, unreadable) = match Status::of(pod) {
            Ok(None) => return Ok(None),
            Ok(Some(status)) => (status.revision, status.hash, status.namespace_hash, None),
            Err(error) => (None, None, None, Some(error.to_string())),
        };
        Ok(Some(Self {
            revision,
            hash,
            current_revision: settings.revision.to_string(),
            current_hash: crate::revision::for_pod(settings, pod)?,
            unreadable,
            owners: owners(pod),
            current_namespace_hash: namespace_hash.as_ref().and(namespace).map(Namespace::hash),
            namespace_hash,
        }))
    }

    /// What is injected differs from what the settings inject now (or is unknown).
    pub fn hash_differs(&self) -> bool {
        self.hash.as_deref() != Some(self.current_hash.as_str())
    }

    /// The revision's name differs from the settings'; an annotation that names none cannot.
    pub fn revision_differs(&self) -> bool {
        self.revision
            .as_deref()
            .is_some_and(|revision| revision != self.current_revision)
    }

    /// Its templates read the Namespace's labels and annotations, and they changed since; not
    /// known without the Namespace's manifest.
    pub fn namespace_differs(&self) -> bool {
        self.current_namespace_hash
            .as_ref()
            .is_some_and(|now| self.namespace_hash.as_ref() != Some(now))
    }

    pub fn is_stale(&self) -> bool {
        self.hash_differs() || self.revision_differs() || self.namespace_differs()
    }

    /// "up to date: injected with revision R (hash H)", or what to do about a stale sidecar and
    /// which of the two differs.
    pub fn verdict(&self) -> String {
        let now = format!(
            "the policy now injects revision {} (hash {})",
            self.current_revision, self.current_hash
        );
        let Some(hash) = &self.hash else {
            let why = self.unreadable.as_deref().unwrap_or("it records no hash");
            let injected = match (&self.revision, &self.unreadable) {
                (Some(revision), None) => format!("revision {revision} and an unknown hash"),
                _ => "an unknown revision and hash".to_string(),
            };
            return format!(
                "stale: injected with {injected} ({why}), {now}; {}",
                self.restart()
            );
        };
        let injected = match &self.revision {
            Some(revision) => format!("revision {revision} (hash {hash})"),
            None => format!(
                "hash {hash}, under no revision name (the annotation is older than revision names)"
            ),
        };
        let mut differs = match (self.revision_differs(), self.hash_differs()) {
            (false, false) => String::new(),
            (true, true) => "the revision name and the hash differ".to_string(),
            (true, false) => "the revision name differs".to_string(),
            (false, true) => "the hash differs".to_string(),
        };
        if self.namespace_differs() {
            if !differs.is_empty() {
                differs.push_str(", and ");
            }
            differs.push_str("the labels or annotations of its Namespace, which its templates read, changed since");
        }
        if differs.is_empty() {
            return format!("up to date: injected with {injected}");
        }
        format!(
            "stale: injected with {injected}, {now}: {differs}; {}",
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

    /// For programs: the same fields, and the sentence. `revision` and `hash` are `null` where the
    /// status annotation does not say.
    pub fn to_json(&self) -> Value {
        let mut json = json!({
            "stale": self.is_stale(),
            "revision": self.revision,
            "hash": self.hash,
            "currentRevision": self.current_revision,
            "currentHash": self.current_hash,
            "owners": self.owners.iter().map(|owner| json!({
                "kind": owner.kind,
                "name": owner.name,
                "controller": owner.controller,
            })).collect::<Vec<_>>(),
            "verdict": self.verdict(),
        });
        // Only where the templates read the Namespace.
        if let (Some(recorded), Some(fields)) = (&self.namespace_hash, json.as_object_mut()) {
            fields.insert("namespaceHash".into(), recorded.as_str().into());
            fields.insert(
                "currentNamespaceHash".into(),
                json!(self.current_namespace_hash),
            );
        }
        json
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
    use rstest::rstest;

    fn settings(image: &str, revision: &str) -> Settings {
        let json = json!({"template": {"containers": [{"name": "proxy", "image": image}]},
            "revision": revision});
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

    fn sidecar(status: &Value, owners: Value, settings: &Settings) -> Sidecar {
        Sidecar::of(&pod(Some(&status.to_string()), owners), settings, None)
            .unwrap()
            .unwrap()
    }

    fn hash(image: &str) -> String {
        crate::revision::current(&settings(image, "default"))
    }

    #[test]
    fn a_pod_injected_with_the_current_revision_and_hash_is_up_to_date() {
        let settings = settings("proxy:1", "canary");
        let current = hash("proxy:1");
        let status = json!({"containers": ["proxy"], "revision": "canary", "hash": current});
        let sidecar = sidecar(&status, json!([]), &settings);
        assert!(!sidecar.is_stale());
        assert_eq!(
            sidecar.verdict(),
            format!("up to date: injected with revision canary (hash {current})")
        );
        assert_eq!(
            sidecar.to_json(),
            json!({"stale": false, "revision": "canary", "hash": current,
                "currentRevision": "canary", "currentHash": current, "owners": [],
                "verdict": sidecar.verdict()})
        );
    }

    /// The report says which of the two differs.
    #[rstest]
    #[case::hash("canary", "proxy:1", "the hash differs")]
    #[case::revision("stable", "proxy:2", "the revision name differs")]
    #[case::both("stable", "proxy:1", "the revision name and the hash differ")]
    fn a_pod_injected_with_another_revision_or_hash_is_stale_and_names_its_owner(
        #[case] revision: &str,
        #[case] image: &str,
        #[case] differs: &str,
    ) {
        let settings = settings("proxy:2", "canary");
        let (old, new) = (hash(image), hash("proxy:2"));
        let status = json!({"revision": revision, "hash": old});
        let owners = json!([
            {"kind": "Other", "name": "o"},
            {"kind": "ReplicaSet", "name": "web-7c9", "controller": true},
            {"kind": "NoName"}
        ]);
        let sidecar = sidecar(&status, owners, &settings);
        assert!(sidecar.is_stale());
        assert_eq!(
            sidecar.verdict(),
            format!(
                "stale: injected with revision {revision} (hash {old}), the policy now injects revision canary (hash {new}): {differs}; restart its owner ReplicaSet/web-7c9, Other/o"
            )
        );
        let json = sidecar.to_json();
        assert_eq!(json["owners"][0]["controller"], true);
        assert_eq!(
            [
                &json["revision"],
                &json["hash"],
                &json["currentRevision"],
                &json["currentHash"]
            ],
            [&json!(revision), &json!(old), &json!("canary"), &json!(new)]
        );
    }

    /// Before revision names, `revision` held the hash: such a Pod is up to date when the hash is
    /// the same, whatever the settings' revision is named, and stale when it is not.
    #[test]
    fn an_annotation_older_than_revision_names_is_compared_by_its_hash() {
        let current = hash("proxy:1");
        let old = json!({"containers": ["proxy"], "revision": current});
        let up_to_date = sidecar(&old, json!([]), &settings("proxy:1", "canary"));
        assert!(!up_to_date.is_stale());
        assert_eq!(
            up_to_date.verdict(),
            format!(
                "up to date: injected with hash {current}, under no revision name (the annotation is older than revision names)"
            )
        );
        assert_eq!(up_to_date.to_json()["revision"], Value::Null);
        assert_eq!(up_to_date.to_json()["hash"], json!(current));

        let stale = sidecar(&old, json!([]), &settings("proxy:2", "default"));
        assert!(stale.is_stale() && stale.hash_differs() && !stale.revision_differs());
        assert_eq!(
            stale.verdict(),
            format!(
                "stale: injected with hash {current}, under no revision name (the annotation is older than revision names), the policy now injects revision default (hash {}): the hash differs; restart its owner: it has none, so delete and recreate the Pod",
                hash("proxy:2")
            )
        );
    }

    #[test]
    fn an_unknown_hash_is_stale() {
        let settings = settings("proxy:1", "default");
        let current = hash("proxy:1");
        let sidecar = Sidecar::of(&pod(Some("{"), Value::Null), &settings, None)
            .unwrap()
            .unwrap();
        assert!(sidecar.is_stale());
        let verdict = sidecar.verdict();
        assert!(
            verdict.starts_with("stale: injected with an unknown revision and hash (metadata.annotations.sidecar.istio.io/status: not valid JSON")
                && verdict.ends_with(&format!("), the policy now injects revision default (hash {current}); restart its owner: it has none, so delete and recreate the Pod")),
            "{verdict}"
        );
        let none = Sidecar::of(&pod(Some("{}"), Value::Null), &settings, None)
            .unwrap()
            .unwrap();
        assert!(
            none.verdict().starts_with(
                "stale: injected with an unknown revision and hash (it records no hash), "
            ),
            "{}",
            none.verdict()
        );
        // As Istio's injector writes it: the revision's name, no hash. The same name does not
        // make it up to date.
        let istio = self::sidecar(
            &json!({"containers": ["istio-proxy"], "imagePullSecrets": null, "revision": "default"}),
            Value::Null,
            &settings,
        );
        assert!(istio.is_stale() && !istio.revision_differs());
        assert!(
            istio.verdict().starts_with(
                "stale: injected with revision default and an unknown hash (it records no hash), "
            ),
            "{}",
            istio.verdict()
        );
    }

    #[test]
    fn a_pod_without_the_status_annotation_has_no_sidecar() {
        assert_eq!(
            Sidecar::of(&pod(None, json!([])), &settings("p", "default"), None),
            Ok(None)
        );
    }
}
