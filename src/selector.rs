//! Kubernetes label selectors, compiled once from the settings and matched against a Pod's labels.
//!
//! The settings' `neverInjectSelector` and `alwaysInjectSelector` are lists of ordinary
//! `metav1.LabelSelector`s. They are parsed here into a form whose every state is valid (an `In`
//! without values cannot be represented), so matching cannot fail and needs no error path.

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::SettingsError;

/// A validated label selector: every `matchLabels` pair and every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// One condition on one label key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// The selector as written in the settings; `deny_unknown_fields` turns a misspelled
/// `matchLabel` into an error instead of a selector that silently matches something else.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RawLabelSelector {
    #[serde(default)]
    match_labels: Map<String, Value>,
    #[serde(default)]
    match_expressions: Vec<RawRequirement>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    key: String,
    operator: String,
    #[serde(default)]
    values: Option<Vec<String>>,
}

impl RawLabelSelector {
    /// `{}`: no condition at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

impl LabelSelector {
    /// Validates a selector from the settings; `path` names it in error messages (for example
    /// `neverInjectSelector[0]`), built only on error since selectors are read on every request.
    pub(crate) fn from_raw(
        raw: RawLabelSelector,
        path: &dyn Fn() -> String,
    ) -> Result<Self, SettingsError> {
        if raw.match_labels.is_empty() && raw.match_expressions.is_empty() {
            // Istio skips empty selectors, so one would match nothing: almost certainly not what
            // the person who wrote it meant, whichever of "all" or "nothing" they expected.
            return Err(SettingsError::new(
                path(),
                "empty selector; give matchLabels or matchExpressions",
            ));
        }
        let mut requirements =
            Vec::with_capacity(raw.match_labels.len() + raw.match_expressions.len());
        for (key, value) in raw.match_labels {
            let value = match value {
                Value::String(value) => value,
                other => {
                    return Err(SettingsError::new(
                        format!("{}.matchLabels.{key}", path()),
                        format!("expected a string, got {}", crate::error::json_type(&other)),
                    ));
                }
            };
            requirements.push(Requirement {
                key,
                operator: Operator::In(vec![value]),
            });
        }
        for (index, raw) in raw.match_expressions.into_iter().enumerate() {
            let at = || format!("{}.matchExpressions[{index}]", path());
            if raw.key.is_empty() {
                return Err(SettingsError::new(
                    format!("{}.key", at()),
                    "must not be empty",
                ));
            }
            let operator = match (raw.operator.as_str(), raw.values) {
                ("In", Some(values)) if !values.is_empty() => Operator::In(values),
                ("NotIn", Some(values)) if !values.is_empty() => Operator::NotIn(values),
                ("In" | "NotIn", _) => {
                    return Err(SettingsError::new(
                        format!("{}.values", at()),
                        format!("operator {} needs at least one value", raw.operator),
                    ));
                }
                ("Exists" | "DoesNotExist", Some(values)) if !values.is_empty() => {
                    return Err(SettingsError::new(
                        format!("{}.values", at()),
                        format!("operator {} takes no values", raw.operator),
                    ));
                }
                ("Exists", _) => Operator::Exists,
                ("DoesNotExist", _) => Operator::DoesNotExist,
                (other, _) => {
                    return Err(SettingsError::new(
                        format!("{}.operator", at()),
                        format!("expected one of In, NotIn, Exists, DoesNotExist, got {other:?}"),
                    ));
                }
            };
            requirements.push(Requirement {
                key: raw.key,
                operator,
            });
        }
        Ok(Self { requirements })
    }

    /// Reads a selector written outside the settings, such as a ClusterAdmissionPolicy's
    /// `namespaceSelector`. There, as in Kubernetes, an empty selector selects everything: `None`.
    pub fn from_value(value: &Value, path: &str) -> Result<Option<Self>, SettingsError> {
        if value.is_null() || value.as_object().is_some_and(Map::is_empty) {
            return Ok(None);
        }
        let raw = RawLabelSelector::deserialize(value)
            .map_err(|error| SettingsError::new(path, error.to_string()))?;
        Self::from_raw(raw, &|| path.to_string()).map(Some)
    }

    /// True when the labels satisfy every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.unmet(labels).is_none()
    }

    /// The first requirement the labels do not satisfy.
    pub fn unmet(&self, labels: Option<&Map<String, Value>>) -> Option<&Requirement> {
        self.requirements
            .iter()
            .find(|requirement| !requirement.holds(labels))
    }
}

impl Requirement {
    fn holds(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = label(labels, &self.key);
        match &self.operator {
            Operator::In(values) => value.is_some_and(|v| values.iter().any(|x| x == v)),
            // As in Kubernetes: NotIn also matches when the label is absent.
            Operator::NotIn(values) => value.is_none_or(|v| values.iter().all(|x| x != v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }

    /// Why these labels fail this requirement, in words: "label istio-injection is absent, and
    /// istio-injection=enabled is required".
    pub fn explain_miss(&self, labels: Option<&Map<String, Value>>) -> String {
        let found = match label(labels, &self.key) {
            Some(value) => format!("label {} is {value:?}", self.key),
            None => format!("label {} is absent", self.key),
        };
        format!("{found}, and {self} is required")
    }
}

fn label<'a>(labels: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    labels.and_then(|l| l.get(key)).and_then(Value::as_str)
}

/// kubectl's selector syntax: `a=b,c in (d,e),!f`.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, requirement) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match &self.operator {
            Operator::In(values) if values.len() == 1 => write!(f, "{key}={}", values.join(",")),
            Operator::In(values) => write!(f, "{key} in ({})", values.join(",")),
            Operator::NotIn(values) => write!(f, "{key} notin ({})", values.join(",")),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn selector(raw: Value) -> Result<LabelSelector, String> {
        let raw: RawLabelSelector = serde_json::from_value(raw).map_err(|e| e.to_string())?;
        LabelSelector::from_raw(raw, &|| "sel".to_string()).map_err(|e| e.to_string())
    }

    fn labels(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[rstest]
    #[case::match_labels_hit(json!({"matchLabels": {"app": "web"}}), json!({"app": "web", "x": "y"}), true)]
    #[case::match_labels_wrong_value(json!({"matchLabels": {"app": "web"}}), json!({"app": "db"}), false)]
    #[case::match_labels_absent(json!({"matchLabels": {"app": "web"}}), json!({}), false)]
    #[case::match_labels_all_must_hold(json!({"matchLabels": {"a": "1", "b": "2"}}), json!({"a": "1"}), false)]
    #[case::in_hit(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}), json!({"tier": "b"}), true)]
    #[case::in_miss(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}), json!({"tier": "c"}), false)]
    #[case::in_absent(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}), json!({}), false)]
    #[case::not_in_hit(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}), json!({"tier": "b"}), true)]
    #[case::not_in_miss(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}), json!({"tier": "a"}), false)]
    #[case::not_in_absent_matches(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}), json!({}), true)]
    #[case::exists_hit(json!({"matchExpressions": [{"key": "legacy", "operator": "Exists"}]}), json!({"legacy": ""}), true)]
    #[case::exists_miss(json!({"matchExpressions": [{"key": "legacy", "operator": "Exists"}]}), json!({"other": "x"}), false)]
    #[case::does_not_exist_hit(json!({"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}), json!({}), true)]
    #[case::does_not_exist_miss(json!({"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}), json!({"legacy": "1"}), false)]
    #[case::labels_and_expressions(json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "v", "operator": "Exists"}]}), json!({"app": "web"}), false)]
    fn matching(#[case] raw: Value, #[case] pod_labels: Value, #[case] expected: bool) {
        let selector = selector(raw).unwrap();
        assert_eq!(selector.matches(Some(&labels(pod_labels))), expected);
    }

    #[rstest]
    #[case::empty(json!({}), "sel: empty selector; give matchLabels or matchExpressions")]
    #[case::unknown_operator(json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}),
        "sel.matchExpressions[0].operator: expected one of In, NotIn, Exists, DoesNotExist, got \"Equals\"")]
    #[case::in_without_values(json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
        "sel.matchExpressions[0].values: operator In needs at least one value")]
    #[case::not_in_empty_values(json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}),
        "sel.matchExpressions[0].values: operator NotIn needs at least one value")]
    #[case::exists_with_values(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
        "sel.matchExpressions[0].values: operator Exists takes no values")]
    #[case::empty_key(json!({"matchExpressions": [{"key": "", "operator": "Exists"}]}),
        "sel.matchExpressions[0].key: must not be empty")]
    #[case::label_not_string(json!({"matchLabels": {"a": 1}}), "sel.matchLabels.a: expected a string, got a number")]
    fn refusals(#[case] raw: Value, #[case] message: &str) {
        assert_eq!(selector(raw).unwrap_err(), message);
    }

    #[rstest]
    #[case::label(json!({"matchLabels": {"istio-injection": "enabled"}}), "istio-injection=enabled")]
    #[case::all_operators(json!({"matchExpressions": [
        {"key": "a", "operator": "In", "values": ["x", "y"]},
        {"key": "b", "operator": "NotIn", "values": ["z"]},
        {"key": "c", "operator": "Exists"},
        {"key": "d", "operator": "DoesNotExist"}]}), "a in (x,y),b notin (z),c,!d")]
    fn written_as_kubectl_does(#[case] raw: Value, #[case] text: &str) {
        assert_eq!(selector(raw).unwrap().to_string(), text);
    }

    #[rstest]
    #[case::absent(json!({}), Some("label istio-injection is absent, and istio-injection=enabled is required"))]
    #[case::other_value(json!({"istio-injection": "true"}), Some("label istio-injection is \"true\", and istio-injection=enabled is required"))]
    #[case::met(json!({"istio-injection": "enabled"}), None)]
    fn misses_are_explained(#[case] namespace_labels: Value, #[case] expected: Option<&str>) {
        let selector = selector(json!({"matchLabels": {"istio-injection": "enabled"}})).unwrap();
        let labels = labels(namespace_labels);
        let miss = selector
            .unmet(Some(&labels))
            .map(|r| r.explain_miss(Some(&labels)));
        assert_eq!(miss.as_deref(), expected);
    }

    #[test]
    fn an_empty_namespace_selector_selects_everything() {
        assert_eq!(
            LabelSelector::from_value(&json!({}), "spec.namespaceSelector"),
            Ok(None)
        );
        assert_eq!(
            LabelSelector::from_value(&Value::Null, "spec.namespaceSelector"),
            Ok(None)
        );
        let err =
            LabelSelector::from_value(&json!({"matchLabels": {"a": 1}}), "spec.namespaceSelector")
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.namespaceSelector.matchLabels.a: expected a string, got a number"
        );
    }

    #[test]
    fn misspelled_field_is_refused() {
        let err = selector(json!({"matchLabel": {"a": "b"}})).unwrap_err();
        assert!(err.starts_with("unknown field `matchLabel`"), "{err}");
    }
}
