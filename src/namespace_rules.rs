//! What the Pod's Namespace decides, when the settings ask it to (step 5 of
//! [`crate::decision`]):
//!
//! - `mandatory`: in the namespaces its `namespaceSelector` selects (`{}`: all of them), every
//!   Pod gets the sidecar, and a Pod that refuses it (`sidecar.istio.io/inject: "false"`) is
//!   rejected, saying why and who decides. The security rules and `ignoredNamespaces` come first.
//! - `namespaceRules: istio`: the namespace labels Istio's injection webhooks select by
//!   (`istio-injection`, `istio.io/rev`), applied by the policy itself, so that one policy with no
//!   namespaceSelector decides exactly as Istio's webhooks do: a Pod none of them would be called
//!   for is not injected; for the others, the rest of the decision is Istio's injector's, as
//!   without these rules.
//!
//! Istio's webhooks, as its chart (`istio-discovery`, `mutatingwebhook.yaml`) installs them for a
//! revision; the namespace selector is matched against the Namespace's labels, the object
//! selector against the Pod's labels (never its annotations):
//!
//! | webhook | namespace | Pod | revisions |
//! |---|---|---|---|
//! | `rev.namespace` | `istio.io/rev` = the revision, no `istio-injection` | `sidecar.istio.io/inject` ≠ `false` | every |
//! | `rev.object` | no `istio.io/rev`, no `istio-injection` | `sidecar.istio.io/inject` ≠ `false`, `istio.io/rev` = the revision | every |
//! | `namespace` | `istio-injection` = `enabled` | `sidecar.istio.io/inject` ≠ `false` | `default` |
//! | `object` | no `istio-injection`, no `istio.io/rev` | `sidecar.istio.io/inject` = `true`, no `istio.io/rev` | `default` |
//! | `auto` | no `istio-injection`, no `istio.io/rev`, not kube-system, kube-public, kube-node-lease, local-path-storage | no `sidecar.istio.io/inject`, no `istio.io/rev` | `default`, with `enableNamespacesByDefault` |

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::json_type;
use crate::keys::INJECT_KEY;
use crate::selector::{LabelSelector, RawLabelSelector};
use crate::webhook::NAMESPACE_NAME_LABEL;

/// The namespace label of Istio's revisions.
pub const REVISION_LABEL: &str = "istio.io/rev";
/// The namespace label of Istio's default revision.
pub const INJECTION_LABEL: &str = "istio-injection";
/// The namespaces `enableNamespacesByDefault` leaves out, as Istio's `auto` webhook does.
pub const NOT_BY_DEFAULT: [&str; 4] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// `namespaceRules`: whose namespace labels the policy applies itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceRules {
    /// Istio's: `istio-injection` and `istio.io/rev`, as its injection webhooks select.
    Istio,
}

impl<'de> Deserialize<'de> for NamespaceRules {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value.as_str() {
            Some("istio") => Ok(Self::Istio),
            Some(other) => Err(serde::de::Error::custom(format!(
                "expected \"istio\" (the namespace labels of Istio's injection webhooks), got {other:?}"
            ))),
            None => Err(serde::de::Error::custom(format!(
                "expected \"istio\", got {}",
                json_type(&value)
            ))),
        }
    }
}

/// `mandatory`: where the sidecar may not be refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mandatory {
    /// The namespaces, by their labels; `None` (written `{}`) is every namespace.
    pub namespace_selector: Option<LabelSelector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawMandatory {
    namespace_selector: RawLabelSelector,
}

impl<'de> Deserialize<'de> for Mandatory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawMandatory::deserialize(deserializer)?;
        // As a namespaceSelector is everywhere in Kubernetes: `{}` selects every namespace.
        if raw.namespace_selector.is_empty() {
            return Ok(Self {
                namespace_selector: None,
            });
        }
        let selector =
            LabelSelector::from_raw(raw.namespace_selector, &|| "namespaceSelector".to_string())
                .map_err(|e| serde::de::Error::custom(e.to_string()))?;
        Ok(Self {
            namespace_selector: Some(selector),
        })
    }
}

impl Mandatory {
    /// Whether a Namespace with these labels is one where the sidecar is mandatory.
    pub fn selects(&self, namespace_labels: &Map<String, Value>) -> bool {
        self.namespace_selector
            .as_ref()
            .is_none_or(|selector| selector.matches(Some(namespace_labels)))
    }

    /// Which namespaces, in words: "every namespace", or "namespaces matching mesh=required".
    pub fn describe(&self) -> String {
        match &self.namespace_selector {
            None => "every namespace (mandatory.namespaceSelector is {})".to_string(),
            Some(selector) => {
                format!("the namespaces matching mandatory.namespaceSelector {selector}")
            }
        }
    }

    /// Whether deciding needs the Namespace's labels.
    pub fn needs_labels(&self) -> bool {
        self.namespace_selector.is_some()
    }
}

/// One of Istio's injection webhooks: the namespaces and the Pods the API server calls it for.
#[derive(Debug, Clone, Copy)]
pub struct Webhook {
    /// Its name in Istio's configuration, without `.sidecar-injector.istio.io`.
    pub name: &'static str,
    namespace: &'static [Condition],
    object: &'static [Condition],
}

/// One `matchExpressions` entry of Istio's webhooks, on one label.
#[derive(Debug, Clone, Copy)]
struct Condition {
    key: &'static str,
    test: Test,
}

#[derive(Debug, Clone, Copy)]
enum Test {
    /// `In` the one value, or the revision's name when `None`.
    Is(Option<&'static str>),
    NotIn(&'static [&'static str]),
    Absent,
}

const fn on(key: &'static str, test: Test) -> Condition {
    Condition { key, test }
}

const REVISION: Test = Test::Is(None);
const NOT_REFUSED: Condition = on(INJECT_KEY, Test::NotIn(&["false"]));
const UNLABELLED: [Condition; 2] = [
    on(REVISION_LABEL, Test::Absent),
    on(INJECTION_LABEL, Test::Absent),
];

/// Istio's injection webhooks, in the order its chart installs them: every revision's two (its
/// name on the namespace, or on the Pod in a namespace without either label), the default
/// revision's two besides (`istio-injection=enabled`, and the Pod's own label), and
/// `enableNamespacesByDefault`'s.
const WEBHOOKS: [Webhook; 5] = [
    Webhook {
        name: "rev.namespace",
        namespace: &[
            on(REVISION_LABEL, REVISION),
            on(INJECTION_LABEL, Test::Absent),
        ],
        object: &[NOT_REFUSED],
    },
    Webhook {
        name: "rev.object",
        namespace: &UNLABELLED,
        object: &[NOT_REFUSED, on(REVISION_LABEL, REVISION)],
    },
    Webhook {
        name: "namespace",
        namespace: &[on(INJECTION_LABEL, Test::Is(Some("enabled")))],
        object: &[NOT_REFUSED],
    },
    Webhook {
        name: "object",
        namespace: &UNLABELLED,
        object: &[
            on(INJECT_KEY, Test::Is(Some("true"))),
            on(REVISION_LABEL, Test::Absent),
        ],
    },
    Webhook {
        name: "auto",
        namespace: &[
            on(INJECTION_LABEL, Test::Absent),
            on(REVISION_LABEL, Test::Absent),
            on(NAMESPACE_NAME_LABEL, Test::NotIn(&NOT_BY_DEFAULT)),
        ],
        object: &[
            on(INJECT_KEY, Test::Absent),
            on(REVISION_LABEL, Test::Absent),
        ],
    },
];

/// Istio's injection webhooks for `revision` (`default` is Istio's revision without a name),
/// with `enableNamespacesByDefault` when `by_default`: the first of [`WEBHOOKS`].
pub fn istio_webhooks(revision: &str, by_default: bool) -> &'static [Webhook] {
    let count = match (revision == "default", by_default) {
        (false, _) => 2,
        (true, false) => 4,
        (true, true) => 5,
    };
    WEBHOOKS.get(..count).unwrap_or(&WEBHOOKS)
}

impl Condition {
    /// Why `labels` fail this condition, in words; `None` when they meet it.
    fn miss(&self, revision: &str, labels: Option<&Map<String, Value>>) -> Option<String> {
        let value = labels
            .and_then(|labels| labels.get(self.key))
            .and_then(Value::as_str);
        let key = self.key;
        let required = match self.test {
            Test::Is(wanted) => {
                let wanted = wanted.unwrap_or(revision);
                if value == Some(wanted) {
                    return None;
                }
                format!("{key}={wanted}")
            }
            Test::NotIn(values) => {
                if value.is_none_or(|v| !values.contains(&v)) {
                    return None;
                }
                format!("{key} notin ({})", values.join(","))
            }
            Test::Absent => {
                value?;
                format!("!{key}")
            }
        };
        let found = match value {
            Some(value) => format!("label {key} is {value:?}"),
            None => format!("label {key} is absent"),
        };
        Some(format!("{found}, and {required} is required"))
    }
}

/// Whether Istio's webhooks are called for a Pod with `pod_labels` in a Namespace with
/// `namespace_labels`, for `revision`: the first that is, or why none is, each webhook with the
/// first of its conditions that fails.
pub fn istio_select(
    webhooks: &[Webhook],
    revision: &str,
    namespace_labels: &Map<String, Value>,
    pod_labels: Option<&Map<String, Value>>,
) -> Result<&'static str, String> {
    let mut misses = Vec::with_capacity(webhooks.len());
    for webhook in webhooks {
        let first = |conditions: &[Condition], labels| {
            conditions.iter().find_map(|c| c.miss(revision, labels))
        };
        let miss = match first(webhook.namespace, Some(namespace_labels)) {
            Some(miss) => format!("the namespace's {miss}"),
            None => match first(webhook.object, pod_labels) {
                Some(miss) => format!("the Pod's {miss}"),
                None => return Ok(webhook.name),
            },
        };
        misses.push(format!("{} ({miss})", webhook.name));
    }
    Err(misses.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn namespace(name: &str, extra: Value) -> Map<String, Value> {
        let mut labels = labels(extra);
        labels.insert(NAMESPACE_NAME_LABEL.into(), name.into());
        labels
    }

    /// Istio's behaviour, row by row: (revision, enableNamespacesByDefault, namespace labels, Pod
    /// labels, the webhook called or none).
    #[rstest::rstest]
    #[case::enabled("default", false, json!({"istio-injection": "enabled"}), json!({}), Some("namespace"))]
    #[case::enabled_pod_refuses("default", false, json!({"istio-injection": "enabled"}), json!({"sidecar.istio.io/inject": "false"}), None)]
    #[case::enabled_wins_over_rev("default", false, json!({"istio-injection": "enabled", "istio.io/rev": "canary"}), json!({}), Some("namespace"))]
    #[case::disabled("default", false, json!({"istio-injection": "disabled"}), json!({}), None)]
    #[case::disabled_pod_asks("default", false, json!({"istio-injection": "disabled"}), json!({"sidecar.istio.io/inject": "true"}), None)]
    #[case::unlabelled("default", false, json!({}), json!({}), None)]
    #[case::unlabelled_pod_asks("default", false, json!({}), json!({"sidecar.istio.io/inject": "true"}), Some("object"))]
    #[case::unlabelled_pod_asks_other_rev("default", false, json!({}), json!({"sidecar.istio.io/inject": "true", "istio.io/rev": "canary"}), None)]
    #[case::unlabelled_pod_rev("default", false, json!({}), json!({"istio.io/rev": "default"}), Some("rev.object"))]
    #[case::rev_matching("default", false, json!({"istio.io/rev": "default"}), json!({}), Some("rev.namespace"))]
    #[case::rev_other("default", false, json!({"istio.io/rev": "canary"}), json!({}), None)]
    #[case::rev_other_pod_asks("default", false, json!({"istio.io/rev": "canary"}), json!({"sidecar.istio.io/inject": "true"}), None)]
    #[case::canary_rev_matching("canary", false, json!({"istio.io/rev": "canary"}), json!({}), Some("rev.namespace"))]
    #[case::canary_not_by_injection_label("canary", false, json!({"istio-injection": "enabled"}), json!({}), None)]
    #[case::canary_pod_rev("canary", false, json!({}), json!({"istio.io/rev": "canary"}), Some("rev.object"))]
    #[case::canary_pod_asks("canary", false, json!({}), json!({"sidecar.istio.io/inject": "true"}), None)]
    #[case::by_default("default", true, json!({}), json!({}), Some("auto"))]
    #[case::by_default_pod_label_any("default", true, json!({}), json!({"sidecar.istio.io/inject": "yes"}), None)]
    #[case::by_default_disabled("default", true, json!({"istio-injection": "disabled"}), json!({}), None)]
    #[case::by_default_canary_namespace("default", true, json!({"istio.io/rev": "canary"}), json!({}), None)]
    fn as_istio_webhooks_select(
        #[case] revision: &str,
        #[case] by_default: bool,
        #[case] namespace_labels: Value,
        #[case] pod_labels: Value,
        #[case] called: Option<&str>,
    ) {
        let webhooks = istio_webhooks(revision, by_default);
        let got = istio_select(
            webhooks,
            revision,
            &namespace("shop", namespace_labels),
            Some(&labels(pod_labels)),
        );
        assert_eq!(got.as_ref().ok().copied(), called, "{got:?}");
    }

    #[test]
    fn by_default_leaves_out_istios_system_namespaces() {
        let webhooks = istio_webhooks("default", true);
        for name in NOT_BY_DEFAULT {
            assert!(istio_select(webhooks, "default", &namespace(name, json!({})), None).is_err());
        }
        assert_eq!(
            istio_select(
                webhooks,
                "default",
                &namespace("istio-system", json!({})),
                None
            ),
            Ok("auto")
        );
    }

    #[test]
    fn why_none_is_called_names_each_webhook_and_its_first_failing_condition() {
        let why = istio_select(
            istio_webhooks("default", false),
            "default",
            &namespace("shop", json!({"istio-injection": "disabled"})),
            None,
        )
        .unwrap_err();
        assert_eq!(
            why,
            "rev.namespace (the namespace's label istio.io/rev is absent, and istio.io/rev=default is required); \
             rev.object (the namespace's label istio-injection is \"disabled\", and !istio-injection is required); \
             namespace (the namespace's label istio-injection is \"disabled\", and istio-injection=enabled is required); \
             object (the namespace's label istio-injection is \"disabled\", and !istio-injection is required)"
        );
    }

    #[rstest::rstest]
    #[case::all(json!({"namespaceSelector": {}}), None)]
    #[case::some(json!({"namespaceSelector": {"matchLabels": {"mesh": "required"}}}), Some("mesh=required"))]
    fn mandatory_reads(#[case] value: Value, #[case] selector: Option<&str>) {
        let mandatory: Mandatory = serde_json::from_value(value).unwrap();
        assert_eq!(
            mandatory
                .namespace_selector
                .map(|s| s.to_string())
                .as_deref(),
            selector
        );
    }

    #[rstest::rstest]
    #[case::no_selector(json!({}), "missing field `namespaceSelector`")]
    #[case::unknown_field(json!({"namespaceSelector": {}, "except": []}), "unknown field `except`")]
    #[case::bad_selector(json!({"namespaceSelector": {"matchLabel": {}}}), "unknown field `matchLabel`")]
    #[case::bad_operator(json!({"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}}), "namespaceSelector.matchExpressions[0].operator: expected one of In, NotIn, Exists, DoesNotExist, got \"Is\"")]
    fn mandatory_refuses(#[case] value: Value, #[case] expected: &str) {
        let error = serde_json::from_value::<Mandatory>(value)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(expected), "{error}");
    }

    #[test]
    fn namespace_rules_read_only_istio() {
        assert_eq!(
            serde_json::from_value::<NamespaceRules>(json!("istio")).unwrap(),
            NamespaceRules::Istio
        );
        let error = serde_json::from_value::<NamespaceRules>(json!("linkerd")).unwrap_err();
        assert!(
            error.to_string().starts_with("expected \"istio\""),
            "{error}"
        );
    }
}
