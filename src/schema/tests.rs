//! The table generated again from k8s-openapi, and the validator held to k8s-openapi's
//! deserialization (the oracle) on generated objects, valid and broken.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{Container, LocalObjectReference, Volume};
use k8s_openapi::schemars::{SchemaGenerator, generate::SchemaSettings};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{CONTAINER, LOCAL_OBJECT_REFERENCE, Ty, VOLUME, check, kubernetes};
use crate::error::SettingsError;

const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema/kubernetes.rs");

/// The roots: what the template holds, by the constant's name.
const ROOTS: [(&str, &str); 3] = [
    ("CONTAINER", "io.k8s.api.core.v1.Container"),
    ("VOLUME", "io.k8s.api.core.v1.Volume"),
    (
        "LOCAL_OBJECT_REFERENCE",
        "io.k8s.api.core.v1.LocalObjectReference",
    ),
];

/// Types whose Deserialize is written by hand in k8s-openapi, each checked by hand in
/// [`super::Walk::value`]; the test fails on any other type that is not a struct, so that
/// an upgrade that reaches one is noticed.
fn special(definition: &str) -> Option<&'static str> {
    Some(match definition {
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => "Quantity",
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => "IntOrString",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
        | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => "Time",
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1" => "Any",
        _ => return None,
    })
}

fn definitions() -> BTreeMap<String, Value> {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
    generator.subschema_for::<Container>();
    generator.subschema_for::<Volume>();
    generator.subschema_for::<LocalObjectReference>();
    generator
        .take_definitions(true)
        .into_iter()
        .collect::<BTreeMap<_, _>>()
}

fn reference(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix("#/$defs/")
}

/// The Rust expression of a field's type.
fn ty(
    schema: &Value,
    index: &BTreeMap<&str, usize>,
    definitions: &BTreeMap<String, Value>,
) -> String {
    if let Some(name) = reference(schema) {
        if let Some(special) = special(name) {
            return format!("Ty::{special}");
        }
        let schema = &definitions[name];
        assert_eq!(
            schema["type"], "object",
            "{name} is neither a struct nor a known special type: {schema}"
        );
        return format!("Ty::Struct({})", index[name]);
    }
    let format = schema.get("format").and_then(Value::as_str);
    match (schema["type"].as_str(), format) {
        (Some("string"), None) => "Ty::String".into(),
        (Some("boolean"), None) => "Ty::Bool".into(),
        (Some("integer"), Some("int32")) => "Ty::Int32".into(),
        (Some("integer"), Some("int64")) => "Ty::Int64".into(),
        (Some("array"), None) => format!("Ty::List(&{})", ty(&schema["items"], index, definitions)),
        (Some("object"), None) if schema.get("additionalProperties").is_some() => {
            format!(
                "Ty::Map(&{})",
                ty(&schema["additionalProperties"], index, definitions)
            )
        }
        _ => panic!("a field type the validator does not know: {schema}"),
    }
}

/// The table, as the text of src/schema/kubernetes.rs.
fn generate() -> String {
    let definitions = definitions();
    let structs: Vec<&str> = definitions
        .keys()
        .map(String::as_str)
        .filter(|name| special(name).is_none())
        .collect();
    let index: BTreeMap<&str, usize> = structs
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, i))
        .collect();
    let short = |name: &str| name.rsplit('.').next().unwrap_or(name).to_string();
    let shorts: BTreeSet<String> = structs.iter().map(|name| short(name)).collect();
    assert_eq!(
        shorts.len(),
        structs.len(),
        "two types share a name; the table needs full names"
    );

    let mut out = String::new();
    out.push_str(
        "// Generated from k8s-openapi (Kubernetes v1.36) by src/schema/tests.rs: do not edit.\n\
         // `UPDATE_SCHEMA=1 cargo test --lib schema::tests::table_is_current` writes it again.\n\
         \n\
         use super::{Struct, Ty};\n\n",
    );
    for (constant, name) in ROOTS {
        writeln!(
            out,
            "pub const {constant}: Ty = Ty::Struct({});",
            index[name]
        )
        .unwrap();
    }
    writeln!(out, "\npub static STRUCTS: [Struct; {}] = [", structs.len()).unwrap();
    for name in &structs {
        let schema = &definitions[*name];
        assert_eq!(schema["type"], "object", "{name}");
        let extra: Vec<&String> = schema
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| {
                !["type", "properties", "required", "description"].contains(&key.as_str())
            })
            .collect();
        assert!(
            extra.is_empty(),
            "{name} has {extra:?}, which the validator does not read"
        );
        let mut fields: Vec<(&String, &Value)> =
            schema["properties"].as_object().unwrap().iter().collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        writeln!(out, "    // {name}").unwrap();
        writeln!(
            out,
            "    Struct {{\n        name: {:?},\n        fields: &[",
            short(name)
        )
        .unwrap();
        for (field, schema) in fields {
            writeln!(
                out,
                "            ({field:?}, {}),",
                ty(schema, &index, &definitions)
            )
            .unwrap();
        }
        out.push_str("        ],\n    },\n");
    }
    out.push_str("];\n");
    out
}

#[test]
fn table_is_current() {
    let generated = generate();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(TABLE, &generated).unwrap();
        return;
    }
    let current = std::fs::read_to_string(TABLE).unwrap_or_default();
    assert!(
        current == generated,
        "src/schema/kubernetes.rs is not what k8s-openapi gives; run UPDATE_SCHEMA=1 cargo test --lib schema::tests::table_is_current"
    );
}

/// What the settings did before this module: the value read as `T` by k8s-openapi, with the
/// fields it skipped refused (null ones aside), and the first problem's path.
fn oracle<T: DeserializeOwned>(value: &Value, at: &str) -> Result<(), SettingsError> {
    let mut unknown: Option<String> = None;
    let mut track = serde_path_to_error::Track::new();
    let mut skipped = |path: serde_ignored::Path| {
        let mut segments = Vec::new();
        segments_of(&path, &mut segments);
        let mut node = Some(value);
        let mut shown = String::new();
        for segment in &segments {
            node = node.and_then(|node| match segment {
                Ok(key) => node.get(key.as_str()),
                Err(index) => node.get(*index),
            });
            match segment {
                Ok(key) => write!(shown, ".{key}").unwrap(),
                Err(index) => write!(shown, "[{index}]").unwrap(),
            }
        }
        if unknown.is_none() && !node.is_none_or(Value::is_null) {
            unknown = Some(shown);
        }
    };
    let ignored = serde_ignored::Deserializer::new(value, &mut skipped);
    let parsed = T::deserialize(serde_path_to_error::Deserializer::new(ignored, &mut track));
    if let Err(error) = parsed {
        let error = serde_path_to_error::Error::new(track.path(), error);
        return Err(SettingsError::from_serde(error, at));
    }
    match unknown {
        Some(path) => Err(SettingsError::new(format!("{at}{path}"), "unknown field")),
        None => Ok(()),
    }
}

/// A serde_ignored path as keys (Ok) and indices (Err), from the root.
fn segments_of(path: &serde_ignored::Path, out: &mut Vec<Result<String, usize>>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            segments_of(parent, out);
            out.push(Err(*index));
        }
        Path::Map { parent, key } => {
            segments_of(parent, out);
            out.push(Ok(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments_of(parent, out),
    }
}

fn ours(value: &Value, ty: Ty, at: &str) -> Result<(), SettingsError> {
    check(value, ty).map_err(|problem| {
        SettingsError::new(format!("{at}{}", problem.display_path()), problem.message)
    })
}

/// Both verdicts on one object: the same, and refusals at the same path.
fn agree(value: &Value) -> Result<(), String> {
    let pairs = [
        (
            oracle::<Container>(value, "c"),
            ours(value, CONTAINER, "c"),
            "Container",
        ),
        (
            oracle::<Volume>(value, "c"),
            ours(value, VOLUME, "c"),
            "Volume",
        ),
        (
            oracle::<LocalObjectReference>(value, "c"),
            ours(value, LOCAL_OBJECT_REFERENCE, "c"),
            "LocalObjectReference",
        ),
    ];
    for (theirs, ours, name) in pairs {
        let same = match (&theirs, &ours) {
            (Ok(()), Ok(())) => true,
            (Err(a), Err(b)) => a.path == b.path,
            _ => false,
        };
        if !same {
            return Err(format!(
                "{name}: k8s-openapi {theirs:?}, ours {ours:?}, on {value}"
            ));
        }
    }
    Ok(())
}

/// Every struct the table has accepts an empty object where it stands: k8s-openapi gives the
/// fields the API calls required a default (Condition's lastTransitionTime is an exception,
/// which no template reaches), so the validator refuses no field for being missing. If a type
/// the template reaches ever refuses, this fails, and the validator must learn it.
#[test]
fn no_field_is_refused_for_being_missing() {
    let definitions = definitions();
    for (_, root) in ROOTS {
        let mut queue = VecDeque::from([(root.to_string(), Vec::<Value>::new())]);
        let mut seen = BTreeSet::new();
        while let Some((name, wrappers)) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            // The empty struct wrapped, innermost first, in its parents.
            let document = wrappers
                .iter()
                .rev()
                .fold(json!({}), |inner, wrapper| fill(wrapper, inner));
            assert_eq!(agree(&document), Ok(()));
            let verdict = match root {
                "io.k8s.api.core.v1.Container" => oracle::<Container>(&document, ""),
                "io.k8s.api.core.v1.Volume" => oracle::<Volume>(&document, ""),
                _ => oracle::<LocalObjectReference>(&document, ""),
            };
            assert_eq!(verdict, Ok(()), "{name} at {document}");
            let schema = &definitions[&name];
            for (field, schema) in schema["properties"].as_object().into_iter().flatten() {
                let (shape, inner) = match (
                    reference(schema),
                    schema.get("items"),
                    schema.get("additionalProperties"),
                ) {
                    (Some(name), _, _) => (json!({field: "HOLE"}), name),
                    (_, Some(items), _) => match reference(items) {
                        Some(name) => (json!({field: ["HOLE"]}), name),
                        None => continue,
                    },
                    (_, _, Some(values)) => match reference(values) {
                        Some(name) => (json!({field: {"k": "HOLE"}}), name),
                        None => continue,
                    },
                    _ => continue,
                };
                if special(inner).is_some() {
                    continue;
                }
                let mut wrappers = wrappers.clone();
                wrappers.push(shape);
                queue.push_back((inner.to_string(), wrappers));
            }
        }
    }
}

/// `wrapper` with its "HOLE" replaced by `inner`.
fn fill(wrapper: &Value, inner: Value) -> Value {
    match wrapper {
        Value::String(hole) if hole == "HOLE" => inner,
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| fill(item, inner.clone())).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, inner.clone())))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[rstest::rstest]
#[case::port_as_string(json!({"name": "a", "ports": [{"containerPort": "80"}]}))]
#[case::port_out_of_range(json!({"name": "a", "ports": [{"containerPort": 2147483648_u64}]}))]
#[case::port_negative_out_of_range(json!({"name": "a", "ports": [{"containerPort": -2147483649_i64}]}))]
#[case::port_float(json!({"name": "a", "ports": [{"containerPort": 80.0}]}))]
#[case::int64_too_big(json!({"securityContext": {"runAsUser": 9223372036854775808_u64}}))]
#[case::int64_float(json!({"securityContext": {"runAsUser": 1.5}}))]
#[case::int64_min(json!({"securityContext": {"runAsUser": i64::MIN}}))]
#[case::quantity_number(json!({"resources": {"limits": {"cpu": 1.5, "memory": 1}}}))]
#[case::quantity_bool(json!({"resources": {"limits": {"cpu": true}}}))]
#[case::quantity_null(json!({"resources": {"limits": {"cpu": null}}}))]
#[case::int_or_string_float(json!({"livenessProbe": {"httpGet": {"port": 1.5}}}))]
#[case::int_or_string_big(json!({"livenessProbe": {"httpGet": {"port": 4294967296_u64}}}))]
#[case::int_or_string_negative(json!({"livenessProbe": {"httpGet": {"port": -1}}}))]
#[case::int_or_string_name(json!({"livenessProbe": {"httpGet": {"port": "http"}}}))]
#[case::unknown_then_wrong(json!({"nme": "a", "image": 1}))]
#[case::unknown_null(json!({"nme": null, "ports": null}))]
#[case::list_null_item(json!({"args": [null]}))]
#[case::struct_as_list(json!({"securityContext": []}))]
#[case::struct_as_string(json!("x"))]
#[case::root_list(json!([]))]
#[case::map_null(json!({"ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": {"a": null}}}}}))]
#[case::fields_v1(json!({"ephemeral": {"volumeClaimTemplate": {"metadata": {"managedFields": [{"fieldsV1": {"f:x": [1, null]}}]}}}}))]
#[case::time(json!({"ephemeral": {"volumeClaimTemplate": {"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}}}}))]
#[case::time_wrong(json!({"ephemeral": {"volumeClaimTemplate": {"metadata": {"creationTimestamp": "yesterday"}}}}))]
#[case::time_number(json!({"ephemeral": {"volumeClaimTemplate": {"metadata": {"creationTimestamp": 0}}}}))]
#[case::exit_codes(json!({"restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "In", "values": [1, 2147483648_u64]}}]}))]
fn agrees_on(#[case] value: Value) {
    assert_eq!(agree(&value), Ok(()));
}

#[test]
fn messages_name_what_was_expected() {
    let message = |value: Value, ty| {
        let problem = check(&value, ty).unwrap_err();
        format!("{}: {}", problem.display_path(), problem.message)
    };
    assert_eq!(
        message(json!({"ports": [{"containerPort": "80"}]}), CONTAINER),
        ".ports[0].containerPort: expected a 32-bit integer, got the string \"80\""
    );
    assert_eq!(
        message(
            json!({"ports": [{"containerPort": 3000000000_u64}]}),
            CONTAINER
        ),
        ".ports[0].containerPort: expected a 32-bit integer, got 3000000000 (out of range)"
    );
    assert_eq!(
        message(json!({"env": [{"name": "A", "valueFrom": []}]}), CONTAINER),
        ".env[0].valueFrom: expected an object (Kubernetes EnvVarSource), got an array"
    );
    assert_eq!(
        message(json!({"resources": {"limits": {"cpu": true}}}), CONTAINER),
        ".resources.limits.cpu: expected a quantity (a string such as \"100m\" or \"1Gi\", or a number), got true"
    );
    assert_eq!(
        message(json!({"emptyDir": {"medum": "Memory"}}), VOLUME),
        ".emptyDir.medum: unknown field (not in the Kubernetes v1.36 API); check its spelling"
    );
}

/// A small deterministic generator, so that a failing case can be read from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

const TIMESTAMPS: &[&str] = &[
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00.123456789Z",
    "2024-01-01t00:00:00z",
    "2024-01-01 00:00:00+01:00",
    "2024-01-01T00:00:00-0130",
    "20240101T000000Z",
    "2024-01-01T00Z",
    "2024-01-01T00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2016-12-31T23:59:60Z",
    "2024-01-01T00:00:00",
    "2024-01-01",
    "2024-01-01T00:00:00Z[UTC]",
    "2024-01-01T00:00:00+00:00[!Europe/Paris][u-ca=iso8601]",
    "2024-01-01T00:00:00,5Z",
    "+002024-01-01T00:00:00Z",
    "-000000-01-01T00:00:00Z",
    "2024-0101T00:00:00Z",
    "-009999-01-02T01:59:59Z",
    "-009999-01-02T01:59:58Z",
    "9999-12-30T22:00:00Z",
    "9999-12-30T22:00:01Z",
    "9999-12-31T23:59:59+25:59",
    "2024-01-01T00:00:00+25:59:59.4",
    "2024-01-01T00:00:00+25:59:59.5",
    "0000-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "2024-01-01T00:00:00Z[+01:00]",
    "2024-01-01T00:00:00Z[+01:00:00]",
    "2024-01-01T00:00:00Z[!Europe/Paris][u-ca=iso8601][x=a-b-c]",
    "2024-01-01T00:00:00Z[a/b=c]",
    "2024-01-01T00:00:00Z[!u-ca=iso8601]",
    "2024-01-01T00:00:00.1234567890Z",
    "yesterday",
    "",
];

fn scalar(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.pick(&[0_i64, 1, -1, 80, 2147483647, -2147483648])),
        3 => json!(rng.pick(&[2147483648_i64, -2147483649, i64::MAX, i64::MIN])),
        4 => json!(rng.pick(&[9223372036854775808_u64, u64::MAX])),
        5 => json!(rng.pick(&[0.5_f64, 1.0, -2.5, 1e10])),
        6 => json!(rng.pick(&["", "a", "proxy", "100m", "1Gi", "80", "true"])),
        7 => json!(rng.pick(TIMESTAMPS)),
        8 => json!([]),
        9 => json!({}),
        10 => json!([rng.pick(&["a", "b"])]),
        11 => json!({"a": "b"}),
        12 => json!([1, "x", null]),
        _ => json!({"k": 1}),
    }
}

/// A value of type `ty`, mostly valid; `depth` bounds the nesting.
fn generate_value(rng: &mut Rng, ty: Ty, depth: u32) -> Value {
    // A mutation: any value where this one belongs.
    if rng.chance(4) {
        return scalar(rng);
    }
    match ty {
        Ty::String => json!(rng.pick(&["a", "proxy", "", "Always"])),
        Ty::Bool => json!(rng.chance(50)),
        Ty::Int32 => json!(rng.pick(&[0_i64, 80, -1, 2147483647, -2147483648])),
        Ty::Int64 => json!(rng.pick(&[0_i64, 1000, -1, i64::MAX, i64::MIN])),
        Ty::Quantity => rng.pick(&[json!("100m"), json!("1Gi"), json!(2), json!(0.5)]),
        Ty::IntOrString => rng.pick(&[json!(8080), json!("http"), json!(-5)]),
        Ty::Time => json!(rng.pick(TIMESTAMPS)),
        Ty::Any => scalar(rng),
        Ty::List(item) => {
            let n = if depth == 0 { 0 } else { rng.below(3) };
            Value::Array(
                (0..n)
                    .map(|_| generate_value(rng, *item, depth - 1))
                    .collect(),
            )
        }
        Ty::Map(item) => {
            let n = if depth == 0 { 0 } else { rng.below(3) };
            Value::Object(
                (0..n)
                    .map(|i| {
                        (
                            format!("k{i}"),
                            generate_value(rng, *item, depth.saturating_sub(1)),
                        )
                    })
                    .collect(),
            )
        }
        Ty::Struct(index) => {
            let ty = &kubernetes::STRUCTS[usize::from(index)];
            let mut map = serde_json::Map::new();
            if depth > 0 {
                for (name, field) in ty.fields {
                    let wanted = matches!(field, Ty::Struct(_) | Ty::List(Ty::Struct(_)));
                    if rng.chance(if wanted { 20 } else { 10 }) {
                        map.insert(name.to_string(), generate_value(rng, *field, depth - 1));
                    }
                }
            }
            if rng.chance(5) {
                let value = if rng.chance(50) {
                    Value::Null
                } else {
                    scalar(rng)
                };
                map.insert(
                    rng.pick(&["nme", "imagePullPolicyy", "Name", "emptydir"])
                        .to_string(),
                    value,
                );
            }
            if rng.chance(5) && !map.is_empty() {
                // A field given explicitly as null.
                let key = map
                    .keys()
                    .nth(rng.below(map.len()))
                    .cloned()
                    .unwrap_or_default();
                map.insert(key, Value::Null);
            }
            Value::Object(map)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_validator_agrees_with_k8s_openapi(seed in any::<u64>(), root in 0..3_usize, depth in 1..7_u32) {
        let mut rng = Rng(seed | 1);
        let ty = [CONTAINER, VOLUME, LOCAL_OBJECT_REFERENCE][root];
        let value = generate_value(&mut rng, ty, depth);
        prop_assert_eq!(agree(&value), Ok(()));
    }

    #[test]
    fn timestamps_are_read_as_jiff_reads_them(text in "[-+0-9:.,TtZz \\[\\]!=a-z/]{0,40}") {
        let theirs = serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>(json!(text)).is_ok();
        prop_assert_eq!(super::time::check(&text).is_ok(), theirs, "{:?}", text);
    }

}

/// Timestamps near the listed ones, edited at random (two million of them agreed when this
/// was written; a smaller run stays in the suite).
#[test]
fn edited_timestamps_are_read_as_jiff_reads_them() {
    let alphabet = b"-+0123456789:.,TtZz []!=aZ/_u59";
    let mut rng = Rng(12345);
    let mut accepted = 0;
    for text in TIMESTAMPS {
        let theirs =
            serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>(json!(
                text
            ))
            .is_ok();
        assert_eq!(super::time::check(text).is_ok(), theirs, "{text:?}");
    }
    for _ in 0..100_000 {
        let mut text = TIMESTAMPS[rng.below(TIMESTAMPS.len())]
            .to_string()
            .into_bytes();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(text.len() + 1);
            match rng.below(3) {
                0 => text.insert(at, alphabet[rng.below(alphabet.len())]),
                1 if at < text.len() => {
                    text.remove(at);
                }
                _ if at < text.len() => text[at] = alphabet[rng.below(alphabet.len())],
                _ => {}
            }
        }
        let text = String::from_utf8(text).unwrap();
        let theirs =
            serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>(json!(
                text
            ))
            .is_ok();
        let ours = super::time::check(&text).is_ok();
        assert_eq!(ours, theirs, "{text:?}");
        accepted += usize::from(ours);
    }
    // Enough of them valid for the test to mean something.
    assert!(accepted > 2_000, "{accepted}");
}
