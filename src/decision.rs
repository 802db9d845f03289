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
//! | 5    | label (else annotation) `sidecar.istio.io/inject` = "true"  | yes       |
//! |      | label (else annotation) `sidecar.istio.io/inject` = "false" | no        |
//! | 6    | labels match a `neverInjectSelector`                        | no        |
//! |      | labels match an `alwaysInjectSelector`                      | yes       |
//! | 7    | `policy`                                                    | enabled → yes, disabled → no |
//!
//! Steps 2 and 3 are security rules that nothing in the settings or the Pod overrides. When they
//! refuse a Pod that asked for the sidecar, [`Decision::warning`] says so to the person creating it.
//!
//! With the namespace selected, this gives the seed truth table:
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
    /// 5: the Pod's `sidecar.istio.io/inject`, exactly "true" or "false".
    PodOverride = 5,
    /// 6: a `neverInjectSelector`, else an `alwaysInjectSelector`.
    Selectors = 6,
    /// 7: the policy's default.
    DefaultPolicy = 7,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Self; 7] = [
        Self::NotPodCreation,
        Self::IgnoredNamespace,
        Self::HostNetwork,
        Self::AlreadyInjected,
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
            Self::PodOverride => "the Pod's own choice",
            Self::Selectors => "neverInjectSelector or alwaysInjectSelector",
            Self::DefaultPolicy => "the policy's default",
        }
    }

    /// Whether a decision at this step is a row of the seed truth table (this module's
    /// documentation): that table has only the Pod's override and the default policy, steps 5
    /// and 7; the other steps decide outside it.
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
    /// Step 5: the Pod's label or annotation, exactly "true" or "false".
    PodChoice(Override),
    /// Step 6.
    NeverInjectSelector {
        index: usize,
        found: Option<Override>,
    },
    /// Step 6.
    AlwaysInjectSelector {
        index: usize,
        found: Option<Override>,
    },
    /// Step 7.
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

/// Steps 2 to 7, for a Pod being created in `namespace` (the request's: a Pod made by a
/// controller has none in its metadata yet). Step 1 is the request's (`admission`).
pub fn decide_for_pod(pod: &PodView, namespace: &str, settings: &Settings) -> Decision {
    let found = Override::read(pod);
    if PROTECTED_NAMESPACES.contains(&namespace) {
        return untouched(Reason::ProtectedNamespace {
            namespace: namespace.to_string(),
            found,
        });
    }
    if settings.is_ignored_namespace(namespace) {
        return untouched(Reason::IgnoredNamespace {
            namespace: namespace.to_string(),
            found,
        });
    }
    if pod.host_network {
        return untouched(Reason::HostNetwork { found });
    }
    if pod.annotation(STATUS_KEY).is_some() {
        return untouched(Reason::AlreadyInjected);
    }
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
            | Self::DefaultPolicy { found, .. } => found.as_ref(),
            Self::PodChoice(found) => Some(found),
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
        let verdict = if self.inject {
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
        decide_for_pod(&PodView::read(&pod).unwrap(), namespace, settings)
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
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7]);
        let seed: Vec<u8> = Step::ALL
            .iter()
            .filter(|step| step.is_seed_row())
            .map(|step| step.number())
            .collect();
        assert_eq!(seed, [5, 7]);
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
