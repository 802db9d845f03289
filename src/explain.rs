//! "Why was (or wasn't) my sidecar injected?", answered offline for the CLI and the playground.
//!
//! The decision and the injection are the policy's own functions; whether the policy server calls
//! the policy at all is [`crate::scope`]'s. This puts them together in one [`Report`] per Pod or
//! workload, with the mistakes people commonly make: the override on the workload instead of its
//! pod template, a value that is not exactly "true" or "false".

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::decision::{Decision, Reason, Step, decide_for_pod};
use crate::error::{RequestError, json_type, path_within};
use crate::inject::inject_in;
use crate::keys::INJECT_KEY;
use crate::owner::Workload;
use crate::placement::Choice;
use crate::pod::PodView;
use crate::scope::{Call, Namespaces, Policy};
use crate::settings::InjectionPolicy;
use crate::stale::Sidecar;
use crate::status::Status;
use crate::workload::PodSource;

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

/// The seed truth table as the README's "How the decision is taken" writes it, row by row
/// (a test holds the two together): namespaceSelector matches, default `policy`, Pod override,
/// injected? The playground draws it from here; [`Row::seed_row`] says which row applies.
pub const SEED_TABLE: [[&str; 4]; 7] = [
    ["yes", "enabled", "\"true\"", "yes"],
    ["yes", "enabled", "\"false\"", "no"],
    ["yes", "enabled", "absent", "yes"],
    ["yes", "disabled", "\"true\"", "yes"],
    ["yes", "disabled", "\"false\"", "no"],
    ["yes", "disabled", "absent", "no"],
    ["no", "any", "any", "no (the policy is never called)"],
];

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

impl Row {
    /// The row of [`SEED_TABLE`] that applies, numbered from 1 as the README numbers them;
    /// `None` when a step outside the table decided.
    pub fn seed_row(&self) -> Option<usize> {
        let Some(step) = self.step else {
            return Some(SEED_TABLE.len());
        };
        if !step.is_seed_row() {
            return None;
        }
        let policy = match self.policy {
            InjectionPolicy::Enabled => 0,
            InjectionPolicy::Disabled => 3,
        };
        let pod_override = match self.pod_override {
            Some(true) => 1,
            Some(false) => 2,
            None => 3,
        };
        Some(policy + pod_override)
    }
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
    /// against the revision's name and the hash of what the settings inject now.
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
    /// The injected init containers that run after the Pod's own (`networkInitContainers`,
    /// without native sidecars); empty when the Pod has none of its own.
    pub after_own_init_containers: Vec<String>,
    /// What the Pod chose of the placement, against the settings ([`crate::placement::Choice`]).
    pub placement: Vec<String>,
    /// How the Prometheus metrics merge pointed the Pod's scraping at the agent; `None` when it
    /// did not ([`crate::metrics`]).
    pub metrics: Option<MetricsMerge>,
}

/// What the metrics merge did to one Pod, as its status annotation and annotations say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsMerge {
    /// The injected container Prometheus now scrapes.
    pub container: String,
    /// Where, from the Pod's annotations (`prometheus.io/port` and `prometheus.io/path`).
    pub port: String,
    pub path: String,
    /// The container's environment variable holding the Pod's own scrape settings, if it had any.
    pub env: Option<String>,
    /// The Pod's annotations replaced, with their values before.
    pub replaced: BTreeMap<String, String>,
}

impl MetricsMerge {
    fn of(pod: &Value, metrics: crate::status::Metrics) -> Self {
        let annotation = |key: &str| {
            pod.pointer("/metadata/annotations")
                .and_then(|map| map.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Self {
            container: metrics.container,
            port: annotation("prometheus.io/port"),
            path: annotation("prometheus.io/path"),
            env: metrics.env,
            replaced: metrics.replaced,
        }
    }

    /// One line for a person: where Prometheus scrapes now, and where the Pod's own went.
    pub fn describe(&self) -> String {
        let scraped = format!(
            "Prometheus scrapes {} at :{}{}",
            self.container, self.port, self.path
        );
        match &self.env {
            Some(env) => {
                let own: Vec<String> = self
                    .replaced
                    .iter()
                    .map(|(key, value)| format!("{key}: {value}"))
                    .collect();
                format!(
                    "{scraped}; the Pod's own scrape settings ({}) are in its {env}",
                    own.join(", ")
                )
            }
            None => format!("{scraped} (the Pod had no scrape settings of its own)"),
        }
    }
}

impl Injection {
    /// Reads what the status annotation of an injected Pod says (the injection just wrote it).
    fn of(pod: &Value) -> Self {
        let mut status = Status::of(pod).ok().flatten().unwrap_or_default();
        let metrics = status.metrics.take().map(|m| MetricsMerge::of(pod, m));
        Self {
            metrics,
            templates: status.templates.unwrap_or_default(),
            status_port: status.probes.as_ref().map(|probes| probes.status_port),
            rewritten_probes: status
                .probes
                .map(|probes| probes.rewritten)
                .unwrap_or_default(),
            after_own_init_containers: after_own(pod, &status.init_containers),
            placement: Choice::of(
                pod.pointer("/metadata/annotations")
                    .and_then(Value::as_object),
            )
            .map(|choice| choice.describe())
            .unwrap_or_default(),
        }
    }
}

/// The init containers of `pod` named in `injected` that come after one of the Pod's own.
fn after_own(pod: &Value, injected: &[String]) -> Vec<String> {
    let names = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|container| container.get("name")?.as_str());
    names
        .skip_while(|name| injected.iter().any(|i| i == name))
        .filter(|name| injected.iter().any(|i| i == name))
        .map(str::to_string)
        .collect()
}

/// What happens to an object's sidecar, in the word the CLI and the playground print first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Injected,
    NotInjected,
    /// The Pod carries the sidecar already; the policy leaves it alone.
    AlreadyInjected,
    /// The policy rejects the Pod: it refuses a sidecar that is mandatory in its namespace.
    Rejected,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Injected => "injected",
            Self::NotInjected => "not injected",
            Self::AlreadyInjected => "already injected",
            Self::Rejected => "rejected",
        })
    }
}

impl Report {
    /// The one word for the object's sidecar: a Pod that already carries it is neither injected
    /// again nor without it.
    pub fn verdict(&self) -> Verdict {
        if self.already_injected {
            Verdict::AlreadyInjected
        } else if self.decision.is_refusal() && !matches!(self.call, Call::NotCalled(_)) {
            Verdict::Rejected
        } else if self.injected {
            Verdict::Injected
        } else {
            Verdict::NotInjected
        }
    }

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
    /// with the words and sentences as they are printed for people, and the seed table's row.
    pub fn to_json(&self) -> Value {
        let called = !matches!(self.call, Call::NotCalled(_));
        serde_json::json!({
            "kind": self.object.kind,
            "namespace": self.object.namespace,
            "name": self.object.name,
            "verdict": self.verdict().to_string(),
            "injected": self.injected,
            "alreadyInjected": self.already_injected,
            "reason": self.reason(),
            "policyServer": {
                "calls": match self.call {
                    Call::Called(_) => Some(true),
                    Call::NotCalled(_) => Some(false),
                    Call::Unknown(_) => None,
                },
                "verdict": self.call.verdict(),
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
                "seedRow": self.row.seed_row(),
                "text": self.row.to_string(),
            },
            "hints": self.hints,
            "templates": self.injection.as_ref().map(|i| &i.templates),
            "probes": self.injection.as_ref().and_then(|i| Some(serde_json::json!({
                "statusPort": i.status_port?,
                "rewritten": i.rewritten_probes,
            }))),
            "afterOwnInitContainers": self.injection.as_ref().map(|i| &i.after_own_init_containers),
            "placement": self.injection.as_ref().map(|i| &i.placement),
            "metrics": self.injection.as_ref().and_then(|i| i.metrics.as_ref()).map(|m| serde_json::json!({
                "container": m.container,
                "port": m.port,
                "path": m.path,
                "env": m.env,
                "replaced": m.replaced,
                "text": m.describe(),
            })),
            "sidecar": self.sidecar.as_ref().map(Sidecar::to_json),
        })
    }
}

/// An object that cannot be evaluated; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct ObjectError {
    pub object: String,
    pub message: String,
    /// The field of the policy's template the error is about, when it is the policy's
    /// ([`RequestError::settings_path`]): the playground points there.
    pub settings_path: Option<String>,
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
        // A Pod is read for its workload as the policy reads it; a workload names itself.
        let workload =
            (!source.is_pod()).then(|| Workload::of_object(object, &report.object.namespace));
        let namespace = namespaces.source(&report.object.namespace);
        let injected =
            inject_in(pod, &policy.settings, &namespace, workload).map_err(|e| ObjectError {
                object: report.object.to_string(),
                message: relocated(&e, &source),
                settings_path: e.settings_path().map(str::to_string),
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
        settings_path: None,
    };
    let failed_request = |error: RequestError| ObjectError {
        settings_path: error.settings_path().map(str::to_string),
        ..failed(relocated(&error, &source))
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
    let view = PodView::read(&pod).map_err(failed_request)?;
    let decision = decide_for_pod(
        &view,
        &namespaces.source(&object_ref.namespace),
        &policy.settings,
    )
    .map_err(|e| failed(e.to_string()))?;
    let call = policy.call(namespaces, &object_ref.namespace, view.labels);
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
        Sidecar::of(
            &pod,
            &policy.settings,
            namespaces.namespace(&object_ref.namespace),
        )
        .map_err(failed_request)?
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

/// `sidecar.istio.io/inject: true` unquoted in YAML is a boolean, which Kubernetes refuses.
fn non_string_override(pod: &Value, source: &PodSource) -> Option<String> {
    ["labels", "annotations"].into_iter().find_map(|map| {
        let value = pod.get("metadata")?.get(map)?.get(INJECT_KEY)?;
        if value.is_string() {
            return None;
        }
        Some(format!(
            "{}.{map}.{INJECT_KEY}: expected a string, got {}; Kubernetes refuses it too: quote the value, as in \"true\"",
            path_within(&source.template_location(), "metadata"),
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
            let at = path_within(&source.template_location(), rest);
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
