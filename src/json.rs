//! JSON as the policy reads and writes it: the one module that knows how. The rest of the crate
//! sees a text to read ([`Text`], a value of it being a [`Part`]), a value to edit and write back
//! ([`Edit`]), and a canonical writer for the revision ([`Canonical`]).
//!
//! The policy server sends the whole Pod with every request, and a Pod may hold thousands of
//! environment variables or weigh the API server's 1.5 MB. The decision reads a few fields of its
//! metadata; the template strings read a few more; an injection edits a few lists of its spec.
//! Everything else stays the text it came in: never built into values, and copied to the answer
//! byte for byte. That costs less than parsing the Pod into a tree (`docs/performance.md` has the
//! figures against serde_json), and it is the strongest form of "nothing of the submitted Pod
//! changes".
//!
//! - [`Text`]: a JSON text whose levels are opened on demand: opening an object or an array finds
//!   where each of its children starts and ends, once, and keeps that. Everything that reads the
//!   Pod (the decision, the template strings, the injection) goes through the same `Text`, so a
//!   level is never scanned twice.
//! - [`Edit`]: a value being edited: a part of a text left as it is (or with template strings
//!   rendered in it, [`Rendering`]), an opened object or array, or a value the policy built.
//! - [`Canonical`]: values written with sorted keys and one spelling per number, which the
//!   revision hashes, showing the template strings on the way.
//!
//! The texts given to a `Text` are meant to be valid JSON: the request is read by serde_json, which
//! checks it, and so are the settings, by serde when they are read (what an injection copies of
//! them into the Pod is checked again on the way, by [`Canonical`]). The
//! scanner relies on that to be simple and fast, and still never panics or loops on text that is
//! not: it finds nothing there.

mod canonical;
mod edit;
mod scan;
mod text;

use serde_json::Value;

pub use canonical::{Canonical, Form, StringValue};
pub use edit::{Edit, Fields, Name, Rendering, Typed, entry};
pub use text::{Found, Members, Part, Place, Step, Text};

/// The JSON type of a value, as error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    /// "an object", "a string"…: how messages say what was found.
    pub fn described(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number => "a number",
            Self::String => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }

    /// The kind of the JSON value starting at the first byte of `text` (no leading whitespace).
    fn of_text(text: &str) -> Self {
        match text.as_bytes().first() {
            Some(b'{') => Self::Object,
            Some(b'[') => Self::Array,
            Some(b'"') => Self::String,
            Some(b't' | b'f') => Self::Bool,
            Some(b'-' | b'0'..=b'9') => Self::Number,
            _ => Self::Null,
        }
    }

    pub fn of_value(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(_) => Self::Bool,
            Value::Number(_) => Self::Number,
            Value::String(_) => Self::String,
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }
}

/// `value` with the keys of every object in sorted order: how kwctl and the policy server write
/// the settings and the request they send (serde_json without `preserve_order`).
pub fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key.clone(), sorted_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// `text` as a JSON string. Most keys and names need no escape, and are copied as they are.
pub fn write_string(out: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&Value::from(text).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Step<'_> {
        Step::Key(std::borrow::Cow::Borrowed(k))
    }

    fn written(node: &Edit) -> String {
        let mut out = String::new();
        node.write(&mut out);
        out
    }

    #[test]
    fn may_contain_sees_the_text_and_what_was_rendered_into_it() {
        let doc =
            Text::new(r#"[{"name":"LEVEL","value":"x"},{"name":"{{ n }}"},{"name":"\u0041"}]"#);
        // The template string, as the canonical writer shows it, rendered.
        let mut strings = Vec::new();
        let mut show = |string| strings.push(string);
        let mut writer = Canonical::new(&doc, &mut show);
        assert!(writer.value(doc.root()));
        drop(writer);
        let mut rendering = Rendering::default();
        for string in &strings {
            if string.raw() == "\"{{ n }}\"" {
                rendering.replace(string, "AGENT");
            }
        }
        let rendered: Vec<Edit> = doc
            .root()
            .items()
            .unwrap()
            .map(|item| Edit::rendered(item, &rendering))
            .collect();
        assert!(rendered[0].may_contain("LEVEL"));
        assert!(!rendered[0].may_contain("AGENT"));
        assert!(rendered[1].may_contain("AGENT"), "rendered into it");
        assert_eq!(rendered[1].name().as_str(), Some("AGENT"));
        assert!(rendered[2].may_contain("A"), "an escape: unsure");
        assert!(rendered[2].may_contain("B"), "an escape: unsure");
        assert!(
            Edit::value(json!({"name": "x"})).may_contain("y"),
            "built: unsure"
        );
    }

    #[test]
    fn what_is_not_opened_is_written_back_byte_for_byte() {
        let doc = Text::new(
            r#"{"b": 1.50, "a": {"x": [1, 2 ,3], "é\u00e9": "\u0041"}, "c": null, "d": "\"}"}"#,
        );
        let mut node = Edit::part(doc.root());
        assert_eq!(written(&node), doc.as_str());
        let entries = node.open_object().unwrap();
        assert_eq!(
            entries.iter().map(|(k, _)| k.as_ref()).collect::<Vec<_>>(),
            ["b", "a", "c", "d"]
        );
        // Opened, the object loses its whitespace; its values keep their text.
        assert_eq!(
            written(&node),
            r#"{"b":1.50,"a":{"x": [1, 2 ,3], "é\u00e9": "\u0041"},"c":null,"d":"\"}"}"#
        );
        let inner = entry(node.open_object().unwrap(), "a").unwrap();
        let keys: Vec<String> = inner
            .open_object()
            .unwrap()
            .iter()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(keys, ["x", "éé"]);
        assert_eq!(
            written(&node),
            r#"{"b":1.50,"a":{"x":[1, 2 ,3],"éé":"\u0041"},"c":null,"d":"\"}"}"#
        );
    }

    #[test]
    fn opening_what_is_not_an_object_or_an_array_gives_nothing() {
        for input in ["[1]", "\"x\"", "1", "null", "true", "-2.5e3"] {
            let doc = Text::new(input);
            let mut node = Edit::part(doc.root());
            if input != "[1]" {
                assert!(node.open_object().is_none(), "{input}");
            }
            assert_eq!(written(&node), input, "unchanged");
        }
        let doc = Text::new("{}");
        assert!(Edit::part(doc.root()).open_array().is_none());
        let doc = Text::new(r#" [ {"a": 1} , 2 ] "#);
        let mut array = Edit::part(doc.root());
        assert_eq!(array.open_array().unwrap().len(), 2);
        assert_eq!(written(&array), r#"[{"a": 1},2]"#);
    }

    #[test]
    fn values_open_too() {
        let mut node = Edit::value(json!({"a": [1, {"b": 2}]}));
        let a = entry(node.open_object().unwrap(), "a").unwrap();
        a.open_array().unwrap().push(Edit::value(json!(3)));
        assert_eq!(written(&node), r#"{"a":[1,{"b":2},3]}"#);
        assert_eq!(node.into_value(), json!({"a": [1, {"b": 2}, 3]}));
    }

    #[test]
    fn names_are_read_from_the_first_level_only() {
        let cases = [
            (
                r#"{"image": "x", "env": [{"name": "no"}], "name": "app"}"#,
                Name::Text("app".into()),
            ),
            (r#"{"name": "a\"b"}"#, Name::Text("a\"b".into())),
            (r#"{"image": "x"}"#, Name::Missing),
            (r#"{"name": null}"#, Name::Missing),
            (r#"{"name": 1}"#, Name::Other(Kind::Number)),
            (r#"["name"]"#, Name::NotObject(Kind::Array)),
            (r#""app""#, Name::NotObject(Kind::String)),
        ];
        for (input, expected) in cases {
            let doc = Text::new(input);
            assert_eq!(Edit::part(doc.root()).name(), expected, "{input}");
            let value: Value = serde_json::from_str(input).unwrap();
            assert_eq!(Edit::value(value).name(), expected, "{input} as a value");
            let mut opened = Edit::part(doc.root());
            if opened.open_object().is_some() {
                assert_eq!(opened.name(), expected, "{input} opened");
            }
        }
    }

    #[test]
    fn one_container_and_nothing_after_it() {
        for (text, one) in [
            (r#"{"a": 1}"#, true),
            (" [1, [2]] \n", true),
            (r#"{"a": 1} {"b": 2}"#, false),
            (r#"{"a": 1}x"#, false),
            (r#"{"a": [1}"#, false),
            (r#"{"a": 1"#, false),
            ("\"text\"", false),
            ("", false),
        ] {
            assert_eq!(Text::new(text).is_one_container(), one, "{text}");
        }
    }

    #[test]
    fn text_that_is_not_json_gives_nothing_and_no_panic() {
        for input in [
            "",
            "{",
            "[",
            r#"{"a": "#,
            r#"{"a" 1}"#,
            r#"["x"#,
            "{\"a\":1,}",
            "}",
            "]]",
        ] {
            let doc = Text::new(input);
            assert_eq!(doc.lookup([key("a")]), None, "{input:?}");
            assert!(
                matches!(doc.members(&[]), Members::None | Members::Length(0))
                    || doc.members(&[]) == Members::Keys(Vec::new()),
                "{input:?}"
            );
            // Opened, what is not JSON holds nothing: no entry, no item, no name.
            let mut node = Edit::part(doc.root());
            assert!(
                node.open_object().is_none_or(|entries| entries.is_empty()),
                "{input:?}"
            );
            let mut node = Edit::part(doc.root());
            assert!(
                node.open_array().is_none_or(|items| items.is_empty()),
                "{input:?}"
            );
            assert!(node.name().as_str().is_none(), "{input:?}");
            // Not opened, it is written back as it came.
            let node = Edit::part(doc.root());
            let mut out = String::new();
            node.write(&mut out);
            assert_eq!(out, doc.root().as_str(), "{input:?}");
        }
    }

    #[test]
    fn kinds() {
        for (input, kind) in [
            ("{}", Kind::Object),
            ("[]", Kind::Array),
            ("\"\"", Kind::String),
            ("-1", Kind::Number),
            ("false", Kind::Bool),
            ("null", Kind::Null),
        ] {
            assert_eq!(Text::new(input).root().kind(), kind);
            assert_eq!(Kind::of_value(&serde_json::from_str(input).unwrap()), kind);
        }
        assert_eq!(Kind::Array.described(), "an array");
    }
}
