//! Manifests as people write them: multi-document YAML (or JSON) streams, read as kubectl reads
//! them, and written back so that a document nothing changed stays byte for byte as it was.

use serde_json::Value;

use crate::scope::{Policy, PolicyError};

/// One document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The `---` line that opened it; empty for a first document without one.
    marker: String,
    /// Its text, up to the next document.
    body: String,
    /// What it holds; `None` for a document of comments only or `null`.
    pub value: Option<Value>,
    /// Written as JSON, so written back as JSON.
    pub json: bool,
}

/// A stream that cannot be read; the message gives the line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

/// kubectl reads YAML 1.1: `0644` is octal, as in `defaultMode: 0644`.
fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.legacy_octal_numbers = true;
    options
}

/// Reads a stream of documents separated by `---` lines.
pub fn read_stream(text: &str) -> Result<Vec<Document>, ManifestError> {
    let mut documents = Vec::new();
    for (index, (marker, body)) in split(text).into_iter().enumerate() {
        let (value, json) = parse_document(&format!("{marker}{body}")).map_err(|message| {
            // Parsed alone, a document's line numbers start at its own first line; the whole
            // stream gives the lines the reader sees in the file.
            match serde_saphyr::from_multiple_with_options::<Value>(text, options()) {
                Err(error) => ManifestError(error.to_string()),
                Ok(_) => ManifestError(format!("document {}: {message}", index + 1)),
            }
        })?;
        documents.push(Document {
            marker: marker.to_string(),
            body: body.to_string(),
            value,
            json,
        });
    }
    Ok(documents)
}

/// Reads the one document of a settings file or policy manifest.
pub fn read_policy(text: &str) -> Result<Policy, PolicyInputError> {
    Ok(Policy::from_value(&read_policy_document(text)?)?)
}

/// The one document of a settings file or policy manifest, as it is written.
pub fn read_policy_document(text: &str) -> Result<Value, PolicyInputError> {
    let documents = read_stream(text)?;
    let mut values = documents.into_iter().filter_map(|d| d.value);
    match (values.next(), values.next()) {
        (Some(value), None) => Ok(value),
        (None, _) => Err(PolicyInputError::Empty),
        (Some(_), Some(_)) => Err(PolicyInputError::SeveralDocuments),
    }
}

/// Why settings or a policy manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyInputError {
    #[error(transparent)]
    Unreadable(#[from] ManifestError),
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    #[error("no settings in it: expected the policy's settings or its ClusterAdmissionPolicy")]
    Empty,
    #[error(
        "several documents in it: expected one, the policy's settings or its ClusterAdmissionPolicy"
    )]
    SeveralDocuments,
}

impl Document {
    /// The document as it was read.
    pub fn original(&self) -> String {
        format!("{}{}", self.marker, self.body)
    }

    /// The document with its value written out: YAML (or JSON if it was JSON). Comments and
    /// formatting of this document are not kept, as with `kubectl` or `istioctl kube-inject`.
    pub fn rewritten(&self) -> Result<String, ManifestError> {
        let marker = if self.marker.is_empty() { "" } else { "---\n" };
        let value = self.value.as_ref().unwrap_or(&Value::Null);
        let text = if self.json {
            let mut text = serde_json::to_string_pretty(value)
                .map_err(|error| ManifestError(error.to_string()))?;
            text.push('\n');
            text
        } else {
            to_yaml(value)?
        };
        Ok(format!("{marker}{text}"))
    }
}

/// A value as YAML, quoting every string a YAML 1.1 reader (kubectl) would take for something else.
pub fn to_yaml(value: &Value) -> Result<String, ManifestError> {
    serde_saphyr::to_string(value).map_err(|error| ManifestError(error.to_string()))
}

/// Splits at document markers: `---` or `...` at the start of a line, alone or before a space.
/// YAML forbids either at the start of a line inside a document, so this is exact.
fn split(text: &str) -> Vec<(&str, &str)> {
    let is_marker = |line: &str, marker: &str| {
        line.strip_prefix(marker)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
    };
    let mut documents = Vec::new();
    let (mut marker_start, mut body_start) = (0, 0);
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        if is_marker(line, "---") {
            if offset > body_start || marker_start < body_start {
                documents.push((&text[marker_start..body_start], &text[body_start..offset]));
            }
            (marker_start, body_start) = (offset, end);
        } else if is_marker(line, "...") {
            // The end of a document belongs to it; what follows starts another.
            documents.push((&text[marker_start..body_start], &text[body_start..end]));
            (marker_start, body_start) = (end, end);
        }
        offset = end;
    }
    if text.len() > body_start || marker_start < body_start {
        documents.push((&text[marker_start..body_start], &text[body_start..]));
    }
    documents
}

/// A document's value, read as JSON when it is JSON (numbers exactly), else as YAML.
fn parse_document(text: &str) -> Result<(Option<Value>, bool), String> {
    let content = text
        .lines()
        .map(str::trim)
        .filter(|line| {
            !line.is_empty() && !line.starts_with('#') && *line != "---" && *line != "..."
        })
        .collect::<Vec<_>>();
    if content.is_empty() {
        return Ok((None, false));
    }
    if content
        .first()
        .is_some_and(|line| line.starts_with(['{', '[']))
        && let Ok(value) = serde_json::from_str::<Value>(
            text.trim()
                .trim_start_matches("---")
                .trim_end_matches("..."),
        )
    {
        return Ok((Some(value).filter(|v| !v.is_null()), true));
    }
    let value: Value =
        serde_saphyr::from_str_with_options(text, options()).map_err(|error| error.to_string())?;
    Ok((Some(value).filter(|v| !v.is_null()), false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(text: &str) -> Vec<Option<Value>> {
        read_stream(text)
            .unwrap()
            .into_iter()
            .map(|d| d.value)
            .collect()
    }

    #[test]
    fn reads_every_document_of_a_stream() {
        let text =
            "# a comment\na: 1\n---\nb: two\n--- \n# only a comment\n---\n{\"c\": [1.5]}\n...\n";
        assert_eq!(
            values(text),
            [
                Some(json!({"a": 1})),
                Some(json!({"b": "two"})),
                None,
                Some(json!({"c": [1.5]}))
            ]
        );
        let documents = read_stream(text).unwrap();
        assert!(documents[3].json);
        let whole: String = documents.iter().map(Document::original).collect();
        assert_eq!(whole, text);
    }

    #[test]
    fn reads_yaml_as_kubectl_does() {
        assert_eq!(
            values("mode: 0644\nport: 8080\nname: '8080'\nflag: yes\n"),
            [Some(
                json!({"mode": 420, "port": 8080, "name": "8080", "flag": true})
            )]
        );
    }

    #[test]
    fn writes_strings_that_a_yaml_1_1_reader_would_misread_quoted() {
        let value =
            json!({"a": ["yes", "on", "y", "0644", "1e3", "true", "null", "~", "", "plain"]});
        let text = to_yaml(&value).unwrap();
        for word in ["yes", "on", "y", "0644", "1e3", "true", "null", "~"] {
            assert!(
                text.contains(&format!("\"{word}\"")),
                "{word} unquoted in {text}"
            );
        }
        assert_eq!(values(&text), [Some(value)]);
    }

    #[test]
    fn rewritten_documents_keep_their_marker_and_format() {
        let documents = read_stream("a: 1\n---\n{\"b\": 2}\n").unwrap();
        assert_eq!(documents[0].rewritten().unwrap(), "a: 1\n");
        assert_eq!(documents[1].rewritten().unwrap(), "---\n{\n  \"b\": 2\n}\n");
    }

    #[test]
    fn errors_give_the_line_in_the_whole_stream() {
        let error = read_stream("a: 1\n---\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(error.0.contains("line 4"), "{error}");
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(read_stream("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn a_policy_file_holds_one_document() {
        let settings = "template:\n  containers:\n  - name: proxy\n    image: proxy:1\n";
        assert!(read_policy(settings).is_ok());
        assert_eq!(
            read_policy("# nothing\n").unwrap_err(),
            PolicyInputError::Empty
        );
        assert_eq!(
            read_policy(&format!("{settings}---\n{settings}")).unwrap_err(),
            PolicyInputError::SeveralDocuments
        );
        assert_eq!(
            read_policy("policy: sometimes\ntemplate: {}\n")
                .unwrap_err()
                .to_string(),
            "invalid settings: policy: expected \"enabled\" or \"disabled\", got \"sometimes\""
        );
    }
}
