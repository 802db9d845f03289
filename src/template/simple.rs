//! The template strings sidecar templates are mostly made of, rendered without the engine:
//! `{{ pod.metadata.name }}`, `{{ namespace }}`,
//! `{{ pod.metadata.annotations['sidecar.istio.io/proxyCPU'] | default('100m') }}`,
//! `{{ pod.metadata.labels['app'] | default(pod.metadata.name) }}`,
//! `{{ pod.spec.containers | map(attribute='name') | join(',') }}`.
//!
//! The policy runs in a fresh instance for every Pod, so minijinja would compile every template
//! string again for every Pod: most of the time the policy spends on a typical Pod. These strings
//! need no compiler. Anything outside this small language, or a lookup whose value is not a string
//! or undefined, returns `None` and goes to minijinja; a property test below checks that both
//! render the same wherever this one answers.

use std::borrow::Cow;

use crate::json::{Kind, Part, Step, Text};

/// What `text` gives ([`super::Renderer::evaluate`]), or `None` when minijinja must evaluate
/// it; `expression` is its expression when it is one and nothing else, whose lookup that finds
/// nothing is told apart from an empty string.
pub(super) fn evaluate(
    text: &str,
    expression: Option<&str>,
    pod: &Text,
    namespace: &str,
) -> Option<super::Output> {
    let Some(expression) = expression else {
        return render(text, pod, namespace).map(super::Output::Text);
    };
    let mut parser = Parser {
        text: expression,
        pod: pod.root(),
        namespace,
    };
    match parser.expression()? {
        Lookup::Str(value) => Some(super::Output::Text(value.into_owned())),
        Lookup::Undefined => Some(super::Output::Undefined),
        Lookup::Container(..) | Lookup::Strings(_) | Lookup::Other => None,
    }
}

/// `text` rendered, or `None` when minijinja must render it.
pub(super) fn render(text: &str, pod: &Text, namespace: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes
        .windows(2)
        .any(|pair| matches!(pair, [b'{', b'%' | b'#']))
    {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = pair_at(rest, b'{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = pair_at(after, b'}')?;
        let mut parser = Parser {
            text: &after[..end],
            pod: pod.root(),
            namespace,
        };
        match parser.expression()? {
            Lookup::Str(value) => out.push_str(&value),
            Lookup::Undefined => {}
            Lookup::Container(..) | Lookup::Strings(_) | Lookup::Other => return None,
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// Where `text` first has `byte` twice in a row (`{{` or `}}`).
fn pair_at(text: &str, byte: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    loop {
        let at = from + bytes.get(from..)?.iter().position(|&b| b == byte)?;
        if bytes.get(at + 1) == Some(&byte) {
            return Some(at);
        }
        from = at + 1;
    }
}

/// What a path leads to. Only strings and undefined values are rendered here.
#[derive(Clone)]
enum Lookup<'a> {
    Undefined,
    Str(Cow<'a, str>),
    /// An object or array of the Pod, to look into further.
    Container(Part<'a>),
    /// A list of strings made by `map(attribute=…)`, for `join`.
    Strings(Vec<Cow<'a, str>>),
    /// A number, boolean or null: minijinja's business.
    Other,
}

impl<'a> Lookup<'a> {
    fn of(value: Option<Part<'a>>) -> Self {
        let Some(value) = value else {
            return Self::Undefined;
        };
        match value.kind() {
            Kind::Object | Kind::Array => Self::Container(value),
            Kind::String => value.string().map_or(Self::Other, Self::Str),
            _ => Self::Other,
        }
    }
}

/// The template text and the values it reads share one lifetime: a default's text is a value too.
struct Parser<'a> {
    text: &'a str,
    /// The Pod.
    pod: Part<'a>,
    namespace: &'a str,
}

impl<'a> Parser<'a> {
    /// `path (| filter)*`, surrounded by spaces; the filters are `default(path or 'string')`,
    /// `map(attribute='key')` on a list of objects whose `key` is a string, and `join('sep')` on a
    /// list of strings.
    fn expression(&mut self) -> Option<Lookup<'a>> {
        let mut value = self.path()?;
        loop {
            self.spaces();
            if self.text.is_empty() {
                return Some(value);
            }
            self.eat("|")?;
            self.spaces();
            value = match self.identifier()? {
                "default" => {
                    let fallback = self.argument(|parser| {
                        if parser.text.starts_with(['\'', '"']) {
                            Some(Lookup::Str(Cow::Borrowed(parser.string()?)))
                        } else {
                            parser.path()
                        }
                    })?;
                    match value {
                        Lookup::Undefined => fallback,
                        defined => defined,
                    }
                }
                "map" => {
                    let key = self.argument(|parser| {
                        parser.eat("attribute")?;
                        parser.spaces();
                        parser.eat("=")?;
                        parser.spaces();
                        parser.string()
                    })?;
                    Lookup::Strings(self.attributes(value, key)?)
                }
                "join" => {
                    let separator = self.argument(Self::string)?;
                    Lookup::Str(Cow::Owned(self.strings(value)?.join(separator)))
                }
                _ => return None,
            };
        }
    }

    /// `(argument)`, the argument read by `read`.
    fn argument<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        self.spaces();
        self.eat("(")?;
        self.spaces();
        let argument = read(self)?;
        self.spaces();
        self.eat(")")?;
        Some(argument)
    }

    /// The string `key` of every object of a list of the Pod.
    fn attributes(&self, list: Lookup<'a>, key: &'a str) -> Option<Vec<Cow<'a, str>>> {
        let Lookup::Container(level) = list else {
            return None;
        };
        level
            .items()?
            .map(|item| match item.kind() {
                Kind::Object => item.get(key)?.string(),
                _ => None,
            })
            .collect()
    }

    /// The strings of a list made by `map`, or of a list of the Pod that holds only strings.
    fn strings(&self, list: Lookup<'a>) -> Option<Vec<Cow<'a, str>>> {
        match list {
            Lookup::Strings(strings) => Some(strings),
            Lookup::Container(level) => level.items()?.map(Part::string).collect(),
            _ => None,
        }
    }

    /// `pod` or `namespace`, then `.name`, `['key']` or `[index]` steps.
    fn path(&mut self) -> Option<Lookup<'a>> {
        self.spaces();
        let mut value = match self.identifier()? {
            "pod" => Lookup::of(Some(self.pod)),
            "namespace" => Lookup::Str(Cow::Borrowed(self.namespace)),
            _ => return None,
        };
        loop {
            let step = if self.eat(".").is_some() {
                Step::Key(Cow::Borrowed(self.identifier()?))
            } else if self.eat("[").is_some() {
                self.spaces();
                let step = if self.text.starts_with(['\'', '"']) {
                    Step::Key(Cow::Borrowed(self.string()?))
                } else {
                    Step::Index(self.index()?)
                };
                self.spaces();
                self.eat("]")?;
                step
            } else {
                return Some(value);
            };
            value = match (value, &step) {
                (Lookup::Undefined, _) => Lookup::Undefined,
                (Lookup::Container(level), Step::Key(_)) if level.kind() == Kind::Object => {
                    Lookup::of(level.step(&step))
                }
                (Lookup::Container(level), Step::Index(_)) if level.kind() == Kind::Array => {
                    Lookup::of(level.step(&step))
                }
                // Attributes of strings, lists and none, and indexes of maps, are minijinja's.
                _ => return None,
            };
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
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
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
        let quote = match self.text.as_bytes().first()? {
            b'\'' => '\'',
            b'"' => '"',
            _ => return None,
        };
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
    use serde_json::{Value, json};

    fn doc(pod: &Value) -> Text {
        Text::new(&pod.to_string())
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "web-1", "generateName": "web-",
            "labels": {"app": "web", "n": "1"},
            "annotations": {"cpu": "250m", "empty": "", "num": 3, "null": null}},
            "spec": {"containers": [{"name": "app"}], "args": ["--a", "--b"]}})
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
    #[case::map_join(
        "{{ pod.spec.containers | map(attribute='name') | join(',') }}",
        Some("app")
    )]
    #[case::join_strings("{{ pod.spec.args | join(' ') }}", Some("--a --b"))]
    #[case::map_missing("{{ pod.spec.containers | map(attribute='image') | join(',') }}", None)]
    #[case::map_alone("{{ pod.spec.containers | map(attribute='name') }}", None)]
    #[case::join_not_strings("{{ pod.spec.containers | join(',') }}", None)]
    #[case::other_filter_argument("{{ pod.spec.args | join(é) }}", None)]
    fn renders_the_common_strings_only(#[case] text: &str, #[case] expected: Option<&str>) {
        assert_eq!(render(text, &doc(&pod()), "shop").as_deref(), expected);
    }

    fn by_minijinja(text: &str, pod: &Value) -> Result<String, String> {
        let mut renderer = super::super::Renderer::new(doc(pod), "shop");
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
        prop_oneof![4 => defaults(), 1 => joins()]
    }

    /// Mostly lists of containers mapped to their names, which the shortcut renders; the rest
    /// are minijinja's.
    fn joins() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                3 => Just("pod.spec.containers"),
                1 => Just("pod.spec.missing"),
                1 => Just("pod.metadata.labels")
            ],
            prop_oneof![3 => Just("name"), 1 => Just("image"), 1 => Just("a.b/c")],
            prop_oneof![Just(","), Just(""), Just(" - ")],
            prop::bool::weighted(0.75),
        )
            .prop_map(|(list, key, separator, map)| {
                let map = if map {
                    format!(" | map(attribute='{key}')")
                } else {
                    String::new()
                };
                format!("{{{{ {list}{map} | join('{separator}') }}}}")
            })
    }

    fn defaults() -> impl Strategy<Value = String> {
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
            if let Some(fast) = render(&text, &doc(&pod), "shop") {
                prop_assert_eq!(Ok(fast), by_minijinja(&text, &pod), "{}", text);
            }
        }
    }

    /// The property above would hold vacuously if the shortcut never answered.
    #[test]
    fn answers_for_most_generated_strings() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut answered = |strategy: BoxedStrategy<String>| {
            let strategy = (strategy, any_pod());
            (0..500)
                .filter(|_| {
                    let (text, pod) = strategy.new_tree(&mut runner).unwrap().current();
                    render(&text, &doc(&pod), "shop").is_some()
                })
                .count()
        };
        let defaults = answered(defaults().boxed());
        assert!(
            defaults > 250,
            "paths and defaults: answered {defaults} of 500"
        );
        let joins = answered(joins().boxed());
        assert!(joins > 100, "map and join: answered {joins} of 500");
    }
}
