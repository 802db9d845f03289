//! "Why was (or wasn't) my sidecar injected?", answered offline for the CLI and the playground.
//!
//! The decision and the injection are the policy's own functions. Around them this adds what only
//! the policy server knows at admission, whether it calls the policy at all (namespaceSelector,
//! objectSelector, rules), and the mistakes people commonly make: the override on the workload
//! instead of its pod template, a value that is not exactly "true" or "false".

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::decision::{Decision, Reason, Step, decide_for_pod};
use crate::error::{RequestError, SettingsError, json_type};
use crate::inject::inject;
use crate::pod::PodView;
use crate::selector::LabelSelector;
use crate::settings::{INJECT_KEY, InjectionPolicy, Settings};
use crate::stale::Sidecar;
use crate::status::Status;
use crate::webhook::{self, KUBEWARDEN_NAMESPACE, NAMESPACE_NAME_LABEL, PolicyKind};
use crate::workload::PodSource;

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
                prefixed("spec.settings", &e.path),
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

/// `a.b`, either of which may be empty.
fn prefixed(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        ("", path) => path.to_string(),
        (prefix, "") => prefix.to_string(),
        (prefix, path) => format!("{prefix}.{path}"),
    }
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

/// The labels of the namespaces people told us about.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    labels: BTreeMap<String, Map<String, Value>>,
}

impl Namespaces {
    /// Records a namespace's labels, with the name label Kubernetes adds to every namespace.
    pub fn insert(&mut self, name: &str, mut labels: Map<String, Value>) {
        labels.insert(NAMESPACE_NAME_LABEL.into(), name.into());
        self.labels.insert(name.to_string(), labels);
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
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        self.insert(name, labels);
        true
    }

    fn get(&self, name: &str) -> Option<&Map<String, Value>> {
        self.labels.get(name)
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
}

/// The object a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.name.is_empty() {
            "(unnamed)"
        } else {
            &self.name
        };
        write!(f, "{} {}/{name}", self.kind, self.namespace)
    }
}

/// The row of the seed truth table that applies, or the decision step that decided outside it.
/// Both tables are at the top of [`crate::decision`] and in the README's "How the decision is
/// taken".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The step of the decision that decided; `None` when the policy server does not call the
    /// policy (the seed table's last row). Reports for programs write it as a number, 0 for none.
    pub step: Option<Step>,
    /// `None` when the namespace's labels are not known.
    pub namespace_selected: Option<bool>,
    pub policy: InjectionPolicy,
    pub pod_override: Option<bool>,
    pub injected: bool,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let Some(step) = self.step else {
            return f.write_str("namespaceSelector match: no, policy: any, pod override: any → no (the policy is not called)");
        };
        let selected = match self.namespace_selected {
            Some(selected) => yes_no(selected),
            None => "assumed yes",
        };
        if step.is_seed_row() {
            write!(
                f,
                "namespaceSelector match: {selected}, policy: {}, pod override: {} → {}",
                self.policy,
                self.pod_override
                    .map_or("absent".to_string(), |o| o.to_string()),
                yes_no(self.injected)
            )
        } else {
            write!(
                f,
                "outside the seed table: step {} of the decision ({}) → {}",
                step.number(),
                step.summary(),
                yes_no(self.injected)
            )
        }
    }
}

/// Everything known about one object's sidecar.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub object: ObjectRef,
    pub call: Call,
    /// The policy's decision for the Pod, as if it were called.
    pub decision: Decision,
    /// The sidecar is injected when this Pod is created.
    pub injected: bool,
    /// The Pod already carries the sidecar (its status annotation).
    pub already_injected: bool,
    pub row: Row,
    /// Likely mistakes, each a sentence that says what to change.
    pub hints: Vec<String>,
    /// What the injection did, from the status annotation it wrote; `None` until injected.
    pub injection: Option<Injection>,
    /// For a Pod that carries the status annotation (a running Pod, typically): its sidecar
    /// against the revision the settings inject now.
    pub sidecar: Option<Sidecar>,
}

/// What an injection did beyond adding the template: which named templates it applied, and
/// which probes it rewrote to which port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Injection {
    /// The named templates applied, in order; empty with the one `template`.
    pub templates: Vec<String>,
    /// The agent's status port the probes now go to, when some were rewritten.
    pub status_port: Option<u16>,
    /// The paths of the rewritten probes (`/app-health/web/readyz`).
    pub rewritten_probes: Vec<String>,
}

impl Injection {
    /// Reads what the status annotation of an injected Pod says (the injection just wrote it).
    fn of(pod: &Value) -> Self {
        let status = Status::of(pod).ok().flatten().unwrap_or_default();
        Self {
            templates: status.templates.unwrap_or_default(),
            status_port: status.probes.as_ref().map(|probes| probes.status_port),
            rewritten_probes: status
                .probes
                .map(|probes| probes.rewritten)
                .unwrap_or_default(),
        }
    }
}

impl Report {
    /// The Pod ends up with the sidecar, injected now or before.
    pub fn has_sidecar(&self) -> bool {
        self.injected || self.already_injected
    }

    /// The one sentence that answers "why?": the policy server's reason when it does not call the
    /// policy, else the policy's.
    pub fn reason(&self) -> String {
        match &self.call {
            Call::NotCalled(why) => format!("the policy is not called: {why}"),
            _ => self.decision.reason.to_string(),
        }
    }
}

impl Report {
    /// The report for programs (the CLI's `--output json`, the playground): every field above,
    /// with the sentences as they are printed for people.
    pub fn to_json(&self) -> Value {
        let called = !matches!(self.call, Call::NotCalled(_));
        serde_json::json!({
            "kind": self.object.kind,
            "namespace": self.object.namespace,
            "name": self.object.name,
            "injected": self.injected,
            "alreadyInjected": self.already_injected,
            "reason": self.reason(),
            "policyServer": {
                "calls": match self.call {
                    Call::Called(_) => Some(true),
                    Call::NotCalled(_) => Some(false),
                    Call::Unknown(_) => None,
                },
                "reason": self.call.reason(),
            },
            "decision": {
                "inject": self.decision.inject,
                "step": self.decision.reason.step().number(),
                "reason": self.decision.reason.to_string(),
            },
            // What kubectl shows the person creating the Pod, when the policy is called.
            "warning": if called { self.decision.warning() } else { None },
            "row": {
                "step": self.row.step.map_or(0, Step::number),
                "namespaceSelectorMatch": self.row.namespace_selected,
                "policy": self.row.policy.to_string(),
                "podOverride": self.row.pod_override,
                "injected": self.row.injected,
                "text": self.row.to_string(),
            },
            "hints": self.hints,
            "templates": self.injection.as_ref().map(|i| &i.templates),
            "probes": self.injection.as_ref().and_then(|i| Some(serde_json::json!({
                "statusPort": i.status_port?,
                "rewritten": i.rewritten_probes,
            }))),
            "sidecar": self.sidecar.as_ref().map(Sidecar::to_json),
        })
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

/// An object that cannot be evaluated; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct ObjectError {
    pub object: String,
    pub message: String,
}

/// The report for one object; `None` when it holds no Pod (a Service, a ConfigMap…).
/// `namespace` is used for objects that do not name their own, as kubectl does.
pub fn check(
    object: &Value,
    policy: &Policy,
    namespaces: &Namespaces,
    namespace: &str,
) -> Result<Option<Report>, ObjectError> {
    Ok(evaluate(object, policy, namespaces, namespace)?.map(|(report, _)| report))
}

/// As [`check`], and injects the sidecar into the object when the Pod would get it, exactly as
/// the policy injects the Pod.
pub fn inject_object(
    object: &mut Value,
    policy: &Policy,
    namespaces: &Namespaces,
    namespace: &str,
) -> Result<Option<Report>, ObjectError> {
    let Some((mut report, source)) = evaluate(object, policy, namespaces, namespace)? else {
        return Ok(None);
    };
    if report.injected {
        let Some(pod) = source.pod(object) else {
            return Ok(Some(report));
        };
        let injected =
            inject(pod, &policy.settings, &report.object.namespace).map_err(|e| ObjectError {
                object: report.object.to_string(),
                message: relocated(&e, &source),
            })?;
        report.injection = Some(Injection::of(&injected));
        source.put_back(object, injected);
    }
    Ok(Some(report))
}

fn evaluate(
    object: &Value,
    policy: &Policy,
    namespaces: &Namespaces,
    default_namespace: &str,
) -> Result<Option<(Report, PodSource)>, ObjectError> {
    let Some(source) = PodSource::of(object) else {
        return Ok(None);
    };
    let object_ref = ObjectRef {
        kind: source.kind.clone(),
        namespace: source
            .namespace
            .clone()
            .unwrap_or_else(|| default_namespace.to_string()),
        name: source.name.clone(),
    };
    let failed = |message: String| ObjectError {
        object: object_ref.to_string(),
        message,
    };
    let pod = source.pod(object).ok_or_else(|| {
        failed(format!(
            "{}: expected an object with the pod template",
            source.template_location()
        ))
    })?;
    if let Some(message) = non_string_override(&pod, &source) {
        return Err(failed(message));
    }
    let view = PodView::read(&pod).map_err(|e| failed(relocated(&e, &source)))?;
    let decision = decide_for_pod(&view, &object_ref.namespace, &policy.settings);
    let call = call(policy, namespaces, &object_ref.namespace, &view);
    let called = !matches!(call, Call::NotCalled(_));
    let row = Row {
        step: called.then(|| decision.reason.step()),
        namespace_selected: match &call {
            Call::Called(_) => Some(true),
            Call::NotCalled(_) => Some(false),
            Call::Unknown(_) => None,
        },
        policy: policy.settings.policy,
        pod_override: decision.reason.pod_override(),
        injected: called && decision.inject,
    };
    let hints = hints(object, &source, &view, &decision, &call);
    let sidecar = if source.is_pod() {
        Sidecar::of(&pod, &policy.settings).map_err(|e| failed(relocated(&e, &source)))?
    } else {
        None
    };
    let report = Report {
        object: object_ref,
        injected: row.injected,
        already_injected: decision.reason == Reason::AlreadyInjected,
        call,
        decision,
        row,
        hints,
        injection: None,
        sidecar,
    };
    Ok(Some((report, source)))
}

fn call(policy: &Policy, namespaces: &Namespaces, namespace: &str, pod: &PodView) -> Call {
    let by_namespace = policy.namespace_call(namespaces, namespace);
    if let Call::NotCalled(_) = by_namespace {
        return by_namespace;
    }
    match policy
        .object_selector()
        .and_then(|selector| Some((selector, selector.unmet(pod.labels)?)))
    {
        Some((selector, unmet)) => Call::NotCalled(format!(
            "the Pod's labels do not match the policy's objectSelector {selector}: {}",
            unmet.explain_miss(pod.labels)
        )),
        None => by_namespace,
    }
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

/// `sidecar.istio.io/inject: true` unquoted in YAML is a boolean, which Kubernetes refuses.
fn non_string_override(pod: &Value, source: &PodSource) -> Option<String> {
    ["labels", "annotations"].into_iter().find_map(|map| {
        let value = pod.get("metadata")?.get(map)?.get(INJECT_KEY)?;
        if value.is_string() {
            return None;
        }
        Some(format!(
            "{}.{map}.{INJECT_KEY}: expected a string, got {}; Kubernetes refuses it too: quote the value, as in \"true\"",
            prefixed(&source.template_location(), "metadata"),
            json_type(value)
        ))
    })
}

/// The core's messages name the admission request's Pod; here they should name the manifest.
fn relocated(error: &RequestError, source: &PodSource) -> String {
    match error {
        RequestError::Field { path, problem } => {
            let rest = path
                .strip_prefix(crate::pod::OBJECT_PATH)
                .unwrap_or(path)
                .trim_start_matches('.');
            let at = prefixed(&source.template_location(), rest);
            if at.is_empty() {
                problem.clone()
            } else {
                format!("{at}: {problem}")
            }
        }
        other => other.to_string(),
    }
}

fn hints(
    object: &Value,
    source: &PodSource,
    pod: &PodView,
    decision: &Decision,
    call: &Call,
) -> Vec<String> {
    let mut hints = Vec::new();
    let on_pod = pod.label(INJECT_KEY).or_else(|| pod.annotation(INJECT_KEY));
    if !source.is_pod() {
        for (map, kind) in [("labels", "label"), ("annotations", "annotation")] {
            let Some(value) = object
                .get("metadata")
                .and_then(|metadata| metadata.get(map))
                .and_then(|map| map.get(INJECT_KEY))
            else {
                continue;
            };
            if on_pod != value.as_str() {
                hints.push(format!(
                    "the {}'s own metadata has the {kind} {INJECT_KEY}: {value}, which the policy never sees: it reads the Pod's, so set it in {}.metadata.labels",
                    source.kind,
                    source.template_location()
                ));
            }
        }
    }
    if let Some(ignored) = decision.reason.ignored_override() {
        let meant = match ignored.value.to_ascii_lowercase().as_str() {
            "yes" | "y" | "on" | "enabled" | "enable" | "1" | "true" => Some("true"),
            "no" | "n" | "off" | "disabled" | "disable" | "0" | "false" => Some("false"),
            _ => None,
        };
        let suggestion = meant.map_or(String::new(), |meant| format!("; write \"{meant}\""));
        hints.push(format!(
            "the Pod's {ignored}, which makes no choice: only exactly \"true\" or \"false\" count{suggestion}"
        ));
    }
    if let Call::NotCalled(_) = call
        && on_pod == Some("true")
    {
        hints.push(format!(
            "the Pod asks for the sidecar with {INJECT_KEY}: \"true\", but a Pod's choice only counts where the policy server calls the policy"
        ));
    }
    hints
}

#[cfg(test)]
mod tests;
