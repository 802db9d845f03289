//! The revision: a short name for what injection adds to a Pod, recorded in the status annotation.
//!
//! It must name the sidecar, not the bytes a host happened to send: the CLI reads settings from
//! YAML, kwctl and the policy server hand the module JSON with sorted keys, and a person may write
//! `15090`, `15090.0` or `1.509e4`. So the revision hashes a canonical form of the parsed template
//! and of the settings that change where its parts go: object keys sorted, no whitespace, every
//! absent list or map the same as an empty one, and each number written one way (an integral
//! value as an integer). Two settings that inject the same things in the same places get the same
//! revision wherever they are evaluated, which is what finding stale sidecars relies on.

use std::io::{self, Write};

use serde_json::{Map, Value};

use crate::settings::Template;

/// Bumped when the canonical form changes, so that old and new revisions never collide by chance.
const FORM: &[u8] = b"sidecar-injector revision 1\n";

/// The settings besides the template that change the injected Pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub native_sidecars: bool,
    pub hold_application_until_proxy_starts: bool,
}

/// The revision of `template` injected with `placement`: 16 hex digits.
pub fn revision(template: &Template, placement: Placement) -> String {
    // A name, not a security boundary: xxh3 is fast enough to run on every injection.
    let mut hasher = Hasher(xxhash_rust::xxh3::Xxh3::new());
    hasher.0.update(FORM);
    // Writing to a hasher cannot fail.
    let _ = write_canonical_settings(&mut hasher, template, placement);
    format!("{:016x}", hasher.0.digest())
}

/// The canonical form itself, as text: what [`revision`] hashes, for tests and for a person
/// wondering why two revisions differ.
pub fn canonical_form(template: &Template, placement: Placement) -> String {
    let mut out = Vec::new();
    let _ = write_canonical_settings(&mut out, template, placement);
    String::from_utf8_lossy(&out).into_owned()
}

fn write_canonical_settings(
    out: &mut impl Write,
    template: &Template,
    placement: Placement,
) -> io::Result<()> {
    // Keys in sorted order, as write_canonical writes every object.
    write!(
        out,
        "{{\"holdApplicationUntilProxyStarts\":{},\"nativeSidecars\":{},\"template\":{{",
        placement.hold_application_until_proxy_starts, placement.native_sidecars
    )?;
    let Template {
        containers,
        init_containers,
        volumes,
        image_pull_secrets,
        labels,
        annotations,
    } = template;
    out.write_all(b"\"annotations\":")?;
    write_object(out, annotations)?;
    for (key, list) in [
        ("containers", containers),
        ("imagePullSecrets", image_pull_secrets),
        ("initContainers", init_containers),
    ] {
        write!(out, ",\"{key}\":")?;
        write_array(out, list)?;
    }
    out.write_all(b",\"labels\":")?;
    write_object(out, labels)?;
    out.write_all(b",\"volumes\":")?;
    write_array(out, volumes)?;
    out.write_all(b"}}")
}

/// `value` as canonical JSON.
pub fn write_canonical(out: &mut impl Write, value: &Value) -> io::Result<()> {
    match value {
        Value::Null => out.write_all(b"null"),
        Value::Bool(b) => write!(out, "{b}"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => serde_json::to_writer(&mut *out, text).map_err(io::Error::from),
        Value::Array(items) => write_array(out, items),
        Value::Object(map) => write_object(out, map),
    }
}

fn write_array(out: &mut impl Write, items: &[Value]) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_canonical(out, item)?;
    }
    out.write_all(b"]")
}

fn write_object(out: &mut impl Write, map: &Map<String, Value>) -> io::Result<()> {
    // Sorted by the keys' UTF-8 bytes, as a BTreeMap<String, _> (the hosts' order) sorts them.
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{")?;
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, key).map_err(io::Error::from)?;
        out.write_all(b":")?;
        write_canonical(out, item)?;
    }
    out.write_all(b"}")
}

/// Integers as integers, integral floats (`1.0`, `1e3`) as the integer they are, other floats in
/// their shortest round-tripping form.
fn write_number(out: &mut impl Write, number: &serde_json::Number) -> io::Result<()> {
    if let Some(n) = number.as_i64() {
        return write!(out, "{n}");
    }
    if let Some(n) = number.as_u64() {
        return write!(out, "{n}");
    }
    let float = number.as_f64().unwrap_or_default();
    // Within ±2^53 every integer is exact in an f64, so the conversion loses nothing.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if float.fract() == 0.0 && float.abs() <= EXACT {
        return write!(out, "{}", float as i64);
    }
    write!(out, "{number}")
}

struct Hasher(xxhash_rust::xxh3::Xxh3);

impl Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(value: Value) -> Template {
        serde_json::from_value(value).unwrap()
    }

    const PLAIN: Placement = Placement {
        native_sidecars: false,
        hold_application_until_proxy_starts: false,
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
        ] {
            assert_ne!(one, revision(&template(base.clone()), placement));
        }
    }

    #[test]
    fn a_revision_is_sixteen_hex_digits_and_stable() {
        // Pinned: a change here changes every injected Pod's revision, and so makes every running
        // Pod look stale. Change FORM with it.
        let t = template(json!({"containers": [{"name": "proxy", "image": "proxy:1"}]}));
        assert_eq!(revision(&t, PLAIN), "a59d9d8c83380a6d");
    }
}
