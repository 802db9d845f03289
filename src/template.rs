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

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::error::RenderError;

/// True when `text` holds template syntax; other strings are copied as they are.
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// Compiles `text` without rendering it: the load-time check of the settings.
pub fn check_syntax(text: &str) -> Result<(), String> {
    environment()
        .template_from_str(text)
        .map(drop)
        .map_err(|e| describe(&e))
}

/// Renders template strings against one Pod. The Pod is converted for the engine only when the
/// first template string is met, so templates without any pay nothing.
pub struct Renderer<'a> {
    pod: &'a Value,
    namespace: &'a str,
    engine: Option<(Environment<'static>, minijinja::Value)>,
}

impl<'a> Renderer<'a> {
    /// `namespace` is the request's: a Pod created by a controller often has none in its metadata.
    pub fn new(pod: &'a Value, namespace: &'a str) -> Self {
        Self {
            pod,
            namespace,
            engine: None,
        }
    }

    fn render_str(&mut self, text: &str) -> Result<String, String> {
        let (env, context) = self.engine.get_or_insert_with(|| {
            let context = minijinja::context! {
                pod => minijinja::Value::from_serialize(self.pod),
                namespace => self.namespace,
            };
            (environment(), context)
        });
        env.render_str(text, &*context).map_err(|e| describe(&e))
    }

    /// A copy of `value` with every template string rendered. `path` names `value` in errors.
    pub fn render(&mut self, value: &Value, path: &str) -> Result<Value, RenderError> {
        self.render_tree(value)
            .map_err(|(inner, message)| RenderError {
                path: format!("{path}{inner}"),
                message,
            })
    }

    /// On failure, the path below `value` (built on the way out, so success costs no strings).
    fn render_tree(&mut self, value: &Value) -> Result<Value, (String, String)> {
        Ok(match value {
            Value::String(text) if is_template(text) => Value::String(
                self.render_str(text)
                    .map_err(|message| (String::new(), message))?,
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        self.render_tree(item)
                            .map_err(|(path, message)| (format!("[{i}]{path}"), message))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut rendered = Map::with_capacity(map.len());
                for (key, item) in map {
                    let item = self
                        .render_tree(item)
                        .map_err(|(path, message)| (format!(".{key}{path}"), message))?;
                    rendered.insert(key.clone(), item);
                }
                Value::Object(rendered)
            }
            other => other.clone(),
        })
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_keep_trailing_newline(true);
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
        let pod = pod();
        let mut renderer = Renderer::new(&pod, "shop");
        let rendered = renderer.render(&json!(text), "t").unwrap();
        assert_eq!(rendered, json!(expected));
    }

    #[test]
    fn renders_inside_structures_and_leaves_other_values_alone() {
        let pod = pod();
        let mut renderer = Renderer::new(&pod, "shop");
        let template = json!({"name": "proxy", "args": ["--id", "{{ pod.metadata.name }}.{{ namespace }}"], "port": 15001, "tty": false});
        let rendered = renderer.render(&template, "t").unwrap();
        assert_eq!(
            rendered,
            json!({"name": "proxy", "args": ["--id", "web-1.shop"], "port": 15001, "tty": false})
        );
    }

    #[test]
    fn render_error_names_the_string() {
        let pod = pod();
        let mut renderer = Renderer::new(&pod, "shop");
        let template =
            json!({"env": [{"name": "A", "value": "{{ pod.metadata.name | nosuchfilter }}"}]});
        let error = renderer
            .render(&template, "template.containers[0]")
            .unwrap_err();
        assert_eq!(error.path, "template.containers[0].env[0].value");
        assert!(error.message.contains("nosuchfilter"), "{}", error.message);
    }

    #[rstest]
    #[case::ok("{{ a | default('b') }}", true)]
    #[case::unclosed("{{ a ", false)]
    #[case::bad_statement("{% iff a %}{% endif %}", false)]
    fn syntax(#[case] text: &str, #[case] ok: bool) {
        assert_eq!(check_syntax(text).is_ok(), ok);
    }
}
