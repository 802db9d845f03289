//! Per-string templates in the sidecar template, such as
//! `{{ pod.metadata.annotations['sidecar.istio.io/proxyCPU'] | default('100m') }}`.
//!
//! Each string value is rendered on its own and the result is stored as a JSON string. Nothing is
//! ever spliced into YAML or JSON text, so whatever a Pod's annotations contain, they can only
//! become the content of the string that references them, never structure (the bug class Istio
//! had while it rendered its whole template as YAML text).
//!
//! The engine is minijinja: Jinja2 syntax that Helm and Ansible users already know, filters such
//! as `default`, no I/O, no unsafe code, and it builds for wasm32-wasip1 without a C toolchain.
//! Lookups of missing fields are "chainable" undefined values, so
//! `pod.metadata.annotations['x'] | default('y')` works when the Pod has no annotations at all.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::json::{Found, Kind, Members, Place, Step, Text};
use crate::namespace::{Namespace, NamespaceSource};
use crate::owner::Workload;

mod simple;
pub mod typed;

pub use typed::{Output, Placed};

/// True when `text` holds template syntax; other strings are copied as they are.
pub fn is_template(text: &str) -> bool {
    // Most strings of a template have no brace at all: look for braces, then at what follows.
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'{'))
    {
        let at = from + at;
        if matches!(bytes.get(at + 1), Some(b'{' | b'%' | b'#')) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// What may be the expression of a template string that is one expression and nothing else,
/// `{{ … }}` (whitespace control, `{{-` and `-}}`, allowed): what is between the outer braces, if
/// it opens no other block. `{{ a }} {{ b }}` passes too; it does not compile as an expression
/// ([`is_one_expression`]).
pub fn expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    // No block opens inside (`{{`, `{%`, `{#`): one scan for braces, as for any string.
    (!is_template(inner) && balanced(inner)).then_some(inner.trim())
}

/// Whether no bracket of `text` closes more than it opened, outside string literals: a `}}` that
/// closes nothing ends the block (`{{ a }}b }}` is no one expression), and minijinja's expression
/// compiler panics on it rather than failing.
fn balanced(text: &str) -> bool {
    let mut depth = 0usize;
    let mut quote = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => match depth.checked_sub(1) {
                    Some(d) => depth = d,
                    None => return false,
                },
                _ => {}
            },
        }
    }
    true
}

/// Whether `text` is one expression and nothing else, and so may give a value of any type.
pub fn is_one_expression(text: &str) -> bool {
    expression(text).is_some_and(|inner| environment().compile_expression(inner).is_ok())
}

/// Compiles `text` without rendering it: the load-time check of the settings.
pub fn check_syntax(text: &str) -> Result<(), String> {
    environment()
        .template_from_str(text)
        .map(drop)
        .map_err(|e| describe(&e))
}

/// Renders template strings against one Pod. The engine is set up when the first string the
/// simple renderer cannot render is met, so templates without any pay nothing for it.
pub struct Renderer {
    pod: Text,
    /// The Pod's workload when its caller knows it (the CLI, from a manifest); else read from the
    /// Pod when a template string first asks ([`crate::owner`]).
    workload: Option<Workload>,
    /// The request's namespace (`namespace`, its name), and `ns`: the Namespace, read when a
    /// template string first asks for it.
    source: NamespaceSource,
    /// `ns` as the engine has it, once the engine is set up.
    ns: Option<Arc<LazyNamespace>>,
    engine: Option<(Environment<'static>, minijinja::Value)>,
}

/// What an error says needed the Namespace when a template string asked for `ns`.
const NS_NEEDED: &str = "a template string asks for it (ns)";

impl Renderer {
    /// `namespace` is the request's: a Pod created by a controller often has none in its metadata.
    /// No Namespace can be read: a string that asks for `ns` fails.
    pub fn new(pod: Text, namespace: &str) -> Self {
        Self::in_namespace(pod, NamespaceSource::unreadable(namespace), None)
    }

    /// For a Pod created in `namespace`, which template strings may read as `ns`; `workload` when
    /// its caller knows it.
    pub fn in_namespace(pod: Text, namespace: NamespaceSource, workload: Option<Workload>) -> Self {
        Self {
            pod,
            workload,
            source: namespace,
            ns: None,
            engine: None,
        }
    }

    /// One template string, evaluated: a string that is one expression, `{{ … }}`, gives the
    /// expression's value with its type (see [`typed`]); any other gives its text.
    pub fn evaluate(&mut self, text: &str) -> Result<Output, String> {
        let expression = expression(text);
        if let Some(output) = simple::evaluate(text, expression, &self.pod, self.source.name()) {
            return Ok(output);
        }
        let Some(expression) = expression else {
            return self.engine_render(text).map(Output::Text);
        };
        let (env, context) = self.engine();
        let compiled = match env.compile_expression(expression) {
            Ok(compiled) => compiled,
            // Not one expression after all (`{{ a }} {{ b }}` has its braces inside): text.
            Err(_) => return self.engine_render(text).map(Output::Text),
        };
        let value = compiled.eval(context).map_err(|e| describe(&e));
        self.namespace_failed()?;
        let value = value?;
        Ok(if value.is_undefined() {
            Output::Undefined
        } else if value.is_none() {
            Output::Nothing
        } else if let Some(text) = value.as_str() {
            Output::Text(text.to_string())
        } else {
            Output::Value(serde_json::to_value(&value).map_err(|e| e.to_string())?)
        })
    }

    fn engine_render(&mut self, text: &str) -> Result<String, String> {
        let (env, context) = self.engine();
        let rendered = env.render_str(text, context).map_err(|e| describe(&e));
        self.namespace_failed()?;
        rendered
    }

    /// The Namespace, when a template string read it (`ns`).
    pub fn namespace_read(&self) -> Option<Arc<Namespace>> {
        self.ns.as_ref()?.object.get()?.as_ref()?;
        self.source.get(NS_NEEDED).ok()
    }

    /// A template string asked for `ns`, and the Namespace could not be read: the string's
    /// error, whatever the engine made of the missing value (never a guess).
    fn namespace_failed(&self) -> Result<(), String> {
        if !self.source.was_read() {
            return Ok(());
        }
        self.source
            .get(NS_NEEDED)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn engine(&mut self) -> &(Environment<'static>, minijinja::Value) {
        self.engine.get_or_insert_with(|| {
            let workload = LazyWorkload {
                pod: self.pod.clone(),
                namespace: self.source.name().to_string(),
                known: self.workload.take().map(OnceLock::from).unwrap_or_default(),
            };
            let ns = Arc::new(LazyNamespace {
                source: self.source.clone(),
                object: OnceLock::new(),
            });
            self.ns = Some(ns.clone());
            let context = minijinja::context! {
                pod => minijinja::Value::from_object(JsonNode { text: self.pod.clone(), place: Vec::new() }),
                namespace => self.source.name(),
                workload => minijinja::Value::from_object(workload),
                ns => minijinja::Value::from_dyn_object(ns),
            };
            (environment(), context)
        })
    }
}

/// A value of the Pod as the template engine sees it: a place in the Pod's text, read where a
/// template looks (see [`Text`]).
#[derive(Debug)]
struct JsonNode {
    text: Text,
    place: Place,
}

impl JsonNode {
    fn value(&self, found: Found) -> minijinja::Value {
        match found {
            Found::String(text) => minijinja::Value::from(text.as_ref()),
            Found::Container(_, place) => minijinja::Value::from_object(JsonNode {
                text: self.text.clone(),
                place,
            }),
            Found::Scalar(Value::Bool(b)) => minijinja::Value::from(b),
            Found::Scalar(Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => minijinja::Value::from(i),
                (_, Some(u), _) => minijinja::Value::from(u),
                (_, _, f) => minijinja::Value::from(f.unwrap_or_default()),
            },
            Found::Scalar(_) => minijinja::Value::from(()),
        }
    }

    fn kind(&self) -> Option<Kind> {
        match self.text.at(&self.place)? {
            Found::Container(kind, _) => Some(kind),
            _ => None,
        }
    }
}

impl Object for JsonNode {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.kind() {
            Some(Kind::Array) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let step = match self.kind()? {
            Kind::Object => Step::Key(Cow::Borrowed(key.as_str()?)),
            Kind::Array => Step::Index(key.as_usize()?),
            _ => return None,
        };
        let found = self.text.child_of(&self.place, &step)?;
        Some(self.value(found))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.text.members(&self.place) {
            Members::Keys(keys) => {
                Enumerator::Values(keys.into_iter().map(minijinja::Value::from).collect())
            }
            Members::Length(length) => Enumerator::Seq(length),
            Members::None => Enumerator::Empty,
        }
    }
}

/// `workload`: read from the Pod the first time a template string asks, so that templates that do
/// not use it pay nothing.
#[derive(Debug)]
struct LazyWorkload {
    pod: Text,
    namespace: String,
    known: OnceLock<Workload>,
}

impl LazyWorkload {
    fn get(&self) -> &Workload {
        self.known
            .get_or_init(|| Workload::of_pod(self.pod.as_str(), &self.namespace))
    }
}

impl Object for LazyWorkload {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let workload = self.get();
        let value = match key.as_str()? {
            "name" => &workload.name,
            "namespace" => &workload.namespace,
            "kind" => &workload.kind,
            "apiVersion" => &workload.api_version,
            _ => return None,
        };
        Some(minijinja::Value::from(value.as_str()))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["name", "namespace", "kind", "apiVersion"])
    }
}

/// `ns`: the Pod's Namespace, the object as read (`ns.metadata.labels`, `.annotations`), the
/// first time a template string asks for it. When it cannot be read, the string fails
/// ([`Renderer::evaluate`]): no lookup of it is ever answered with nothing.
#[derive(Debug)]
struct LazyNamespace {
    source: NamespaceSource,
    object: OnceLock<Option<minijinja::Value>>,
}

impl LazyNamespace {
    fn object(&self) -> Option<&minijinja::Value> {
        self.object
            .get_or_init(|| {
                let namespace = self.source.get(NS_NEEDED).ok()?;
                let text = Text::new(&namespace.object);
                Some(minijinja::Value::from_object(JsonNode {
                    text,
                    place: Vec::new(),
                }))
            })
            .as_ref()
    }
}

impl Object for LazyNamespace {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        self.object()?
            .get_item(key)
            .ok()
            .filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["apiVersion", "kind", "metadata"])
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_keep_trailing_newline(true);
    env.add_filter("fromjson", typed::from_json);
    env.add_filter("named_list", typed::named_list);
    env
}

fn describe(error: &minijinja::Error) -> String {
    let mut text = error.to_string();
    if let Some(detail) = error.detail()
        && !text.contains(detail)
    {
        text = format!("{text}: {detail}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {
                "name": "web-1",
                "labels": {"app": "web"},
                "annotations": {"proxyCPU": "250m", "evil": "x\"}, \"injected\": {\"a\": 1", "yaml": "a: b\n- c"}
            }
        })
    }

    #[rstest]
    #[case::plain("no template here", "no template here")]
    #[case::lone_braces("{ not: a template }", "{ not: a template }")]
    #[case::name("{{ pod.metadata.name }}", "web-1")]
    #[case::namespace("{{ namespace }}", "shop")]
    #[case::annotation("{{ pod.metadata.annotations['proxyCPU'] | default('100m') }}", "250m")]
    #[case::default_for_absent(
        "{{ pod.metadata.annotations['proxyMemory'] | default('128Mi') }}",
        "128Mi"
    )]
    #[case::default_through_missing_map("{{ pod.spec.nothing['x'] | default('y') }}", "y")]
    #[case::undefined_is_empty("[{{ pod.metadata.labels.version }}]", "[]")]
    #[case::statement(
        "{% if pod.metadata.labels.app == 'web' %}http{% else %}tcp{% endif %}",
        "http"
    )]
    #[case::json_syntax_stays_text(
        "{{ pod.metadata.annotations.evil }}",
        "x\"}, \"injected\": {\"a\": 1"
    )]
    #[case::yaml_syntax_stays_text("{{ pod.metadata.annotations.yaml }}", "a: b\n- c")]
    fn renders(#[case] text: &str, #[case] expected: &str) {
        let mut renderer = Renderer::new(Text::new(&pod().to_string()), "shop");
        assert_eq!(
            renderer.evaluate(text),
            Ok(Output::Text(expected.to_string()))
        );
    }

    #[test]
    fn render_error_says_what_failed() {
        let mut renderer = Renderer::new(Text::new(&pod().to_string()), "shop");
        let error = renderer
            .evaluate("{{ pod.metadata.name | nosuchfilter }}")
            .unwrap_err();
        assert!(error.contains("nosuchfilter"), "{error}");
    }

    #[rstest]
    #[case::number("{{ pod.metadata.annotations.n | default(15) }}", Output::Value(json!(15)))]
    #[case::int_filter("{{ pod.metadata.annotations.port | int }}", Output::Value(json!(8080)))]
    #[case::none(
        "{{ pod.metadata.annotations.absent | default(none) }}",
        Output::Nothing
    )]
    #[case::undefined("{{ pod.metadata.annotations.absent }}", Output::Undefined)]
    #[case::undefined_trimmed("{{- pod.metadata.annotations.absent -}}", Output::Undefined)]
    #[case::json("{{ pod.metadata.annotations.volumes | fromjson | named_list }}",
        Output::Value(json!([{"name": "data", "emptyDir": {}}])))]
    #[case::absent_json("{{ pod.metadata.annotations.absent | fromjson }}", Output::Undefined)]
    #[case::text_around("n={{ pod.metadata.annotations.port | int }}", Output::Text("n=8080".into()))]
    #[case::two_expressions("{{ 1 }}{{ 2 }}", Output::Text("12".into()))]
    #[case::block_end_inside("{{ pod.metadata.na}}me | default('x') }}", Output::Text("me | default('x') }}".into()))]
    #[case::dict_literal("{{ {'a': {'b': '}}'}} }}", Output::Value(json!({"a": {"b": "}}"}})))]
    #[case::string_value("{{ pod.metadata.name ~ '-x' }}", Output::Text("web-1-x".into()))]
    fn evaluates_one_expression_to_its_value(#[case] text: &str, #[case] expected: Output) {
        let pod = json!({"metadata": {"name": "web-1", "annotations": {"port": "8080", "volumes": "{\"data\": {\"emptyDir\": {}}}"}}});
        let mut renderer = Renderer::new(Text::new(&pod.to_string()), "shop");
        assert_eq!(renderer.evaluate(text), Ok(expected));
    }

    #[test]
    fn the_common_strings_need_no_engine_even_when_they_give_nothing() {
        let mut renderer = Renderer::new(Text::new(&pod().to_string()), "shop");
        let empty = "{{ pod.metadata.annotations['absent'] | default('') }}";
        assert_eq!(renderer.evaluate(empty), Ok(Output::Text(String::new())));
        let absent = "{{ pod.metadata.annotations['absent'] }}";
        assert_eq!(renderer.evaluate(absent), Ok(Output::Undefined));
        assert_eq!(
            renderer.evaluate(" {{ pod.metadata.name }} "),
            Ok(Output::Text(" web-1 ".into()))
        );
        assert!(renderer.engine.is_none(), "minijinja was set up");
    }

    #[test]
    fn loops_and_lengths_see_the_pod_lazily() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "x": {"k1": 1, "k2": 2.5, "k3": null, "k4": true}}});
        let mut renderer = Renderer::new(Text::new(&pod.to_string()), "shop");
        let texts = [
            "{% for c in pod.spec.containers %}{{ c.name }}{% if not loop.last %},{% endif %}{% endfor %}",
            "{{ pod.spec.x | list | join(' ') }}",
            "{{ pod.spec.x.k1 + 1 }} {{ pod.spec.x.k2 }} {{ pod.spec.x.k3 is none }} {{ pod.spec.x.k4 }}",
            "{{ pod.spec.containers[1].name }} {{ pod.spec.containers[7].name | default('none') }}",
        ];
        let rendered: Vec<Output> = texts
            .iter()
            .map(|text| renderer.evaluate(text).unwrap())
            .collect();
        let expected = ["a,b", "k1 k2 k3 k4", "2 2.5 True True", "b none"];
        assert_eq!(
            rendered,
            expected.map(|text| Output::Text(text.to_string()))
        );
        assert_eq!(
            renderer.evaluate("{{ pod.spec.containers | length }}"),
            Ok(Output::Value(json!(2)))
        );
    }

    fn shop_namespace() -> NamespaceSource {
        let text = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop",
            "labels": {"team": "checkout", "kubernetes.io/metadata.name": "shop"}, "annotations": {"sidecar.istio.io/proxyCPU": "300m"}}})
        .to_string();
        NamespaceSource::new("shop", Arc::new(move |_: &str| Ok(text.clone())))
    }

    #[test]
    fn ns_is_the_namespace_read_when_first_asked() {
        let namespace = shop_namespace();
        let mut renderer =
            Renderer::in_namespace(Text::new(&pod().to_string()), namespace.clone(), None);
        assert_eq!(
            renderer.evaluate("{{ pod.metadata.name }}"),
            Ok(Output::Text("web-1".into()))
        );
        assert!(!namespace.was_read(), "read before anything asked for ns");
        // The Pod's annotation, else the Namespace's, else the template's own default.
        let cpu = |key: &str| {
            format!(
                "{{{{ pod.metadata.annotations['{key}'] | default(ns.metadata.annotations['sidecar.istio.io/proxyCPU']) | default('100m') }}}}"
            )
        };
        assert_eq!(
            renderer.evaluate(&cpu("proxyCPU")),
            Ok(Output::Text("250m".into()))
        );
        assert_eq!(
            renderer.evaluate(&cpu("absent")),
            Ok(Output::Text("300m".into()))
        );
        assert_eq!(
            renderer.evaluate("{{ ns.metadata.labels.team }}/{{ ns.metadata.name }}/{{ ns.metadata.labels['kubernetes.io/metadata.name'] }}"),
            Ok(Output::Text("checkout/shop/shop".into()))
        );
        assert_eq!(
            renderer.evaluate("{{ ns.metadata.annotations.nothing }}"),
            Ok(Output::Undefined)
        );
    }

    #[test]
    fn ns_that_cannot_be_read_fails_the_string_that_asks() {
        let namespace = NamespaceSource::new(
            "shop",
            Arc::new(|_: &str| Err("namespaces \"shop\" is forbidden".to_string())),
        );
        let mut renderer = Renderer::in_namespace(Text::new(&pod().to_string()), namespace, None);
        for text in [
            "{{ ns.metadata.annotations['x'] | default('100m') }}",
            "cpu={{ ns.metadata.annotations['x'] | default('100m') }}",
        ] {
            assert_eq!(
                renderer.evaluate(text),
                Err("namespace shop could not be read, and a template string asks for it (ns): namespaces \"shop\" is forbidden".to_string()),
                "{text}"
            );
        }
        // Without a reader (the CLI without the Namespace's manifest, a native caller), the same.
        let mut renderer = Renderer::new(Text::new(&pod().to_string()), "shop");
        let error = renderer.evaluate("{{ ns.metadata.name }}").unwrap_err();
        assert!(
            error.contains("nothing here can read Namespaces"),
            "{error}"
        );
    }

    #[rstest]
    #[case::ok("{{ a | default('b') }}", true)]
    #[case::unclosed("{{ a ", false)]
    #[case::bad_statement("{% iff a %}{% endif %}", false)]
    fn syntax(#[case] text: &str, #[case] ok: bool) {
        assert_eq!(check_syntax(text).is_ok(), ok);
    }
}

#[cfg(test)]
mod expression_panics {
    use super::*;

    #[test]
    fn block_ends_inside_one_expression_do_not_panic() {
        let pod = Text::new(r#"{"metadata": {"name": "web"}}"#);
        let mut renderer = Renderer::new(pod, "shop");
        for text in [
            "{{ a %} b }}",
            "{{ a #} b }}",
            "{{ a -}} b }}",
            "{{ a }}} }}",
            "{{ ')' }} }}",
            "{{ a -%} }}",
            "{{ (a }}) }}",
            "{{ [a }}] }}",
            "{{ 'x' ~ }} }}",
        ] {
            let _ = renderer.evaluate(text);
            let _ = is_one_expression(text);
            let _ = check_syntax(text);
        }
    }
}
