//! Every message a person reads when something is wrong: refused settings, malformed admission
//! requests, and a sidecar template that cannot be rendered for a given Pod.
//!
//! Each error names the place in the input (a path such as `template.containers[1].image`) and
//! what was expected there, because the reader has to go and fix that place.

use serde_json::Value;

/// Settings the policy refuses to load; the policy server will not start the policy with them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", located(.path, .problem))]
pub struct SettingsError {
    pub path: String,
    pub problem: String,
}

impl SettingsError {
    pub fn new(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// Turns serde's message into ours: a path to the offending field and what was wrong there.
    pub(crate) fn from_serde(
        error: serde_path_to_error::Error<serde_json::Error>,
        root: &str,
    ) -> Self {
        let (path, problem) = describe_serde_error(&error, root);
        Self { path, problem }
    }
}

/// An admission request this policy cannot evaluate: the message says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the admission request is not valid JSON: {0}")]
    NotJson(String),
    #[error("invalid admission request: {}", located(.path, .problem))]
    Field { path: String, problem: String },
    #[error("invalid policy settings in the request: {0}")]
    Settings(SettingsError),
    #[error("{0}")]
    Render(RenderError),
    #[error("{0}")]
    Conflict(Conflict),
    /// The Pod's Namespace was needed and could not be read.
    #[error("{0}")]
    Namespace(crate::namespace::NamespaceError),
    /// The Pod refuses what the policy makes mandatory: the decision's reason.
    #[error("{0}")]
    Refused(String),
}

impl RequestError {
    pub fn field(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Field {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// A value of the wrong JSON type at `path`.
    pub fn expected(path: impl Into<String>, expected: &str, got: &Value) -> Self {
        Self::field(path, format!("expected {expected}, got {}", json_type(got)))
    }

    /// The field of the policy's template that the rejection is about, when it is the policy's:
    /// a template string that failed to render for this Pod, or a value one gave that its field
    /// cannot hold. (Other rejections are about the request, or the Pod.)
    pub fn settings_path(&self) -> Option<&str> {
        match self {
            Self::Render(error) => Some(&error.path),
            Self::Conflict(conflict)
                if conflict.at.starts_with("template.")
                    || conflict.at.starts_with("templates.") =>
            {
                Some(&conflict.at)
            }
            _ => None,
        }
    }

    /// The HTTP status code the rejection carries: the request's fault, or ours.
    pub fn code(&self) -> u16 {
        match self {
            Self::NotJson(_) | Self::Field { .. } | Self::Conflict(_) | Self::Refused(_) => 400,
            Self::Settings(_) | Self::Render(_) | Self::Namespace(_) => 500,
        }
    }
}

/// A template string that failed to render for a particular Pod (the template itself parsed at load).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sidecar template could not be rendered for this Pod: {path}: {message}")]
pub struct RenderError {
    pub path: String,
    pub message: String,
}

/// A Pod that the sidecar would make invalid: what this Pod makes of the template (a template string
/// rendered from it, a container it customizes) breaks a rule the API server applies after the
/// policy (see [`crate::validation`]). Refused with a message that says what and where, rather than
/// handed to the API server, which would refuse the Pod naming a container its author never wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the sidecar cannot be injected into this Pod, because the API server would refuse the result: {at}: {problem}{}",
    .origin.as_ref().map(|origin| format!("; {origin}")).unwrap_or_default()
)]
pub struct Conflict {
    /// `container istio-proxy, resources.requests.cpu` or `label app.kubernetes.io/name`.
    pub at: String,
    pub problem: String,
    /// Where the value comes from: the template string that rendered it, the Pod's own container.
    pub origin: Option<String>,
}

fn located(path: &str, problem: &str) -> String {
    if path.is_empty() {
        problem.to_string()
    } else {
        format!("{path}: {problem}")
    }
}

/// `a.b`, either of which may be empty: a field's path inside another's, for messages that name
/// a field of a manifest (`spec.settings` and `policy`, `spec.template` and `metadata`).
pub fn path_within(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        ("", path) => path.to_string(),
        (prefix, "") => prefix.to_string(),
        (prefix, path) => format!("{prefix}.{path}"),
    }
}

/// Names for a message, sorted and each once: the hosts send the settings' keys sorted, a person
/// writes them in any order, and a message must not depend on which.
pub fn sorted_names<S: AsRef<str>>(names: &[S]) -> String {
    let mut names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    crate::sort::sort(&mut names);
    names.dedup();
    names.join(", ")
}

/// "a string", "a number": how a JSON value is named in messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Splits a serde error into a field path (below `root`) and a short statement of the problem.
fn describe_serde_error(
    error: &serde_path_to_error::Error<serde_json::Error>,
    root: &str,
) -> (String, String) {
    let mut path = error.path().to_string();
    if path == "." {
        path.clear();
    }
    let join = |path: &str, field: &str| match (root.is_empty(), path.is_empty()) {
        (true, true) => field.to_string(),
        (false, true) => format!("{root}.{field}"),
        (true, false) => format!("{path}.{field}"),
        (false, false) => format!("{root}.{path}.{field}"),
    };
    let full = |path: &str| match (root.is_empty(), path.is_empty()) {
        (_, true) => root.to_string(),
        (true, false) => path.to_string(),
        (false, false) => format!("{root}.{path}"),
    };
    let message = without_position(&error.inner().to_string());
    if let Some(field) = between(&message, "missing field `", "`") {
        return (join(&path, field), "missing".to_string());
    }
    if let Some(field) = between(&message, "unknown field `", "`") {
        let expected = message
            .split_once(", expected ")
            .map(|(_, rest)| format!("; expected {}", rest.replace('`', "")))
            .unwrap_or_default();
        let path = if path.rsplit('.').next() == Some(field) {
            full(&path)
        } else {
            join(&path, field)
        };
        return (path, format!("unknown field{expected}"));
    }
    (full(&path), plain_words(&message))
}

/// serde names Rust types ("struct RawSettings", "a sequence"); people wrote YAML or JSON.
fn plain_words(message: &str) -> String {
    let text = message.replace('`', "").replace("sequence", "list");
    let mut words = text.split(' ').peekable();
    let mut plain = Vec::new();
    while let Some(word) = words.next() {
        if word == "struct" && words.peek().is_some() {
            // "struct RawSettings," becomes "an object," keeping what followed the name.
            let name = words.next().unwrap_or_default();
            let rest = name.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
            plain.push(format!("an object{rest}"));
        } else {
            plain.push(word.to_string());
        }
    }
    plain.join(" ")
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(start)?;
    rest.split_once(end).map(|(inside, _)| inside)
}

/// serde_json appends " at line L column C", which points into a one-line payload nobody sees.
fn without_position(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((text, position)) if position.contains(" column ") => text.to_string(),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_path_is_the_policys_template_field_only() {
        let render = RequestError::Render(RenderError {
            path: "template.containers[0].args[1]".into(),
            message: "unknown filter".into(),
        });
        assert_eq!(
            render.settings_path(),
            Some("template.containers[0].args[1]")
        );
        let conflict = |at: &str| {
            RequestError::Conflict(Conflict {
                at: at.into(),
                problem: "p".into(),
                origin: None,
            })
        };
        assert_eq!(
            conflict("templates.sidecar.containers[0].readinessProbe.periodSeconds")
                .settings_path(),
            Some("templates.sidecar.containers[0].readinessProbe.periodSeconds")
        );
        assert_eq!(
            conflict("container istio-proxy, resources.requests.cpu").settings_path(),
            None
        );
        assert_eq!(
            RequestError::field("request.object", "missing").settings_path(),
            None
        );
    }

    #[test]
    fn serde_wording_becomes_plain() {
        assert_eq!(
            plain_words("invalid type: sequence, expected struct RawSettings"),
            "invalid type: list, expected an object"
        );
        assert_eq!(
            plain_words("invalid type: string `x`, expected struct Template, or more"),
            "invalid type: string x, expected an object, or more"
        );
        assert_eq!(plain_words("a struct"), "a struct");
    }

    #[test]
    fn positions_are_dropped() {
        assert_eq!(
            without_position("missing field `a` at line 1 column 20"),
            "missing field `a`"
        );
        assert_eq!(without_position("no position here"), "no position here");
    }
}
