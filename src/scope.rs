//! The policy server's side of the answer: which Pods it sends to the policy at all.
//!
//! The policy is deployed as a ClusterAdmissionPolicy or an AdmissionPolicy, or only its settings
//! are known. [`Policy`] reads either: the settings, the scope (namespaceSelector, objectSelector,
//! or the AdmissionPolicy's own namespace) and the mistakes in the manifest that stop injection
//! wherever it applies. With the labels of the namespaces people told about ([`Namespaces`]), it
//! says whether the policy server calls the policy for a Pod ([`Call`]), and why. The policy's own
//! decision is [`crate::decision`]; [`crate::explain`] puts the two together in a report, as the
//! CLI and the playground show it. The namespaceSelector is read as the Kubewarden controller
//! installs it ([`crate::webhook`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{SettingsError, path_within};
use crate::namespace::{Namespace, NamespaceSource};
use crate::selector::LabelSelector;
use crate::settings::Settings;
use crate::webhook::{self, KUBEWARDEN_NAMESPACE, PolicyKind};

/// The policy as deployed: its settings, and what decides whether the policy server calls it.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The manifest's `metadata.name`; `None` for plain settings.
    pub name: Option<String>,
    pub settings: Settings,
    pub scope: Scope,
    /// Problems in the policy's manifest that stop injection wherever it applies.
    pub warnings: Vec<String>,
}

/// Which Pods the policy server sends to the policy.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Only the settings were given: which namespaces call the policy is not known.
    Unknown,
    /// A ClusterAdmissionPolicy; `None` selectors select everything.
    Cluster {
        namespace_selector: Option<LabelSelector>,
        object_selector: Option<LabelSelector>,
    },
    /// An AdmissionPolicy: the Pods of its own namespace.
    Namespaced {
        namespace: String,
        object_selector: Option<LabelSelector>,
    },
}

/// Settings or a policy manifest that cannot be used, with the same message the module gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("invalid settings: {0}")]
    Settings(SettingsError),
    #[error("invalid {kind}: {error}")]
    Manifest { kind: String, error: SettingsError },
}

impl Policy {
    /// Reads either plain settings or a ClusterAdmissionPolicy / AdmissionPolicy manifest, whose
    /// `spec.settings`, selectors, `rules` and `mutating` are read.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let Some(policy_kind) = PolicyKind::of(value) else {
            return Ok(Self {
                name: None,
                settings: validated(value).map_err(PolicyError::Settings)?,
                scope: Scope::Unknown,
                warnings: Vec::new(),
            });
        };
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let in_manifest = |error| PolicyError::Manifest {
            kind: kind.to_string(),
            error,
        };
        let spec = value.get("spec").unwrap_or(&Value::Null);
        let settings = validated(spec.get("settings").unwrap_or(&Value::Null)).map_err(|e| {
            in_manifest(SettingsError::new(
                path_within("spec.settings", &e.path),
                e.problem,
            ))
        })?;
        let selector = |key: &str| {
            LabelSelector::from_value(
                spec.get(key).unwrap_or(&Value::Null),
                &format!("spec.{key}"),
            )
            .map_err(in_manifest)
        };
        let object_selector = selector("objectSelector")?;
        let mut warnings = manifest_warnings(kind, spec);
        let (namespace_selector, dropped) =
            webhook::namespace_selector(&policy_kind, spec, KUBEWARDEN_NAMESPACE);
        warnings.extend(dropped);
        let scope = match policy_kind {
            PolicyKind::Cluster => Scope::Cluster {
                namespace_selector: LabelSelector::from_value(
                    namespace_selector.as_ref().unwrap_or(&Value::Null),
                    "spec.namespaceSelector",
                )
                .map_err(in_manifest)?,
                object_selector,
            },
            PolicyKind::Namespaced(namespace) => Scope::Namespaced {
                namespace,
                object_selector,
            },
        };
        Ok(Self {
            name: value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string),
            settings,
            scope,
            warnings,
        })
    }

    /// Whether the policy server calls the policy for the Pods created in `namespace`, as far as
    /// the namespace decides: a Pod's labels may still miss the policy's objectSelector.
    pub fn namespace_call(&self, namespaces: &Namespaces, namespace: &str) -> Call {
        match &self.scope {
            Scope::Unknown => Call::Unknown(
                "the settings alone do not say in which namespaces the policy server calls the policy; give the ClusterAdmissionPolicy".into(),
            ),
            Scope::Cluster {
                namespace_selector, ..
            } => namespace_call(namespace_selector.as_ref(), namespaces, namespace),
            Scope::Namespaced { namespace: own, .. } if own == namespace => {
                Call::Called(format!("the AdmissionPolicy is in namespace {namespace}"))
            }
            Scope::Namespaced { namespace: own, .. } => Call::NotCalled(format!(
                "the AdmissionPolicy is in namespace {own}, and an AdmissionPolicy only sees the Pods of its own namespace"
            )),
        }
    }

    /// Whether the policy server calls the policy for a Pod with these labels created in
    /// `namespace`: the namespace first, then the objectSelector.
    pub fn call(
        &self,
        namespaces: &Namespaces,
        namespace: &str,
        pod_labels: Option<&Map<String, Value>>,
    ) -> Call {
        let by_namespace = self.namespace_call(namespaces, namespace);
        if let Call::NotCalled(_) = by_namespace {
            return by_namespace;
        }
        match self
            .object_selector()
            .and_then(|selector| Some((selector, selector.unmet(pod_labels)?)))
        {
            Some((selector, unmet)) => Call::NotCalled(format!(
                "the Pod's labels do not match the policy's objectSelector {selector}: {}",
                unmet.explain_miss(pod_labels)
            )),
            None => by_namespace,
        }
    }

    /// The objectSelector a Pod's labels must match too, when the policy has one.
    pub fn object_selector(&self) -> Option<&LabelSelector> {
        match &self.scope {
            Scope::Unknown => None,
            Scope::Cluster {
                object_selector, ..
            }
            | Scope::Namespaced {
                object_selector, ..
            } => object_selector.as_ref(),
        }
    }
}

fn validated(settings: &Value) -> Result<Settings, SettingsError> {
    let json = serde_json::to_vec(settings).map_err(|e| SettingsError::new("", e.to_string()))?;
    Settings::validate(&json)
}

/// A policy that is not mutating, or whose rules do not include Pod creation, never injects.
fn manifest_warnings(kind: &str, spec: &Value) -> Vec<String> {
    let mut warnings = Vec::new();
    if spec.get("mutating") != Some(&Value::Bool(true)) {
        warnings.push(format!(
            "the {kind} does not set spec.mutating: true, so the policy server rejects every Pod the policy mutates instead of injecting"
        ));
    }
    let listed = |rule: &Value, key: &str, wanted: &[&str]| {
        rule.get(key)
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items
                    .iter()
                    .any(|item| item.as_str().is_some_and(|s| wanted.contains(&s)))
            })
    };
    let sends_pod_creation = spec
        .get("rules")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            rules.iter().any(|rule| {
                listed(rule, "apiGroups", &["", "*"])
                    && listed(rule, "resources", &["pods", "*"])
                    && listed(rule, "operations", &["CREATE", "*"])
            })
        });
    if !sends_pod_creation {
        warnings.push(format!(
            "no rule in the {kind}'s spec.rules covers the CREATE of core pods, so the policy server never calls the policy for a new Pod"
        ));
    }
    warnings
}

/// The namespaces people told us about: their labels (which the namespaceSelector and the
/// policy's namespace rules read) and annotations (which templates read, as `ns`).
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    known: BTreeMap<String, Namespace>,
}

impl Namespaces {
    /// Records a namespace's labels, with the name label Kubernetes adds to every namespace; the
    /// annotations of a namespace already recorded stay.
    pub fn insert(&mut self, name: &str, labels: Map<String, Value>) {
        let annotations = self
            .known
            .get(name)
            .map(|namespace| namespace.annotations.clone())
            .unwrap_or_default();
        self.insert_with(name, labels, annotations);
    }

    /// Records a namespace's labels and annotations.
    pub fn insert_with(
        &mut self,
        name: &str,
        labels: Map<String, Value>,
        annotations: Map<String, Value>,
    ) {
        self.known
            .insert(name.to_string(), Namespace::of(name, labels, annotations));
    }

    /// Records the Namespaces in a document: a Namespace manifest, or a List of them, as
    /// `kubectl get namespace NAME -o yaml` and `kubectl get namespaces -o yaml` print them.
    /// Other objects are left alone.
    pub fn insert_manifests(&mut self, document: &Value) {
        for object in crate::workload::objects(document) {
            self.insert_manifest(object);
        }
    }

    /// Records a Namespace manifest; false for any other object.
    pub fn insert_manifest(&mut self, object: &Value) -> bool {
        let Some(name) = namespace_name(object) else {
            return false;
        };
        let map = |pointer| {
            object
                .pointer(pointer)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        self.insert_with(name, map("/metadata/labels"), map("/metadata/annotations"));
        true
    }

    /// The namespace `name`, when it was told.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.known.get(name)
    }

    fn get(&self, name: &str) -> Option<&Map<String, Value>> {
        self.known.get(name).map(|namespace| &namespace.labels)
    }

    /// The namespace `name` as the policy reads it: from what was told, else not readable,
    /// saying what to give.
    pub fn source(&self, name: &str) -> NamespaceSource {
        match self.known.get(name) {
            Some(namespace) => NamespaceSource::known(namespace.clone()),
            None => {
                let message = format!(
                    "its manifest was not given; give it (kubectl get namespace {name} -o yaml), or its labels"
                );
                NamespaceSource::new(name, Arc::new(move |_: &str| Err(message.clone())))
            }
        }
    }
}

/// The name of a Namespace manifest; `None` for any other object.
pub fn namespace_name(object: &Value) -> Option<&str> {
    let text = |pointer| object.pointer(pointer).and_then(Value::as_str);
    if text("/kind") != Some("Namespace") || text("/apiVersion") != Some("v1") {
        return None;
    }
    text("/metadata/name")
}

/// Whether the policy server calls the policy for this Pod, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Called(String),
    NotCalled(String),
    /// Not known from the input; the decision is given as if the policy were called.
    Unknown(String),
}

impl Call {
    pub fn reason(&self) -> &str {
        match self {
            Self::Called(why) | Self::NotCalled(why) | Self::Unknown(why) => why,
        }
    }

    /// What the policy server does, in the words the CLI and the playground print before the
    /// reason.
    pub fn verdict(&self) -> &'static str {
        match self {
            Self::Called(_) => "calls the policy",
            Self::NotCalled(_) => "does not call the policy",
            Self::Unknown(_) => "assumed to call the policy",
        }
    }
}

/// Labels written `key=value,key=value`, as kubectl's `--show-labels` prints them; empty text is
/// no labels.
pub fn parse_label_pairs(text: &str) -> Result<Map<String, Value>, String> {
    let mut labels = Map::new();
    for pair in text.split(',').filter(|pair| !pair.trim().is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                labels.insert(key.trim().to_string(), value.trim().into());
            }
            _ => {
                return Err(format!(
                    "expected key=value pairs separated by commas, got {pair:?}"
                ));
            }
        }
    }
    Ok(labels)
}

fn namespace_call(
    selector: Option<&LabelSelector>,
    namespaces: &Namespaces,
    namespace: &str,
) -> Call {
    let Some(selector) = selector else {
        return Call::Called("the ClusterAdmissionPolicy has no namespaceSelector".into());
    };
    let Some(labels) = namespaces.get(namespace) else {
        return Call::Unknown(format!(
            "the labels of namespace {namespace} are not given, so whether it matches the namespaceSelector {selector} is not known"
        ));
    };
    match selector.unmet(Some(labels)) {
        None => Call::Called(format!(
            "namespace {namespace} matches the namespaceSelector {selector}"
        )),
        Some(unmet) => Call::NotCalled(format!(
            "namespace {namespace} does not match the namespaceSelector {selector}: {}",
            unmet.explain_miss(Some(labels))
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests;
