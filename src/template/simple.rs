//! The template strings sidecar templates are mostly made of, rendered without the engine:
//! `{{ pod.metadata.name }}`, `{{ namespace }}`,
//! `{{ pod.metadata.annotations['sidecar.istio.io/proxyCPU'] | default('100m') }}`,
//! `{{ pod.metadata.labels['app'] | default(pod.metadata.name) }}`.
//!
//! The policy runs in a fresh instance for every Pod, so minijinja would compile every template
//! string again for every Pod: most of the time the policy spends on a typical Pod. These strings
//! need no compiler. Anything outside this small language, or a lookup whose value is not a string
//! or undefined, returns `None` and goes to minijinja; a property test below checks that both
//! render the same wherever this one answers.

use serde_json::Value;

/// `text` rendered, or `None` when minijinja must render it.
pub(super) fn render(text: &str, pod: &Value, namespace: &str) -> Option<String> {
    if text.contains("{%") || text.contains("{#") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let mut parser = Parser {
            text: &after[..end],
            pod,
            namespace,
        };
        match parser.expression()? {
            Lookup::Str(value) => out.push_str(value),
            Lookup::Undefined => {}
            Lookup::Json(_) => return None,
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// What a path leads to. Only strings and undefined values are rendered here.
#[derive(Clone, Copy)]
enum Lookup<'a> {
    Undefined,
    Str(&'a str),
    /// An object, array, number, boolean or null: minijinja's business.
    Json(&'a Value),
}

impl<'a> Lookup<'a> {
    fn of(value: Option<&'a Value>) -> Self {
        match value {
            None => Self::Undefined,
            Some(Value::String(text)) => Self::Str(text),
            Some(other) => Self::Json(other),
        }
    }
}

/// The template text and the values it reads share one lifetime: a default's text is a value too.
struct Parser<'a> {
    text: &'a str,
    pod: &'a Value,
    namespace: &'a str,
}

impl<'a> Parser<'a> {
    /// `path (| default(path or 'string'))*`, surrounded by spaces.
    fn expression(&mut self) -> Option<Lookup<'a>> {
        let mut value = self.path()?;
        loop {
            self.spaces();
            if self.text.is_empty() {
                return Some(value);
            }
            self.eat("|")?;
            self.spaces();
            self.eat("default")?;
            self.spaces();
            self.eat("(")?;
            self.spaces();
            let fallback = if self.text.starts_with(['\'', '"']) {
                Lookup::Str(self.string()?)
            } else {
                self.path()?
            };
            self.spaces();
            self.eat(")")?;
            if let Lookup::Undefined = value {
                value = fallback;
            }
        }
    }

    /// `pod` or `namespace`, then `.name`, `['key']` or `[index]` steps.
    fn path(&mut self) -> Option<Lookup<'a>> {
        self.spaces();
        let mut value = match self.identifier()? {
            "pod" => Lookup::Json(self.pod),
            "namespace" => Lookup::Str(self.namespace),
            _ => return None,
        };
        loop {
            if self.eat(".").is_some() {
                let key = self.identifier()?;
                value = match value {
                    Lookup::Undefined => Lookup::Undefined,
                    Lookup::Json(Value::Object(map)) => Lookup::of(map.get(key)),
                    // Attributes of strings, lists and none are minijinja's to define.
                    _ => return None,
                };
            } else if self.eat("[").is_some() {
                self.spaces();
                value = if self.text.starts_with(['\'', '"']) {
                    let key = self.string()?;
                    match value {
                        Lookup::Undefined => Lookup::Undefined,
                        Lookup::Json(Value::Object(map)) => Lookup::of(map.get(key)),
                        _ => return None,
                    }
                } else {
                    let index = self.index()?;
                    match value {
                        Lookup::Undefined => Lookup::Undefined,
                        Lookup::Json(Value::Array(items)) => Lookup::of(items.get(index)),
                        _ => return None,
                    }
                };
                self.spaces();
                self.eat("]")?;
            } else {
                return Some(value);
            }
        }
    }

    fn spaces(&mut self) {
        self.text = self.text.trim_start_matches(' ');
    }

    fn eat(&mut self, token: &str) -> Option<()> {
        self.text = self.text.strip_prefix(token)?;
        Some(())
    }

    fn identifier(&mut self) -> Option<&'a str> {
        let end = self
            .text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.text.len());
        let (identifier, rest) = self.text.split_at(end);
        if identifier.is_empty() || identifier.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        self.text = rest;
        Some(identifier)
    }

    fn index(&mut self) -> Option<usize> {
        let end = self
            .text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.text.len());
        let (digits, rest) = self.text.split_at(end);
        let index = digits.parse().ok()?;
        self.text = rest;
        Some(index)
    }

    /// A quoted string without escapes (those are minijinja's).
    fn string(&mut self) -> Option<&'a str> {
        let quote = self.text.chars().next()?;
        let body = &self.text[1..];
        let end = body.find(quote)?;
        let value = &body[..end];
        if value.contains('\\') {
            return None;
        }
        self.text = &body[end + 1..];
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use rstest::rstest;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "web-1", "generateName": "web-",
            "labels": {"app": "web", "n": "1"},
            "annotations": {"cpu": "250m", "empty": "", "num": 3, "null": null}},
            "spec": {"containers": [{"name": "app"}]}})
    }

    #[rstest]
    #[case::name("{{ pod.metadata.name }}", Some("web-1"))]
    #[case::namespace("{{namespace}}.svc", Some("shop.svc"))]
    #[case::brackets("{{ pod['metadata'][\"labels\"]['app'] }}", Some("web"))]
    #[case::index("{{ pod.spec.containers[0].name }}", Some("app"))]
    #[case::default_unused(
        "{{ pod.metadata.annotations['cpu'] | default('100m') }}",
        Some("250m")
    )]
    #[case::default_used(
        "{{ pod.metadata.annotations['mem'] | default('128Mi') }}",
        Some("128Mi")
    )]
    #[case::empty_is_defined("{{ pod.metadata.annotations.empty | default('x') }}", Some(""))]
    #[case::chained_defaults(
        "{{ pod.metadata.labels['v'] | default(pod.metadata.labels.n) | default('0') }}",
        Some("1")
    )]
    #[case::undefined_is_empty("[{{ pod.nothing.at.all }}]", Some("[]"))]
    #[case::several("{{ pod.metadata.name }}.{{ namespace }}", Some("web-1.shop"))]
    #[case::number("{{ pod.metadata.annotations.num }}", None)]
    #[case::null("{{ pod.metadata.annotations.null | default('x') }}", None)]
    #[case::object("{{ pod.metadata.labels }}", None)]
    #[case::filter("{{ pod.metadata.name | upper }}", None)]
    #[case::statement("{% if true %}x{% endif %}", None)]
    #[case::other_variable("{{ c.name }}", None)]
    #[case::escape("{{ pod.metadata.labels['a\\'b'] }}", None)]
    #[case::unclosed("{{ pod.metadata.name", None)]
    #[case::trim("{{- pod.metadata.name -}}", None)]
    fn renders_the_common_strings_only(#[case] text: &str, #[case] expected: Option<&str>) {
        assert_eq!(render(text, &pod(), "shop").as_deref(), expected);
    }

    fn by_minijinja(text: &str, pod: &Value) -> Result<String, String> {
        let mut renderer = super::super::Renderer::new(std::sync::Arc::new(pod.clone()), "shop");
        renderer.engine_render(text)
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("app".to_string()),
            Just("a.b/c".to_string()),
            "[a-z]{1,3}"
        ]
    }

    fn step() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{1,3}".prop_map(|k| format!(".{k}")),
            Just(".metadata".to_string()),
            Just(".labels".to_string()),
            Just(".annotations".to_string()),
            key().prop_map(|k| format!("['{k}']")),
            key().prop_map(|k| format!("[\"{k}\"]")),
            (0usize..3).prop_map(|i| format!("[{i}]")),
        ]
    }

    /// Paths as templates write them, and random ones.
    fn path() -> impl Strategy<Value = String> {
        let written = prop_oneof![
            (prop_oneof![Just("labels"), Just("annotations")], key())
                .prop_map(|(map, key)| format!("pod.metadata.{map}['{key}']")),
            Just("pod.metadata.name".to_string()),
            Just("namespace".to_string()),
            (0usize..3).prop_map(|i| format!("pod.spec.containers[{i}].name")),
        ];
        let random = (
            prop_oneof![Just("pod"), Just("namespace")],
            prop::collection::vec(step(), 0..5),
        )
            .prop_map(|(root, steps)| format!("{root}{}", steps.concat()));
        prop_oneof![written, random]
    }

    fn expression() -> impl Strategy<Value = String> {
        (
            path(),
            prop::collection::vec(
                prop_oneof![path(), "[a-z0-9 ./*]{0,5}".prop_map(|s| format!("'{s}'"))],
                0..3,
            ),
            prop_oneof![Just(""), Just(" ")],
        )
            .prop_map(|(path, defaults, space)| {
                let mut text = format!("{{{{{space}{path}");
                for default in defaults {
                    text.push_str(&format!("{space}|{space}default({default})"));
                }
                text.push_str(&format!("{space}}}}}"));
                text
            })
    }

    fn string_map() -> impl Strategy<Value = Value> {
        prop::collection::btree_map(
            key(),
            prop_oneof![
                "[a-z ]{0,4}".prop_map(Value::from),
                Just(Value::Null),
                Just(json!(1))
            ],
            0..4,
        )
        .prop_map(|map| Value::Object(map.into_iter().collect()))
    }

    fn any_pod() -> impl Strategy<Value = Value> {
        (
            string_map(),
            string_map(),
            prop_oneof![Just(json!("web")), Just(Value::Null)],
        )
            .prop_map(|(labels, annotations, name)| {
                json!({"metadata": {"name": name, "labels": labels, "annotations": annotations},
                    "spec": {"containers": [{"name": "app", "image": "a"}, {"name": "b"}]}})
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Wherever the shortcut answers, minijinja answers the same.
        #[test]
        fn agrees_with_minijinja(
            parts in prop::collection::vec((expression(), "[a-z:/ -]{0,4}"), 1..3),
            pod in any_pod(),
        ) {
            let text: String = parts.iter().map(|(e, t)| format!("{e}{t}")).collect();
            if let Some(fast) = render(&text, &pod, "shop") {
                prop_assert_eq!(Ok(fast), by_minijinja(&text, &pod), "{}", text);
            }
        }
    }

    /// The property above would hold vacuously if the shortcut never answered.
    #[test]
    fn answers_for_most_generated_strings() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = (expression(), any_pod());
        let answered = (0..500)
            .filter(|_| {
                let (text, pod) = strategy.new_tree(&mut runner).unwrap().current();
                render(&text, &pod, "shop").is_some()
            })
            .count();
        assert!(answered > 250, "answered {answered} of 500");
    }
}
