//! The hash of what injection adds to a Pod, recorded as `hash` in the status annotation beside
//! the revision's name (the setting `revision`, which is no part of it). The module keeps the name
//! it had when the hash was the status annotation's `revision`; [`crate::status`] reads those too.
//!
//! It must name the sidecar, not the bytes a host happened to send: the CLI reads settings from
//! YAML, kwctl and the policy server hand the module JSON with sorted keys, and a person may write
//! `15090`, `15090.0` or `1.509e4`. So the hash is over a canonical form of the parsed template
//! and of the settings that change where its parts go ([`crate::json::Canonical`]: object keys
//! sorted, no whitespace, each number written one way), every absent list or map the same as an
//! empty one. Two settings that inject the same things in the same places get the same hash
//! wherever they are evaluated, which is what finding stale sidecars relies on.

use crate::error::RequestError;
use crate::json::{Canonical, Form, Part, StringValue, Text};
use crate::placement::Placement;
use crate::settings::{Chosen, Settings};

/// Bumped when the canonical form changes, so that old and new revisions never collide by chance.
const FORM: &[u8] = b"sidecar-injector revision 1\n";

/// The template's fields, in the canonical form's (sorted) order, with what an absent one means.
const TEMPLATE_FIELDS: [(&str, &str); 6] = [
    ("annotations", "{}"),
    ("containers", "[]"),
    ("imagePullSecrets", "[]"),
    ("initContainers", "[]"),
    ("labels", "{}"),
    ("volumes", "[]"),
];

/// The hash of what `settings` inject into `pod`: what the status annotation of a Pod injected now
/// would hold as `hash` (the templates and the placement it chooses count). A Pod injected with
/// another hash carries a stale sidecar.
pub fn for_pod(settings: &Settings, pod: &serde_json::Value) -> Result<String, RequestError> {
    let annotations = pod
        .pointer("/metadata/annotations")
        .and_then(serde_json::Value::as_object);
    Ok(revision_of(
        settings.text(),
        &settings.chosen(annotations)?,
        Placement::for_pod(settings, annotations)?,
    ))
}

/// The hash of what `settings` inject into a Pod that does not choose its templates.
pub fn current(settings: &Settings) -> String {
    settings
        .chosen(None)
        .map(|chosen| revision_of(settings.text(), &chosen, Placement::of(settings)))
        .unwrap_or_default()
}

/// The hash of the template `template` (its JSON text, as the settings hold it) injected with
/// `placement`: 16 hex digits.
pub fn revision(template: &str, placement: Placement) -> String {
    let text = Text::new(template);
    let chosen = [Chosen::one(text.root())];
    revision_of(&text, &chosen, placement)
}

/// The hash of the templates `chosen` of `text` (the settings' text, read once for the
/// settings and the hash), applied in that order.
pub fn revision_of(text: &Text, chosen: &[Chosen], placement: Placement) -> String {
    hash(&canonical_settings(text, chosen, placement, &mut |_| {}))
}

/// [`revision_of`], showing `strings` each string value of the templates that may be a template
/// string on the way: the one pass over the templates that an injection makes, which also finds
/// their template strings. `None` when a template is not valid JSON: the injection copies the
/// templates' text into the Pod, so this pass checks what it reads, though the settings' reader
/// ([`Settings::from_text`]) has already refused such text.
pub fn revision_reading<'t>(
    text: &'t Text,
    chosen: &[Chosen<'t>],
    placement: Placement,
    strings: &mut dyn FnMut(StringValue<'t>),
) -> Option<String> {
    let form = canonical_settings(text, chosen, placement, strings);
    form.is_valid().then(|| hash(&form))
}

/// The form hashed, `FORM` first, 16 hex digits. A name, not a security boundary: xxh3 is fast
/// enough to run on every injection.
fn hash(form: &Form) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(FORM);
    for chunk in form.chunks() {
        hasher.update(chunk);
    }
    format!("{:016x}", hasher.digest())
}

/// The canonical form itself, as text: what [`revision`] hashes, for tests and for a person
/// wondering why two hashes differ.
pub fn canonical_form(template: &str, placement: Placement) -> String {
    let text = Text::new(template);
    let chosen = [Chosen::one(text.root())];
    canonical_settings(&text, &chosen, placement, &mut |_| {}).to_text()
}

/// A field of a placement setting in the canonical form.
enum Field<'a> {
    Text(&'a str),
    /// A number, as its digits.
    Number(&'a str),
}

/// `"key":{"field":value,…},`: a placement setting, its fields given in sorted order.
fn push_setting(writer: &mut Canonical, key: &str, fields: &[(&str, Field)]) {
    writer.push_string(key);
    writer.push(b":{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            writer.push(b",");
        }
        writer.push_string(name);
        writer.push(b":");
        match value {
            Field::Text(text) => writer.push_string(text),
            Field::Number(digits) => writer.push(digits.as_bytes()),
        }
    }
    writer.push(b"},");
}

/// `{"holdApplicationUntilProxyStarts":…,"nativeSidecars":…,"template":{…}}` for the one
/// `template`, `…,"templates":[{"name":…,"template":{…}},…]}` for named ones, in the order they
/// apply (with `networkInitContainers`, `probeRewrite` and `prometheusMerge` between them when set): keys in sorted
/// order, as every object of the canonical form.
fn canonical_settings<'t>(
    text: &'t Text,
    chosen: &[Chosen<'t>],
    placement: Placement,
    strings: &mut dyn FnMut(StringValue<'t>),
) -> Form<'t> {
    let mut writer = Canonical::new(text, strings);
    // Written as serde_json writes these values (keys in order, no whitespace): they are written
    // for every injection, so without building them as values first.
    let boolean = |value: bool| if value { "true" } else { "false" };
    writer.push(b"{\"holdApplicationUntilProxyStarts\":");
    writer.push(boolean(placement.hold_application_until_proxy_starts).as_bytes());
    writer.push(b",\"nativeSidecars\":");
    writer.push(boolean(placement.native_sidecars).as_bytes());
    writer.push(b",");
    // These are absent when not set, so that the revisions of settings without them did not
    // change. The network init containers are a set: the templates give their order.
    if !placement.network_init_containers.is_empty() {
        let mut names: Vec<&String> = placement.network_init_containers.iter().collect();
        crate::sort::sort(&mut names);
        names.dedup();
        writer.push(b"\"networkInitContainers\":[");
        for (i, name) in names.into_iter().enumerate() {
            if i > 0 {
                writer.push(b",");
            }
            writer.push_string(name);
        }
        writer.push(b"],");
    }
    if let Some(rewrite) = placement.probe_rewrite {
        let port = rewrite.status_port.to_string();
        push_setting(
            &mut writer,
            "probeRewrite",
            &[
                ("container", Field::Text(&rewrite.container)),
                ("env", Field::Text(&rewrite.env)),
                ("statusPort", Field::Number(&port)),
            ],
        );
    }
    if let Some(merge) = placement.prometheus_merge {
        let port = merge.port.to_string();
        push_setting(
            &mut writer,
            "prometheusMerge",
            &[
                ("container", Field::Text(&merge.container)),
                ("env", Field::Text(&merge.env)),
                ("path", Field::Text(&merge.path)),
                ("port", Field::Number(&port)),
            ],
        );
    }
    match chosen {
        [
            Chosen {
                name: None,
                template,
            },
        ] => {
            writer.push(b"\"template\":");
            write_template(&mut writer, *template);
        }
        named => {
            writer.push(b"\"templates\":[");
            for (i, template) in named.iter().enumerate() {
                if i > 0 {
                    writer.push(b",");
                }
                writer.push(b"{\"name\":");
                writer.push_string(template.name.unwrap_or_default());
                writer.push(b",\"template\":");
                write_template(&mut writer, template.template);
                writer.push(b"}");
            }
            writer.push(b"]");
        }
    }
    writer.push(b"}");
    writer.finish()
}

/// A template: each of its fields in sorted order, an absent one as its empty value. The template
/// was checked when the settings were read: an object of these fields.
fn write_template<'t>(writer: &mut Canonical<'t, '_>, template: Part<'t>) {
    writer.push(b"{");
    for (i, (field, empty)) in TEMPLATE_FIELDS.iter().enumerate() {
        if i > 0 {
            writer.push(b",");
        }
        writer.push(b"\"");
        writer.push(field.as_bytes());
        writer.push(b"\":");
        if !template
            .get(field)
            .is_some_and(|value| writer.value_under(field, value))
        {
            writer.push(empty.as_bytes());
        }
    }
    writer.push(b"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn template(value: Value) -> String {
        value.to_string()
    }

    const PLAIN: Placement = Placement {
        native_sidecars: false,
        hold_application_until_proxy_starts: false,
        network_init_containers: &[],
        probe_rewrite: None,
        prometheus_merge: None,
    };

    #[test]
    fn the_canonical_form_sorts_keys_and_spells_numbers_one_way() {
        let t = template(json!({
            "labels": {"z": "1", "a": "2"},
            "containers": [{"name": "p", "image": "i", "ports": [{"containerPort": 15090.0, "name": "m"}],
                "resources": {"limits": {"cpu": 1e3}}, "x": [0.5, -0.0, 1e300, "é\"\n"]}]
        }));
        assert_eq!(
            canonical_form(&t, PLAIN),
            r#"{"holdApplicationUntilProxyStarts":false,"nativeSidecars":false,"template":{"annotations":{},"containers":[{"image":"i","name":"p","ports":[{"containerPort":15090,"name":"m"}],"resources":{"limits":{"cpu":1000}},"x":[0.5,0,1e+300,"é\"\n"]}],"imagePullSecrets":[],"initContainers":[],"labels":{"a":"2","z":"1"},"volumes":[]}}"#
        );
    }

    #[test]
    fn absent_and_empty_lists_are_the_same() {
        let bare = template(json!({"containers": [{"name": "p", "image": "i"}]}));
        let explicit = template(json!({"containers": [{"name": "p", "image": "i"}],
            "volumes": [], "initContainers": [], "imagePullSecrets": [], "labels": {}, "annotations": {}}));
        assert_eq!(revision(&bare, PLAIN), revision(&explicit, PLAIN));
    }

    #[test]
    fn what_changes_the_pod_changes_the_revision() {
        let base = json!({"containers": [{"name": "p", "image": "i", "args": ["a", "b"]}]});
        let one = revision(&template(base.clone()), PLAIN);
        let variants = [
            json!({"containers": [{"name": "p", "image": "i", "args": ["b", "a"]}]}),
            json!({"containers": [{"name": "p", "image": "i2", "args": ["a", "b"]}]}),
            json!({"initContainers": [{"name": "p", "image": "i", "args": ["a", "b"]}]}),
            json!({"containers": [{"name": "p", "image": "i", "args": ["a", "b"]}], "labels": {"l": "v"}}),
        ];
        for variant in variants {
            assert_ne!(
                one,
                revision(&template(variant.clone()), PLAIN),
                "{variant}"
            );
        }
        for placement in [
            Placement {
                native_sidecars: true,
                ..PLAIN
            },
            Placement {
                hold_application_until_proxy_starts: true,
                ..PLAIN
            },
            Placement {
                network_init_containers: &["p".to_string()],
                ..PLAIN
            },
        ] {
            assert_ne!(one, revision(&template(base.clone()), placement));
        }
    }

    /// The placement settings as the canonical form wrote them when it built them as serde values:
    /// the same text, escapes included.
    #[test]
    fn placement_settings_are_written_as_serde_json_writes_them() {
        let odd = "a\"b\\c\u{1}d\u{e9}</";
        let rewrite = crate::probes::ProbeRewrite {
            container: odd.to_string(),
            status_port: 15020,
            env: "ENV".to_string(),
        };
        let merge: crate::metrics::PrometheusMerge =
            serde_json::from_value(json!({"container": "c", "port": 1, "path": odd, "env": "E\n"}))
                .unwrap();
        let names = ["z".to_string(), odd.to_string(), "z".to_string()];
        for hold in [false, true] {
            let placement = Placement {
                native_sidecars: !hold,
                hold_application_until_proxy_starts: hold,
                network_init_containers: &names,
                probe_rewrite: Some(&rewrite),
                prometheus_merge: Some(&merge),
            };
            let mut sorted: Vec<&String> = names.iter().collect();
            sorted.sort_unstable();
            sorted.dedup();
            let expected = format!(
                "{{\"holdApplicationUntilProxyStarts\":{},\"nativeSidecars\":{},\"networkInitContainers\":{},\"probeRewrite\":{},\"prometheusMerge\":{},\"template\":",
                hold,
                !hold,
                json!(sorted),
                json!({"container": rewrite.container, "env": rewrite.env, "statusPort": rewrite.status_port}),
                json!({"container": merge.container, "env": merge.env, "path": merge.path, "port": merge.port}),
            );
            let form = canonical_form(&template(json!({})), placement);
            assert!(form.starts_with(&expected), "{form}\n{expected}");
        }
    }

    #[test]
    fn network_init_containers_are_a_set_and_absent_when_empty() {
        let t = template(
            json!({"initContainers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}),
        );
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let (ab, ba) = (names(&["a", "b"]), names(&["b", "a", "b"]));
        let with = |names| Placement {
            network_init_containers: names,
            ..PLAIN
        };
        assert_eq!(revision(&t, with(&ab)), revision(&t, with(&ba)));
        assert!(canonical_form(&t, with(&ba)).contains(r#""networkInitContainers":["a","b"],"#));
        assert!(!canonical_form(&t, PLAIN).contains("networkInitContainers"));
    }

    #[test]
    fn key_order_whitespace_and_number_spelling_do_not_count() {
        let one = r#"{"containers": [{"name": "p", "image": "i", "ports": [{"containerPort": 15090, "name": "m"}]}], "labels": {"a": "1", "b": "2"}}"#;
        let other = "{ \"labels\" : {\"b\":\"2\",\"a\":\"1\"},\n \"containers\":[{\"ports\":[{\"name\":\"m\",\"containerPort\":1.509e4}],\"image\":\"i\",\"name\":\"p\"}]}";
        assert_eq!(revision(one, PLAIN), revision(other, PLAIN));
        assert_eq!(canonical_form(one, PLAIN), canonical_form(other, PLAIN));
    }

    #[test]
    fn templates_nested_deeper_than_serde_reads_end_the_pass_without_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let template =
            format!(r#"{{"containers": [{{"name": "p", "image": "i", "args": {deep}}}]}}"#);
        // Such settings never pass `validate_settings`; the pass stops where serde_json would.
        assert_eq!(revision(&template, PLAIN).len(), 16);
    }

    #[test]
    fn of_duplicate_keys_the_last_counts() {
        assert_eq!(
            canonical_form(r#"{"labels": {"a": "1", "b": "2", "a": "3"}}"#, PLAIN),
            canonical_form(r#"{"labels": {"b": "2", "a": "3"}}"#, PLAIN)
        );
    }

    /// The revision an injection reads for the template `text`.
    fn reading(text: &str) -> Option<String> {
        let text = Text::new(text);
        revision_reading(&text, &[Chosen::one(text.root())], PLAIN, &mut |_| {})
    }

    #[rstest::rstest]
    #[case::control_character(
        "{\"containers\":[{\"name\":\"p\",\"image\":\"i\",\"args\":[\"a\nb\"]}]}"
    )]
    #[case::control_character_written_otherwise(
        "{\"containers\": [{\"name\": \"p\", \"args\": [\"a\tb\"]}]}"
    )]
    #[case::no_colon(r#"{"containers":[{"name":"p","image":"i","x"}]}"#)]
    #[case::bad_literal(r#"{"containers":[{"name":"p","ready":tru}]}"#)]
    #[case::bad_number(r#"{"containers":[{"name":"p","port":1.}]}"#)]
    #[case::number_out_of_range(r#"{"containers":[{"name":"p","port":1e999}]}"#)]
    #[case::number_out_of_range_written_otherwise(
        r#"{"containers": [{"name": "p", "port": -1e999}]}"#
    )]
    #[case::bad_escape(r#"{"labels":{"a":"\q"}}"#)]
    #[case::control_character_in_a_key("{\"containers\":[{\"n\u{0}\":{}}]}")]
    fn a_template_that_is_not_json_has_no_revision(#[case] text: &str) {
        assert_eq!(reading(text), None, "{text}");
    }

    #[test]
    fn a_template_written_otherwise_has_the_revision_of_its_canonical_form() {
        let text = "{ \"containers\" : [ {\"name\": \"p\", \"image\": \"i\", \"port\": 1.5e1} ] }";
        assert_eq!(
            reading(text),
            Some(revision(
                r#"{"containers":[{"image":"i","name":"p","port":15}]}"#,
                PLAIN
            ))
        );
    }

    /// Any JSON value, with the strings and numbers that have more than one spelling.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::from),
            "[\"\\\\/\n\t\u{1}a{}é]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(("[a-c\"é]{0,2}", inner), 0..4)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Copying what is canonical and writing it anew give the same form and show the same
        /// strings: the host's compact text with sorted keys, against the same value pretty-printed.
        #[test]
        fn copied_or_written_the_form_is_the_same(value in any_json()) {
            let compact = json!({"containers": [crate::json::sorted_keys(&value)]}).to_string();
            let pretty = serde_json::to_string_pretty(&json!({"containers": [value]})).unwrap();
            let shown = |text: &str| {
                let text = Text::new(text);
                let chosen = [Chosen::one(text.root())];
                let mut strings = Vec::new();
                let revision = revision_reading(&text, &chosen, PLAIN, &mut |string| {
                    strings.push(string.unescaped().unwrap().into_owned());
                })
                .unwrap();
                strings.sort();
                (revision, strings)
            };
            proptest::prop_assert_eq!(canonical_form(&compact, PLAIN), canonical_form(&pretty, PLAIN));
            proptest::prop_assert_eq!(shown(&compact), shown(&pretty));
        }
    }

    #[test]
    fn a_revision_is_sixteen_hex_digits_and_stable() {
        // Pinned: a change here changes every injected Pod's hash, and so makes every running
        // Pod look stale. Change FORM with it.
        let t = template(json!({"containers": [{"name": "proxy", "image": "proxy:1"}]}));
        assert_eq!(revision(&t, PLAIN), "a59d9d8c83380a6d");
    }
}
