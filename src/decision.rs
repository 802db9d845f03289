//! Whether a Pod gets the sidecar, and the reason, in words a person can act on.
//!
//! The policy server's `namespaceSelector` has already chosen the namespaces in which this policy
//! runs at all. Inside them, the decision is Istio's, taken in this order:
//!
//! | step | condition                                                   | injected? |
//! |------|-------------------------------------------------------------|-----------|
//! | 1    | not the creation of a Pod (read from the request: `admission`) | untouched |
//! | 2    | namespace kube-system, kube-public or in ignoredNamespaces  | no        |
//! | 3    | `spec.hostNetwork: true`                                    | no        |
//! | 4    | annotation `sidecar.istio.io/status` present                | untouched |
//! | 5    | a `mandatory` namespace: the Pod refuses the sidecar        | rejected (400) |
//! |      | a `mandatory` namespace: otherwise                          | yes       |
//! |      | `namespaceRules: istio`: none of Istio's webhooks selects it | no        |
//! | 6    | label (else annotation) `sidecar.istio.io/inject` = "true"  | yes       |
//! |      | label (else annotation) `sidecar.istio.io/inject` = "false" | no        |
//! | 7    | labels match a `neverInjectSelector`                        | no        |
//! |      | labels match an `alwaysInjectSelector`                      | yes       |
//! | 8    | `policy`                                                    | enabled → yes, disabled → no |
//!
//! Steps 2 and 3 are security rules that nothing in the settings or the Pod overrides. When they
//! refuse a Pod that asked for the sidecar, [`Decision::warning`] says so to the person creating it.
//! Step 5 reads the Pod's Namespace, and only when the settings have `mandatory` or
//! `namespaceRules` ([`crate::namespace_rules`]); without them it decides nothing.
//!
//! With the namespace selected, this gives the seed truth table (without `mandatory` and
//! `namespaceRules`, which can decide first, at step 5):
//!
//! | default policy | pod override | injected? |
//! |----------------|--------------|-----------|
//! | enabled        | true         | yes       |
//! | enabled        | false        | no        |
//! | enabled        | absent       | yes       |
//! | disabled       | true         | yes       |
//! | disabled       | false        | no        |
//! | disabled       | absent       | no        |

use std::fmt;

use crate::keys::{INJECT_KEY, STATUS_KEY};
use crate::namespace::{NamespaceError, NamespaceSource};
use crate::namespace_rules::{self, NamespaceRules};
use crate::pod::PodView;
use crate::settings::{InjectionPolicy, PROTECTED_NAMESPACES, Settings};

/// The outcome for one admission request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub inject: bool,
    pub reason: Reason,
}

/// The steps of the decision, as numbered in the table at the top of this module and in the
/// README's "How the decision is taken"; the first that applies decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// 1: anything but the creation of a Pod (read from the request, in `admission`).
    NotPodCreation = 1,
    /// 2: kube-system, kube-public, or a namespace in `ignoredNamespaces`.
    IgnoredNamespace = 2,
    /// 3: `spec.hostNetwork: true`.
    HostNetwork = 3,
    /// 4: the status annotation is there.
    AlreadyInjected = 4,
    /// 5: the Namespace's rules: `mandatory`, `namespaceRules`.
    NamespaceRules = 5,
    /// 6: the Pod's `sidecar.istio.io/inject`, exactly "true" or "false".
    PodOverride = 6,
    /// 7: a `neverInjectSelector`, else an `alwaysInjectSelector`.
    Selectors = 7,
    /// 8: the policy's default.
    DefaultPolicy = 8,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Self; 8] = [
        Self::NotPodCreation,
        Self::IgnoredNamespace,
        Self::HostNetwork,
        Self::AlreadyInjected,
        Self::NamespaceRules,
        Self::PodOverride,
        Self::Selectors,
        Self::DefaultPolicy,
    ];

    /// Its number in the tables, which reports print.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// What decides at this step, in a few words.
    pub fn summary(self) -> &'static str {
        match self {
            Self::NotPodCreation => "not a Pod creation",
            Self::IgnoredNamespace => "a namespace where sidecars are never injected",
            Self::HostNetwork => "hostNetwork, a security rule",
            Self::AlreadyInjected => "already injected",
            Self::NamespaceRules => "the namespace's rules (mandatory, namespaceRules)",
            Self::PodOverride => "the Pod's own choice",
            Self::Selectors => "neverInjectSelector or alwaysInjectSelector",
            Self::DefaultPolicy => "the policy's default",
        }
    }

    /// Whether a decision at this step is a row of the seed truth table (this module's
    /// documentation): that table has only the Pod's override and the default policy, steps 6
    /// and 8; the other steps decide outside it.
    pub fn is_seed_row(self) -> bool {
        matches!(self, Self::PodOverride | Self::DefaultPolicy)
    }
}

/// Why the sidecar was or was not injected. Each renders as one plain sentence.
///
/// From step 2 on, the Pod's `sidecar.istio.io/inject` has been read: `found` is that override as
/// the Pod gives it, whatever its value, and whether it counted. What a step makes of it is the
/// step's: steps 2 and 3 warn when it asks for the sidecar ([`Decision::warning`]); at steps 6
/// and 7 it can only be a value that makes no choice, which the reason points out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Step 1: an UPDATE, DELETE or CONNECT.
    NotCreate { operation: String },
    /// Step 1: another kind of object, or a Pod subresource.
    NotPod {
        kind: String,
        group: String,
        sub_resource: Option<String>,
    },
    /// Step 2: kube-system or kube-public.
    ProtectedNamespace {
        namespace: String,
        found: Option<Override>,
    },
    /// Step 2: a namespace in `ignoredNamespaces`.
    IgnoredNamespace {
        namespace: String,
        found: Option<Override>,
    },
    /// Step 3.
    HostNetwork { found: Option<Override> },
    /// Step 4.
    AlreadyInjected,
    /// Step 5: a namespace `mandatory` selects; `found` does not refuse.
    Mandatory {
        namespace: String,
        /// Which namespaces are mandatory, in words ([`namespace_rules::Mandatory::describe`]).
        which: String,
        found: Option<Override>,
    },
    /// Step 5: a namespace `mandatory` selects, and the Pod refuses the sidecar: the Pod is
    /// rejected ([`Decision::is_refusal`]).
    MandatoryRefused {
        namespace: String,
        which: String,
        found: Override,
    },
    /// Step 5: none of Istio's injection webhooks would be called for the Pod.
    IstioNamespaceRules {
        namespace: String,
        revision: String,
        /// Each webhook, with the first of its conditions that fails.
        why: String,
        found: Option<Override>,
    },
    /// Step 6: the Pod's label or annotation, exactly "true" or "false".
    PodChoice(Override),
    /// Step 7.
    NeverInjectSelector {
        index: usize,
        found: Option<Override>,
    },
    /// Step 7.
    AlwaysInjectSelector {
        index: usize,
        found: Option<Override>,
    },
    /// Step 8.
    DefaultPolicy {
        policy: InjectionPolicy,
        found: Option<Override>,
    },
}

/// The Pod's `sidecar.istio.io/inject` as found: where, and with which value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub source: Source,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Label,
    Annotation,
}

impl Override {
    /// The label wins over the annotation, even when its value does not count.
    fn read(pod: &PodView) -> Option<Self> {
        let (source, value) = match pod.label(INJECT_KEY) {
            Some(value) => (Source::Label, value),
            None => (Source::Annotation, pod.annotation(INJECT_KEY)?),
        };
        Some(Self {
            source,
            value: value.to_string(),
        })
    }

    /// Only the exact strings count; "True", "yes" or "" make no choice (Istio ≥ 1.27).
    pub fn choice(&self) -> Option<bool> {
        match self.value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// What an error says needed the Namespace, when step 5 read it.
const MANDATORY_NEEDED: &str =
    "the policy's mandatory.namespaceSelector selects namespaces by their labels";
const ISTIO_NEEDED: &str = "the policy's namespaceRules (istio) decide by its labels";

/// Steps 2 to 8, for a Pod being created in `namespace`'s Namespace (the request's: a Pod made
/// by a controller has none in its metadata yet), read only if step 5 needs it. Step 1 is the
/// request's (`admission`).
pub fn decide_for_pod(
    pod: &PodView,
    namespace: &NamespaceSource,
    settings: &Settings,
) -> Result<Decision, NamespaceError> {
    let found = Override::read(pod);
    let name = namespace.name();
    if PROTECTED_NAMESPACES.contains(&name) {
        return Ok(untouched(Reason::ProtectedNamespace {
            namespace: name.to_string(),
            found,
        }));
    }
    if settings.is_ignored_namespace(name) {
        return Ok(untouched(Reason::IgnoredNamespace {
            namespace: name.to_string(),
            found,
        }));
    }
    if pod.host_network {
        return Ok(untouched(Reason::HostNetwork { found }));
    }
    if pod.annotation(STATUS_KEY).is_some() {
        return Ok(untouched(Reason::AlreadyInjected));
    }
    if let Some(decision) = namespace_rules(pod, namespace, settings, &found)? {
        return Ok(decision);
    }
    Ok(by_the_pod_and_settings(pod, settings, found))
}

/// Step 5: what the Namespace decides, if anything.
fn namespace_rules(
    pod: &PodView,
    namespace: &NamespaceSource,
    settings: &Settings,
    found: &Option<Override>,
) -> Result<Option<Decision>, NamespaceError> {
    if let Some(mandatory) = &settings.mandatory {
        let selected = if mandatory.needs_labels() {
            mandatory.selects(&namespace.get(MANDATORY_NEEDED)?.labels)
        } else {
            true
        };
        if selected {
            let which = mandatory.describe();
            let namespace = namespace.name().to_string();
            return Ok(Some(match found {
                Some(refused) if refused.choice() == Some(false) => {
                    untouched(Reason::MandatoryRefused {
                        namespace,
                        which,
                        found: refused.clone(),
                    })
                }
                _ => Decision {
                    inject: true,
                    reason: Reason::Mandatory {
                        namespace,
                        which,
                        found: found.clone(),
                    },
                },
            }));
        }
    }
    let Some(NamespaceRules::Istio) = settings.namespace_rules else {
        return Ok(None);
    };
    let labels = &namespace.get(ISTIO_NEEDED)?.labels;
    let revision = settings.revision.as_str();
    let webhooks = namespace_rules::istio_webhooks(revision, settings.enable_namespaces_by_default);
    match namespace_rules::istio_select(webhooks, revision, labels, pod.labels) {
        Ok(_) => Ok(None),
        Err(why) => Ok(Some(untouched(Reason::IstioNamespaceRules {
            namespace: namespace.name().to_string(),
            revision: revision.to_string(),
            why,
            found: found.clone(),
        }))),
    }
}

/// Steps 6 to 8: the Pod's own choice, the selectors, the default.
fn by_the_pod_and_settings(
    pod: &PodView,
    settings: &Settings,
    found: Option<Override>,
) -> Decision {
    if let Some(found) = &found
        && let Some(choice) = found.choice()
    {
        return Decision {
            inject: choice,
            reason: Reason::PodChoice(found.clone()),
        };
    }
    let labels = pod.labels;
    if let Some(index) = settings
        .never_inject_selector
        .iter()
        .position(|s| s.matches(labels))
    {
        return untouched(Reason::NeverInjectSelector { index, found });
    }
    if let Some(index) = settings
        .always_inject_selector
        .iter()
        .position(|s| s.matches(labels))
    {
        return Decision {
            inject: true,
            reason: Reason::AlwaysInjectSelector { index, found },
        };
    }
    Decision {
        inject: settings.policy == InjectionPolicy::Enabled,
        reason: Reason::DefaultPolicy {
            policy: settings.policy,
            found,
        },
    }
}

fn untouched(reason: Reason) -> Decision {
    Decision {
        inject: false,
        reason,
    }
}

impl Reason {
    /// The step of the decision table (this module's documentation) that decided.
    pub fn step(&self) -> Step {
        match self {
            Self::NotCreate { .. } | Self::NotPod { .. } => Step::NotPodCreation,
            Self::ProtectedNamespace { .. } | Self::IgnoredNamespace { .. } => {
                Step::IgnoredNamespace
            }
            Self::HostNetwork { .. } => Step::HostNetwork,
            Self::AlreadyInjected => Step::AlreadyInjected,
            Self::Mandatory { .. }
            | Self::MandatoryRefused { .. }
            | Self::IstioNamespaceRules { .. } => Step::NamespaceRules,
            Self::PodChoice(_) => Step::PodOverride,
            Self::NeverInjectSelector { .. } | Self::AlwaysInjectSelector { .. } => Step::Selectors,
            Self::DefaultPolicy { .. } => Step::DefaultPolicy,
        }
    }

    /// The Pod's `sidecar.istio.io/inject` as it counted in the decision: `Some(true)` or
    /// `Some(false)` when it decided, `None` when it is absent, did not count, or was not reached.
    pub fn pod_override(&self) -> Option<bool> {
        match self {
            Self::PodChoice(found) => found.choice(),
            _ => None,
        }
    }

    /// The override the Pod gave, whether or not it counted; `None` before step 2, which is
    /// where it is read, and at step 4, which does not read it.
    pub fn override_found(&self) -> Option<&Override> {
        match self {
            Self::ProtectedNamespace { found, .. }
            | Self::IgnoredNamespace { found, .. }
            | Self::HostNetwork { found }
            | Self::NeverInjectSelector { found, .. }
            | Self::AlwaysInjectSelector { found, .. }
            | Self::DefaultPolicy { found, .. }
            | Self::Mandatory { found, .. }
            | Self::IstioNamespaceRules { found, .. } => found.as_ref(),
            Self::PodChoice(found) | Self::MandatoryRefused { found, .. } => Some(found),
            Self::NotCreate { .. } | Self::NotPod { .. } | Self::AlreadyInjected => None,
        }
    }

    /// The override, when it is a value that made no choice (`"yes"`, `"True"`): at steps 6 and
    /// 7, where an exact `"true"` or `"false"` would have decided at step 5 instead.
    pub fn ignored_override(&self) -> Option<&Override> {
        match self {
            Self::NeverInjectSelector { found, .. }
            | Self::AlwaysInjectSelector { found, .. }
            | Self::DefaultPolicy { found, .. } => found.as_ref().filter(|o| o.choice().is_none()),
            _ => None,
        }
    }
}

impl Decision {
    /// Whether the Pod is rejected rather than admitted: it refuses a sidecar that is mandatory
    /// in its namespace.
    pub fn is_refusal(&self) -> bool {
        matches!(self.reason, Reason::MandatoryRefused { .. })
    }

    /// A warning for the person creating the Pod, when the Pod asked for the sidecar and a
    /// security rule refused it: the one case in which "no sidecar" is a surprise.
    pub fn warning(&self) -> Option<String> {
        let asked = match &self.reason {
            Reason::ProtectedNamespace { found, .. }
            | Reason::IgnoredNamespace { found, .. }
            | Reason::HostNetwork { found } => {
                found.as_ref().filter(|o| o.choice() == Some(true))?
            }
            _ => return None,
        };
        Some(format!(
            "the Pod asks for the sidecar with its {asked}, but none was injected: {}",
            self.reason
        ))
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_refusal() {
            "Pod rejected"
        } else if self.inject {
            "sidecar injected"
        } else {
            "sidecar not injected"
        };
        write!(f, "{verdict}: {}", self.reason)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotCreate { operation } => write!(
                f,
                "the operation is {operation}, and sidecars are only injected when a Pod is created"
            ),
            Self::NotPod {
                sub_resource: Some(sub_resource),
                ..
            } => write!(
                f,
                "the request is for the Pod's {sub_resource} subresource, not for a new Pod"
            ),
            Self::NotPod { kind, group, .. } if group.is_empty() => {
                write!(f, "the object is a {kind}, not a Pod")
            }
            Self::NotPod { kind, group, .. } => write!(
                f,
                "the object is a {kind} of API group {group}, not a core Pod"
            ),
            Self::ProtectedNamespace { namespace, .. } => write!(
                f,
                "namespace {namespace} is a Kubernetes system namespace, where sidecars are never injected"
            ),
            Self::IgnoredNamespace { namespace, .. } => {
                write!(
                    f,
                    "namespace {namespace} is in the policy's ignoredNamespaces"
                )
            }
            Self::HostNetwork { .. } => write!(
                f,
                "the Pod uses the node's network (spec.hostNetwork: true), where a sidecar would capture the node's traffic"
            ),
            Self::AlreadyInjected => write!(
                f,
                "the Pod already has the sidecar (annotation {STATUS_KEY} is set)"
            ),
            Self::Mandatory {
                namespace,
                which,
                found,
            } => {
                write!(
                    f,
                    "the sidecar is mandatory in namespace {namespace}, one of {which}"
                )?;
                match found {
                    Some(found) => write!(f, "; the Pod's {found} does not refuse it"),
                    None => Ok(()),
                }
            }
            Self::MandatoryRefused {
                namespace,
                which,
                found,
            } => write!(
                f,
                "the Pod refuses the sidecar with its {found}, but the sidecar is mandatory in namespace {namespace}, one of {which}: the cluster's administrators decide that in the policy's settings, and only they can exempt a Pod there (ignoredNamespaces, or the mandatory namespaceSelector); remove the Pod's {source} {INJECT_KEY} to create it",
                source = found.source
            ),
            Self::IstioNamespaceRules {
                namespace,
                revision,
                why,
                ..
            } => write!(
                f,
                "by Istio's namespace rules (namespaceRules: istio), none of Istio's injection webhooks for revision {revision} would be called for this Pod in namespace {namespace}: {why}"
            ),
            Self::PodChoice(choice) => write!(f, "the Pod's {choice}"),
            Self::NeverInjectSelector { index, .. } => {
                write!(f, "the Pod's labels match neverInjectSelector[{index}]")?;
                ignored_note(f, self.ignored_override())
            }
            Self::AlwaysInjectSelector { index, .. } => {
                write!(f, "the Pod's labels match alwaysInjectSelector[{index}]")?;
                ignored_note(f, self.ignored_override())
            }
            Self::DefaultPolicy { policy, .. } => {
                write!(
                    f,
                    "the Pod does not choose, and the policy's default is {policy}"
                )?;
                ignored_note(f, self.ignored_override())
            }
        }
    }
}

fn ignored_note(f: &mut fmt::Formatter<'_>, ignored: Option<&Override>) -> fmt::Result {
    match ignored {
        Some(found) => write!(
            f,
            "; its {found}, which does not count: only \"true\" or \"false\" do"
        ),
        None => Ok(()),
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {INJECT_KEY} is {:?}", self.source, self.value)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Label => "label",
            Self::Annotation => "annotation",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::{Value, json};

    fn settings(extra: Value) -> Settings {
        let mut settings =
            json!({"template": {"containers": [{"name": "proxy", "image": "proxy:1"}]}});
        if let (Some(base), Value::Object(extra)) = (settings.as_object_mut(), extra) {
            base.extend(extra);
        }
        Settings::validate(settings.to_string().as_bytes()).unwrap()
    }

    fn pod(labels: Value, annotations: Value) -> Value {
        json!({"metadata": {"name": "p", "labels": labels, "annotations": annotations}, "spec": {"containers": [{"name": "app", "image": "app"}]}})
    }

    fn decide_pod(pod: Value, namespace: &str, settings: &Settings) -> Decision {
        decide_for_pod(
            &PodView::read(&pod).unwrap(),
            &NamespaceSource::unreadable(namespace),
            settings,
        )
        .unwrap()
    }

    /// The seed truth table with the namespace selected, the override given as a label and
    /// as an annotation.
    #[rstest]
    #[case::enabled_true("enabled", Some("true"), true)]
    #[case::enabled_false("enabled", Some("false"), false)]
    #[case::enabled_absent("enabled", None, true)]
    #[case::disabled_true("disabled", Some("true"), true)]
    #[case::disabled_false("disabled", Some("false"), false)]
    #[case::disabled_absent("disabled", None, false)]
    fn seed_truth_table(
        #[case] policy: &str,
        #[case] override_value: Option<&str>,
        #[case] injected: bool,
    ) {
        let settings = settings(json!({"policy": policy}));
        let with = |value: Option<&str>| value.map_or(json!({}), |v| json!({INJECT_KEY: v}));
        let by_label = decide_pod(pod(with(override_value), json!({})), "shop", &settings);
        let by_annotation = decide_pod(pod(json!({}), with(override_value)), "shop", &settings);
        assert_eq!(by_label.inject, injected, "{by_label}");
        assert_eq!(by_annotation.inject, injected, "{by_annotation}");
        if override_value.is_some() {
            assert!(matches!(
                by_label.reason,
                Reason::PodChoice(Override {
                    source: Source::Label,
                    ..
                })
            ));
            assert!(matches!(
                by_annotation.reason,
                Reason::PodChoice(Override {
                    source: Source::Annotation,
                    ..
                })
            ));
        } else {
            assert!(matches!(
                by_label.reason,
                Reason::DefaultPolicy { found: None, .. }
            ));
        }
    }

    #[rstest]
    #[case::label_true_wins("true", "false", true)]
    #[case::label_false_wins("false", "true", false)]
    fn label_wins_over_annotation(
        #[case] label: &str,
        #[case] annotation: &str,
        #[case] injected: bool,
    ) {
        for policy in ["enabled", "disabled"] {
            let decision = decide_pod(
                pod(json!({INJECT_KEY: label}), json!({INJECT_KEY: annotation})),
                "shop",
                &settings(json!({"policy": policy})),
            );
            assert_eq!(decision.inject, injected);
            assert_eq!(
                decision.reason.to_string(),
                format!("the Pod's label {INJECT_KEY} is {label:?}")
            );
        }
    }

    #[test]
    fn a_label_that_does_not_count_still_hides_the_annotation() {
        let decision = decide_pod(
            pod(json!({INJECT_KEY: "yes"}), json!({INJECT_KEY: "true"})),
            "shop",
            &settings(json!({"policy": "disabled"})),
        );
        assert!(!decision.inject);
        assert_eq!(
            decision.to_string(),
            "sidecar not injected: the Pod does not choose, and the policy's default is disabled; \
             its label sidecar.istio.io/inject is \"yes\", which does not count: only \"true\" or \"false\" do"
        );
    }

    #[rstest]
    fn only_exact_values_count(
        #[values(
            "True", "TRUE", "yes", "y", "on", "1", "enabled", "", " true", "False", "no", "0"
        )]
        value: &str,
        #[values("enabled", "disabled")] policy: &str,
    ) {
        let settings = settings(json!({"policy": policy}));
        for (labels, annotations) in [
            (json!({INJECT_KEY: value}), json!({})),
            (json!({}), json!({INJECT_KEY: value})),
        ] {
            let decision = decide_pod(pod(labels, annotations), "shop", &settings);
            assert_eq!(
                decision.inject,
                policy == "enabled",
                "{value:?}: {decision}"
            );
            assert!(
                matches!(
                    decision.reason,
                    Reason::DefaultPolicy { found: Some(_), .. }
                ),
                "{decision:?}"
            );
        }
    }

    #[rstest]
    #[case::never_match_labels(json!({"neverInjectSelector": [{"matchLabels": {"app": "legacy"}}]}), json!({"app": "legacy"}), false)]
    #[case::never_in(json!({"neverInjectSelector": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "legacy"]}]}]}), json!({"app": "legacy"}), false)]
    #[case::never_not_in(json!({"neverInjectSelector": [{"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}]}), json!({"app": "legacy"}), false)]
    #[case::never_exists(json!({"neverInjectSelector": [{"matchExpressions": [{"key": "legacy", "operator": "Exists"}]}]}), json!({"legacy": "1"}), false)]
    #[case::never_does_not_exist(json!({"neverInjectSelector": [{"matchExpressions": [{"key": "mesh", "operator": "DoesNotExist"}]}]}), json!({"app": "x"}), false)]
    #[case::never_no_match(json!({"neverInjectSelector": [{"matchLabels": {"app": "legacy"}}]}), json!({"app": "web"}), true)]
    #[case::always_match_labels(json!({"policy": "disabled", "alwaysInjectSelector": [{"matchLabels": {"mesh": "on"}}]}), json!({"mesh": "on"}), true)]
    #[case::always_in(json!({"policy": "disabled", "alwaysInjectSelector": [{"matchExpressions": [{"key": "mesh", "operator": "In", "values": ["on"]}]}]}), json!({"mesh": "on"}), true)]
    #[case::always_not_in(json!({"policy": "disabled", "alwaysInjectSelector": [{"matchExpressions": [{"key": "mesh", "operator": "NotIn", "values": ["off"]}]}]}), json!({"mesh": "on"}), true)]
    #[case::always_exists(json!({"policy": "disabled", "alwaysInjectSelector": [{"matchExpressions": [{"key": "mesh", "operator": "Exists"}]}]}), json!({"mesh": ""}), true)]
    #[case::always_does_not_exist(json!({"policy": "disabled", "alwaysInjectSelector": [{"matchExpressions": [{"key": "batch", "operator": "DoesNotExist"}]}]}), json!({}), true)]
    #[case::always_no_match(json!({"policy": "disabled", "alwaysInjectSelector": [{"matchLabels": {"mesh": "on"}}]}), json!({"mesh": "off"}), false)]
    #[case::never_before_always(json!({"neverInjectSelector": [{"matchLabels": {"a": "1"}}], "alwaysInjectSelector": [{"matchLabels": {"a": "1"}}]}), json!({"a": "1"}), false)]
    fn selectors(#[case] extra: Value, #[case] labels: Value, #[case] injected: bool) {
        let decision = decide_pod(pod(labels, json!({})), "shop", &settings(extra));
        assert_eq!(decision.inject, injected, "{decision}");
    }

    #[test]
    fn selectors_report_which_one_matched() {
        let settings = settings(json!({
            "policy": "disabled",
            "alwaysInjectSelector": [{"matchLabels": {"a": "1"}}, {"matchLabels": {"b": "2"}}]
        }));
        let decision = decide_pod(pod(json!({"b": "2"}), json!({})), "shop", &settings);
        assert_eq!(
            decision.to_string(),
            "sidecar injected: the Pod's labels match alwaysInjectSelector[1]"
        );
    }

    #[rstest]
    #[case::pod_asks_despite_never(json!({"neverInjectSelector": [{"matchLabels": {"a": "1"}}]}), "true", true)]
    #[case::pod_refuses_despite_always(json!({"alwaysInjectSelector": [{"matchLabels": {"a": "1"}}]}), "false", false)]
    fn pod_choice_beats_selectors(
        #[case] extra: Value,
        #[case] value: &str,
        #[case] injected: bool,
    ) {
        let decision = decide_pod(
            pod(json!({"a": "1", INJECT_KEY: value}), json!({})),
            "shop",
            &settings(extra),
        );
        assert_eq!(decision.inject, injected);
        assert!(matches!(decision.reason, Reason::PodChoice(_)));
    }

    /// Every way of asking for the sidecar, and every default.
    fn askers() -> Vec<(Value, Value, Value)> {
        let always = json!({"alwaysInjectSelector": [{"matchLabels": {"app": "web"}}]});
        vec![
            (
                json!({"policy": "enabled"}),
                json!({"app": "web"}),
                json!({}),
            ),
            (
                json!({"policy": "disabled"}),
                json!({INJECT_KEY: "true"}),
                json!({}),
            ),
            (
                json!({"policy": "disabled"}),
                json!({}),
                json!({INJECT_KEY: "true"}),
            ),
            (always, json!({"app": "web"}), json!({})),
        ]
    }

    #[rstest]
    #[case::kube_system("kube-system", json!({}))]
    #[case::kube_public("kube-public", json!({}))]
    #[case::configured("batch", json!({"ignoredNamespaces": ["batch"]}))]
    #[case::protected_even_if_configured_elsewhere("kube-system", json!({"ignoredNamespaces": ["batch"]}))]
    fn ignored_namespaces_are_never_injected(#[case] namespace: &str, #[case] ignored: Value) {
        for (mut extra, labels, annotations) in askers() {
            if let (Some(extra), Value::Object(ignored)) = (extra.as_object_mut(), ignored.clone())
            {
                extra.extend(ignored);
            }
            let asked_explicitly =
                labels.get(INJECT_KEY).is_some() || annotations.get(INJECT_KEY).is_some();
            let decision = decide_pod(pod(labels, annotations), namespace, &settings(extra));
            assert!(!decision.inject, "{decision}");
            assert!(
                matches!(
                    decision.reason,
                    Reason::ProtectedNamespace { .. } | Reason::IgnoredNamespace { .. }
                ),
                "{decision:?}"
            );
            assert_eq!(
                decision.warning().is_some(),
                asked_explicitly,
                "{decision:?}"
            );
        }
    }

    #[test]
    fn host_network_is_never_injected() {
        for (extra, labels, annotations) in askers() {
            let asked_explicitly =
                labels.get(INJECT_KEY).is_some() || annotations.get(INJECT_KEY).is_some();
            let mut pod = pod(labels, annotations);
            pod["spec"]["hostNetwork"] = json!(true);
            let decision = decide_pod(pod, "shop", &settings(extra));
            assert!(!decision.inject);
            assert!(matches!(decision.reason, Reason::HostNetwork { .. }));
            assert_eq!(
                decision.warning().is_some(),
                asked_explicitly,
                "{decision:?}"
            );
        }
    }

    #[test]
    fn the_warning_says_who_asked_and_why_not() {
        let mut pod = pod(json!({}), json!({INJECT_KEY: "true"}));
        pod["spec"]["hostNetwork"] = json!(true);
        let decision = decide_pod(pod, "shop", &settings(json!({})));
        assert_eq!(
            decision.warning().unwrap(),
            "the Pod asks for the sidecar with its annotation sidecar.istio.io/inject is \"true\", but none was injected: \
             the Pod uses the node's network (spec.hostNetwork: true), where a sidecar would capture the node's traffic"
        );
        let decision = decide_pod(
            self::pod(json!({INJECT_KEY: "true"}), json!({})),
            "kube-system",
            &settings(json!({})),
        );
        assert_eq!(
            decision.warning().unwrap(),
            "the Pod asks for the sidecar with its label sidecar.istio.io/inject is \"true\", but none was injected: \
             namespace kube-system is a Kubernetes system namespace, where sidecars are never injected"
        );
    }

    /// One field holds the Pod's override in every reason that read it; what the step makes of
    /// it (a warning, a note that it did not count) is the step's.
    #[test]
    fn the_override_is_kept_whatever_the_step_makes_of_it() {
        let settings = settings(json!({"ignoredNamespaces": ["batch"]}));
        let refusing = decide_pod(
            pod(json!({INJECT_KEY: "false"}), json!({})),
            "batch",
            &settings,
        );
        assert_eq!(
            refusing.reason.override_found().map(|o| o.value.as_str()),
            Some("false")
        );
        assert_eq!(refusing.warning(), None, "it did not ask for the sidecar");
        assert_eq!(refusing.reason.ignored_override(), None);

        let vague = decide_pod(
            pod(json!({}), json!({INJECT_KEY: "yes"})),
            "shop",
            &settings,
        );
        assert_eq!(
            vague.reason.ignored_override(),
            Some(&Override {
                source: Source::Annotation,
                value: "yes".to_string()
            })
        );
        assert_eq!(
            vague.reason.override_found(),
            vague.reason.ignored_override()
        );
    }

    #[test]
    fn host_network_false_is_injected() {
        let mut pod = pod(json!({}), json!({}));
        pod["spec"]["hostNetwork"] = json!(false);
        assert!(decide_pod(pod, "shop", &settings(json!({}))).inject);
    }

    #[test]
    fn already_injected_pods_are_left_alone() {
        let decision = decide_pod(
            pod(json!({INJECT_KEY: "true"}), json!({STATUS_KEY: "{}"})),
            "shop",
            &settings(json!({})),
        );
        assert!(!decision.inject);
        assert_eq!(decision.reason, Reason::AlreadyInjected);
        assert_eq!(decision.warning(), None);
    }

    #[test]
    fn steps_are_numbered_as_the_tables_number_them() {
        let numbers: Vec<u8> = Step::ALL.iter().map(|step| step.number()).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 8]);
        let seed: Vec<u8> = Step::ALL
            .iter()
            .filter(|step| step.is_seed_row())
            .map(|step| step.number())
            .collect();
        assert_eq!(seed, [6, 8]);
        let settings = settings(json!({"neverInjectSelector": [{"matchLabels": {"a": "1"}}]}));
        let step = |labels: Value, annotations: Value, namespace: &str| {
            decide_pod(pod(labels, annotations), namespace, &settings)
                .reason
                .step()
        };
        assert_eq!(
            step(json!({}), json!({}), "kube-system"),
            Step::IgnoredNamespace
        );
        assert_eq!(
            step(json!({}), json!({STATUS_KEY: "{}"}), "shop"),
            Step::AlreadyInjected
        );
        assert_eq!(
            step(json!({INJECT_KEY: "true"}), json!({}), "shop"),
            Step::PodOverride
        );
        assert_eq!(step(json!({"a": "1"}), json!({}), "shop"), Step::Selectors);
        assert_eq!(step(json!({}), json!({}), "shop"), Step::DefaultPolicy);
    }

    fn namespace_of(name: &str, labels: Value) -> NamespaceSource {
        let text = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels, "annotations": {"team": "shop"}}}).to_string();
        NamespaceSource::new(name, std::sync::Arc::new(move |_: &str| Ok(text.clone())))
    }

    fn decide_in(
        labels: Value,
        annotations: Value,
        namespace: &NamespaceSource,
        settings: Value,
    ) -> Result<Decision, NamespaceError> {
        decide_for_pod(
            &PodView::read(&pod(labels, annotations)).unwrap(),
            namespace,
            &self::settings(settings),
        )
    }

    #[test]
    fn without_namespace_settings_the_namespace_is_never_read() {
        let namespace = namespace_of("shop", json!({"istio-injection": "disabled"}));
        for (labels, annotations) in [
            (json!({}), json!({})),
            (json!({INJECT_KEY: "false"}), json!({})),
            (json!({}), json!({INJECT_KEY: "true"})),
        ] {
            decide_in(labels, annotations, &namespace, json!({})).unwrap();
        }
        assert!(!namespace.was_read());
    }

    #[rstest::rstest]
    #[case::enabled(json!({"istio-injection": "enabled"}), json!({}), true, Step::DefaultPolicy)]
    #[case::enabled_pod_refuses(json!({"istio-injection": "enabled"}), json!({INJECT_KEY: "false"}), false, Step::NamespaceRules)]
    #[case::disabled(json!({"istio-injection": "disabled"}), json!({}), false, Step::NamespaceRules)]
    #[case::disabled_pod_asks(json!({"istio-injection": "disabled"}), json!({INJECT_KEY: "true"}), false, Step::NamespaceRules)]
    #[case::unlabelled(json!({}), json!({}), false, Step::NamespaceRules)]
    #[case::unlabelled_pod_asks(json!({}), json!({INJECT_KEY: "true"}), true, Step::PodOverride)]
    #[case::rev_matching(json!({"istio.io/rev": "default"}), json!({}), true, Step::DefaultPolicy)]
    #[case::rev_other(json!({"istio.io/rev": "canary"}), json!({}), false, Step::NamespaceRules)]
    fn istio_namespace_rules_decide_step_5(
        #[case] namespace_labels: Value,
        #[case] pod_labels: Value,
        #[case] inject: bool,
        #[case] step: Step,
    ) {
        let namespace = namespace_of("shop", namespace_labels);
        let decision = decide_in(
            pod_labels,
            json!({}),
            &namespace,
            json!({"namespaceRules": "istio"}),
        )
        .unwrap();
        assert_eq!(
            (decision.inject, decision.reason.step()),
            (inject, step),
            "{decision}"
        );
        assert!(namespace.was_read());
    }

    #[test]
    fn the_security_rules_come_before_the_namespace_rules_and_read_nothing() {
        let namespace = namespace_of("kube-system", json!({"istio-injection": "enabled"}));
        let decision = decide_in(
            json!({}),
            json!({}),
            &namespace,
            json!({"namespaceRules": "istio", "mandatory": {"namespaceSelector": {}}}),
        )
        .unwrap();
        assert_eq!(decision.reason.step(), Step::IgnoredNamespace);
        assert!(!namespace.was_read());
    }

    #[test]
    fn the_istio_reason_says_which_webhooks_and_why() {
        let namespace = namespace_of("shop", json!({"istio-injection": "disabled"}));
        let decision = decide_in(
            json!({}),
            json!({}),
            &namespace,
            json!({"namespaceRules": "istio"}),
        )
        .unwrap();
        assert_eq!(
            decision.to_string(),
            "sidecar not injected: by Istio's namespace rules (namespaceRules: istio), none of Istio's injection webhooks for revision default would be called for this Pod in namespace shop: \
             rev.namespace (the namespace's label istio.io/rev is absent, and istio.io/rev=default is required); \
             rev.object (the namespace's label istio-injection is \"disabled\", and !istio-injection is required); \
             namespace (the namespace's label istio-injection is \"disabled\", and istio-injection=enabled is required); \
             object (the namespace's label istio-injection is \"disabled\", and !istio-injection is required)"
        );
    }

    #[rstest::rstest]
    #[case::all_refused(json!({}), json!({}), json!({INJECT_KEY: "false"}), Some(true), false)]
    #[case::all_injected(json!({}), json!({}), json!({}), Some(false), true)]
    #[case::all_policy_disabled_still_injected(json!({}), json!({}), json!({"app": "x"}), Some(false), true)]
    #[case::selected(json!({"matchLabels": {"mesh": "required"}}), json!({"mesh": "required"}), json!({INJECT_KEY: "false"}), Some(true), false)]
    #[case::not_selected(json!({"matchLabels": {"mesh": "required"}}), json!({}), json!({INJECT_KEY: "false"}), None, false)]
    fn mandatory_namespaces(
        #[case] selector: Value,
        #[case] namespace_labels: Value,
        #[case] pod_labels: Value,
        #[case] refused: Option<bool>,
        #[case] inject: bool,
    ) {
        let namespace = namespace_of("shop", namespace_labels);
        let settings = json!({"policy": "disabled", "mandatory": {"namespaceSelector": selector}});
        let decision = decide_in(pod_labels, json!({}), &namespace, settings).unwrap();
        assert_eq!(decision.inject, inject, "{decision}");
        match refused {
            Some(refused) => {
                assert_eq!(decision.reason.step(), Step::NamespaceRules);
                assert_eq!(decision.is_refusal(), refused);
            }
            None => assert_ne!(decision.reason.step(), Step::NamespaceRules),
        }
    }

    #[test]
    fn a_mandatory_selector_of_every_namespace_reads_nothing() {
        let namespace = namespace_of("shop", json!({}));
        decide_in(
            json!({}),
            json!({}),
            &namespace,
            json!({"mandatory": {"namespaceSelector": {}}}),
        )
        .unwrap();
        assert!(!namespace.was_read());
    }

    #[test]
    fn a_refusal_says_why_and_who_decides() {
        let namespace = namespace_of("shop", json!({"mesh": "required"}));
        let decision = decide_in(
            json!({}),
            json!({INJECT_KEY: "false"}),
            &namespace,
            json!({"mandatory": {"namespaceSelector": {"matchLabels": {"mesh": "required"}}}}),
        )
        .unwrap();
        assert_eq!(
            decision.to_string(),
            "Pod rejected: the Pod refuses the sidecar with its annotation sidecar.istio.io/inject is \"false\", but the sidecar is mandatory in namespace shop, one of the namespaces matching mandatory.namespaceSelector mesh=required: \
             the cluster's administrators decide that in the policy's settings, and only they can exempt a Pod there (ignoredNamespaces, or the mandatory namespaceSelector); \
             remove the Pod's annotation sidecar.istio.io/inject to create it"
        );
    }

    #[test]
    fn a_namespace_that_cannot_be_read_is_an_error_not_a_guess() {
        let namespace = NamespaceSource::new(
            "shop",
            std::sync::Arc::new(|_: &str| Err("forbidden".to_string())),
        );
        let error = decide_in(
            json!({}),
            json!({}),
            &namespace,
            json!({"namespaceRules": "istio"}),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "namespace shop could not be read, and the policy's namespaceRules (istio) decide by its labels: forbidden"
        );
    }

    #[test]
    fn reasons_read_as_sentences() {
        let settings = settings(json!({"policy": "enabled", "ignoredNamespaces": ["batch"]}));
        let cases = [
            (
                decide_pod(pod(json!({}), json!({})), "shop", &settings),
                "sidecar injected: the Pod does not choose, and the policy's default is enabled",
            ),
            (
                decide_pod(
                    pod(json!({INJECT_KEY: "false"}), json!({})),
                    "shop",
                    &settings,
                ),
                "sidecar not injected: the Pod's label sidecar.istio.io/inject is \"false\"",
            ),
            (
                decide_pod(pod(json!({}), json!({})), "batch", &settings),
                "sidecar not injected: namespace batch is in the policy's ignoredNamespaces",
            ),
            (
                decide_pod(pod(json!({}), json!({STATUS_KEY: "{}"})), "shop", &settings),
                "sidecar not injected: the Pod already has the sidecar (annotation sidecar.istio.io/status is set)",
            ),
        ];
        for (decision, sentence) in cases {
            assert_eq!(decision.to_string(), sentence);
        }
    }
}
