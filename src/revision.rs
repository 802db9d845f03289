//! The revision: a short name for what injection adds to a Pod, recorded in the status annotation.
//!
//! It must name the sidecar, not the bytes a host happened to send: the CLI reads settings from
//! YAML, kwctl and the policy server hand the module JSON with sorted keys, and a person may write
//! `15090`, `15090.0` or `1.509e4`. So the revision hashes a canonical form of the parsed template
//! and of the settings that change where its parts go: object keys sorted, no whitespace, every
//! absent list or map the same as an empty one, and each number written one way (an integral
//! value as an integer). Two settings that inject the same things in the same places get the same
//! revision wherever they are evaluated, which is what finding stale sidecars relies on.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::RequestError;
use crate::json::{Doc, Level, StringScan, scan_string, skip_string, skip_whitespace};
use crate::probes::ProbeRewrite;
use crate::settings::{Chosen, Settings};

/// Bumped when the canonical form changes, so that old and new revisions never collide by chance.
const FORM: &[u8] = b"sidecar-injector revision 1\n";

/// serde_json's recursion limit, which the settings were read with when the policy was loaded.
const MAX_DEPTH: usize = 128;

/// The template's fields, in the canonical form's (sorted) order, with what an absent one means.
const TEMPLATE_FIELDS: [(&str, &str); 6] = [
    ("annotations", "{}"),
    ("containers", "[]"),
    ("imagePullSecrets", "[]"),
    ("initContainers", "[]"),
    ("labels", "{}"),
    ("volumes", "[]"),
];

/// The settings besides the template that change the injected Pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'s> {
    pub native_sidecars: bool,
    pub hold_application_until_proxy_starts: bool,
    pub probe_rewrite: Option<&'s ProbeRewrite>,
}

impl<'s> Placement<'s> {
    /// What `settings` say of where the injected parts go.
    pub fn of(settings: &'s Settings) -> Self {
        Self {
            native_sidecars: settings.native_sidecars,
            hold_application_until_proxy_starts: settings.hold_application_until_proxy_starts,
            probe_rewrite: settings.probe_rewrite.as_ref(),
        }
    }
}

/// The revision `settings` inject into `pod`: what the status annotation of a Pod injected now
/// would hold (the templates it chooses count). A Pod injected with another revision carries a
/// stale sidecar.
pub fn for_pod(settings: &Settings, pod: &serde_json::Value) -> Result<String, RequestError> {
    let annotations = pod
        .pointer("/metadata/annotations")
        .and_then(serde_json::Value::as_object);
    Ok(revision_of(
        settings.doc(),
        &settings.chosen(annotations)?,
        Placement::of(settings),
    ))
}

/// The revision `settings` inject into a Pod that does not choose its templates.
pub fn current(settings: &Settings) -> String {
    settings
        .chosen(None)
        .map(|chosen| revision_of(settings.doc(), &chosen, Placement::of(settings)))
        .unwrap_or_default()
}

/// The revision of the template `template` (its JSON text, as the settings hold it) injected with
/// `placement`: 16 hex digits.
pub fn revision(template: &str, placement: Placement) -> String {
    let doc = Doc::new(template);
    let chosen = [Chosen::one(doc.root())];
    revision_of(&doc, &chosen, placement)
}

/// The revision of the templates `chosen` of `doc` (the settings' document, read once for the
/// settings and the revision), applied in that order.
pub fn revision_of(doc: &Doc, chosen: &[Chosen], placement: Placement) -> String {
    let form = write_canonical_settings(doc, chosen, placement, &mut |_| {});
    form.hash(doc.text())
}

/// [`revision_of`], showing `strings` where each string value of the templates that may be a
/// template string is in the document's text (one with a `{`, or with an escape, which may hide
/// one) on the way: the one pass over the templates that an injection makes, which also finds
/// their template strings. `None` when a template is not valid JSON: the injection
/// copies the templates' text into the Pod, and the settings are not checked as JSON on every
/// request (see [`crate::admission`]), so this pass is where text no host sends is caught.
pub fn revision_reading(
    doc: &Doc,
    chosen: &[Chosen],
    placement: Placement,
    strings: &mut dyn FnMut(Range<usize>),
) -> Option<String> {
    let form = write_canonical_settings(doc, chosen, placement, strings);
    form.valid.then(|| form.hash(doc.text()))
}

/// The canonical form as it is written: what was written anew, and where the values already in
/// canonical form go in it (the most of it, as the hosts send the settings), left in the text
/// they were read from rather than copied.
struct Form {
    written: Vec<u8>,
    /// Each: where in `written` a range of the text goes, in increasing order.
    spliced: Vec<(usize, Range<usize>)>,
    /// Whether every template field read was valid JSON.
    valid: bool,
}

impl Form {
    /// The form's bytes, in order, the text's ranges spliced in: `FORM` first.
    fn parts<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a [u8]> {
        let mut from = 0;
        let spliced = self.spliced.iter().flat_map(move |(at, range)| {
            let written = self.written.get(from..*at).unwrap_or_default();
            from = *at;
            [
                written,
                text.as_bytes().get(range.clone()).unwrap_or_default(),
            ]
        });
        let last = self.spliced.last().map_or(0, |(at, _)| *at);
        std::iter::once(FORM).chain(spliced).chain(std::iter::once(
            self.written.get(last..).unwrap_or_default(),
        ))
    }

    /// The canonical form itself (without `FORM`), the text's ranges spliced in.
    fn bytes(&self, text: &str) -> Vec<u8> {
        self.parts(text).skip(1).flatten().copied().collect()
    }

    /// The form hashed, 16 hex digits. A name, not a security boundary: xxh3 is fast enough to
    /// run on every injection.
    fn hash(&self, text: &str) -> String {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for part in self.parts(text) {
            hasher.update(part);
        }
        format!("{:016x}", hasher.digest())
    }
}

/// The canonical form itself, as text: what [`revision`] hashes, for tests and for a person
/// wondering why two revisions differ.
pub fn canonical_form(template: &str, placement: Placement) -> String {
    let doc = Doc::new(template);
    let chosen = [Chosen::one(doc.root())];
    let form = write_canonical_settings(&doc, &chosen, placement, &mut |_| {});
    String::from_utf8_lossy(&form.bytes(doc.text())).into_owned()
}

/// `{"holdApplicationUntilProxyStarts":…,"nativeSidecars":…,"template":{…}}` for the one
/// `template`, `…,"templates":[{"name":…,"template":{…}},…]}` for named ones, in the order they
/// apply: keys in sorted order, as every object of the canonical form.
fn write_canonical_settings(
    doc: &Doc,
    chosen: &[Chosen],
    placement: Placement,
    strings: &mut dyn FnMut(Range<usize>),
) -> Form {
    let mut writer = Canonical {
        text: doc.text(),
        form: Form {
            written: Vec::with_capacity(512),
            spliced: Vec::new(),
            valid: true,
        },
        entries: Vec::new(),
        depth: 0,
        strings,
    };
    let out = &mut writer.form.written;
    out.extend_from_slice(
        format!(
            "{{\"holdApplicationUntilProxyStarts\":{},\"nativeSidecars\":{},",
            placement.hold_application_until_proxy_starts, placement.native_sidecars
        )
        .as_bytes(),
    );
    // Absent when not set, so that the revisions of settings without it did not change.
    if let Some(rewrite) = placement.probe_rewrite {
        let canonical = serde_json::json!({
            "container": rewrite.container,
            "env": rewrite.env,
            "statusPort": rewrite.status_port,
        });
        out.extend_from_slice(format!("\"probeRewrite\":{canonical},").as_bytes());
    }
    match chosen {
        [Chosen { name: None, level }] => {
            writer.form.written.extend_from_slice(b"\"template\":");
            writer.template(doc, level);
        }
        named => {
            writer.form.written.extend_from_slice(b"\"templates\":[");
            for (i, template) in named.iter().enumerate() {
                if i > 0 {
                    writer.form.written.push(b',');
                }
                writer.form.written.extend_from_slice(b"{\"name\":");
                write_string(&mut writer.form.written, template.name.unwrap_or_default());
                writer.form.written.extend_from_slice(b",\"template\":");
                writer.template(doc, template.level);
                writer.form.written.push(b'}');
            }
            writer.form.written.push(b']');
        }
    }
    writer.form.written.push(b'}');
    writer.form
}

/// Writes values of a JSON text in canonical form, in one pass over their bytes. The settings'
/// text is not checked as JSON on every request, so this pass checks each template field it reads
/// (`as_is`, or serde_json before the writer) and says in `valid` whether all of them were.
struct Canonical<'t, 's> {
    text: &'t str,
    /// What is written, and where the values taken as they are go in it.
    form: Form,
    /// The entries of the objects being written, innermost last: one list for the whole pass.
    entries: Vec<Entry<'t>>,
    /// How many objects and arrays the value being written is in.
    depth: usize,
    strings: &'s mut dyn FnMut(Range<usize>),
}

/// An entry of an object being written: its key, and where `"key":value` is in the output.
struct Entry<'t> {
    key: Cow<'t, str>,
    written: Range<usize>,
}

impl<'t> Canonical<'t, '_> {
    /// A template: each of its fields in sorted order, an absent one as its empty value. The
    /// template was checked when the settings were read: an object of these fields.
    fn template(&mut self, doc: &Doc, template: &Level) {
        self.form.written.push(b'{');
        for (i, (field, empty)) in TEMPLATE_FIELDS.iter().enumerate() {
            if i > 0 {
                self.form.written.push(b',');
            }
            self.form.written.push(b'"');
            self.form.written.extend_from_slice(field.as_bytes());
            self.form.written.extend_from_slice(b"\":");
            let written = doc.get(template, field).and_then(|value| {
                let at = value.range().start;
                self.as_is(at).or_else(|| {
                    // Not as the hosts write it, or not JSON: the writer takes what is JSON, and
                    // refuses a number serde_json cannot read (`1e999`), as the check at load did.
                    let text = doc.text_of(value);
                    let end = serde_json::from_str::<serde::de::IgnoredAny>(text)
                        .ok()
                        .and_then(|_| self.value(at));
                    if end.is_none() {
                        self.form.valid = false;
                    }
                    end
                })
            });
            if written.is_none() {
                self.form.written.extend_from_slice(empty.as_bytes());
            }
        }
        self.form.written.push(b'}');
    }

    /// The value starting at `at`, taken as it is (spliced into the form, not copied) when it is
    /// already in canonical form, as the hosts send it (serde_json, keys sorted): no whitespace,
    /// the keys of each object in increasing order, integers, and strings escaped only where
    /// serde_json escapes them. Checking that costs less than writing the form anew, which
    /// [`Self::value`] does when the value is not so. Returns where the value ends.
    fn as_is(&mut self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut strings = Vec::new();
        // The objects and arrays the value being read is in, innermost last.
        let mut open: Vec<Open> = Vec::new();
        let mut i = at;
        'value: loop {
            match *bytes.get(i)? {
                byte @ (b'{' | b'[') => {
                    if self.depth + open.len() >= MAX_DEPTH {
                        return None;
                    }
                    i += 1;
                    match (byte, *bytes.get(i)?) {
                        (b'{', b'}') | (b'[', b']') => i += 1,
                        (b'{', _) => {
                            open.push(Open::Object { last_key: None });
                            i = key_in_order(bytes, i, &mut open)?;
                            continue 'value;
                        }
                        _ => {
                            open.push(Open::Array);
                            continue 'value;
                        }
                    }
                }
                b'"' => {
                    let scan = scan_string(bytes, i)?;
                    if scan.control || scan.escaped && !canonical_escapes(bytes, i..scan.end) {
                        return None;
                    }
                    if may_be_template(&scan) {
                        strings.push(i..scan.end);
                    }
                    i = scan.end;
                }
                b't' => i = literal(bytes, i, b"true")?,
                b'f' => i = literal(bytes, i, b"false")?,
                b'n' => i = literal(bytes, i, b"null")?,
                _ => i = canonical_integer_end(bytes, i)?,
            }
            // After a value: the objects and arrays it closes, then the next one.
            loop {
                let Some(container) = open.last() else {
                    break 'value;
                };
                match (*bytes.get(i)?, container) {
                    (b',', Open::Object { .. }) => {
                        i = key_in_order(bytes, i + 1, &mut open)?;
                        continue 'value;
                    }
                    (b',', Open::Array) => {
                        i += 1;
                        continue 'value;
                    }
                    (b'}', Open::Object { .. }) | (b']', Open::Array) => {
                        i += 1;
                        open.pop();
                    }
                    _ => return None,
                }
            }
        }
        self.form.spliced.push((self.form.written.len(), at..i));
        for range in strings {
            (self.strings)(range);
        }
        Some(i)
    }

    /// The value starting at `at` (whitespace allowed before it); returns where it ends.
    fn value(&mut self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let at = skip_whitespace(bytes, at);
        match bytes.get(at)? {
            b'{' | b'[' => {
                // Settings nested deeper than serde_json's limit are refused when the policy is
                // loaded; the limit keeps the writer's recursion bounded all the same.
                if self.depth >= MAX_DEPTH {
                    return None;
                }
                self.depth += 1;
                let end = if bytes[at] == b'{' {
                    self.object(at)
                } else {
                    self.array(at)
                };
                self.depth -= 1;
                end
            }
            b'"' => {
                let scan = scan_string(bytes, at)?;
                let end = scan.end;
                let token = self.text.get(at..end)?;
                if may_be_template(&scan) {
                    (self.strings)(at..end);
                }
                // Without escapes, a string's text is already how serde_json writes it.
                if scan.escaped {
                    let unescaped: String = serde_json::from_str(token).ok()?;
                    write_string(&mut self.form.written, &unescaped);
                } else {
                    self.form.written.extend_from_slice(token.as_bytes());
                }
                Some(end)
            }
            _ => {
                let end = bytes[at..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                    .map_or(bytes.len(), |length| at + length);
                let token = self.text.get(at..end)?;
                match bytes[at] {
                    b't' | b'f' | b'n' => self.form.written.extend_from_slice(token.as_bytes()),
                    _ => write_number(&mut self.form.written, token)?,
                }
                Some(end)
            }
        }
    }

    fn array(&mut self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        self.form.written.push(b'[');
        let mut i = skip_whitespace(bytes, at + 1);
        if bytes.get(i)? == &b']' {
            self.form.written.push(b']');
            return Some(i + 1);
        }
        loop {
            i = skip_whitespace(bytes, self.value(i)?);
            match bytes.get(i)? {
                b',' => {
                    self.form.written.push(b',');
                    i += 1;
                }
                b']' => {
                    self.form.written.push(b']');
                    return Some(i + 1);
                }
                _ => return None,
            }
        }
    }

    /// Written in the order the keys come; put in order afterwards only when they were not (the
    /// policy server sends its keys sorted).
    fn object(&mut self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let start = self.form.written.len();
        let base = self.entries.len();
        self.form.written.push(b'{');
        let mut i = skip_whitespace(bytes, at + 1);
        let end = if bytes.get(i)? == &b'}' {
            i + 1
        } else {
            loop {
                let (key_end, escaped) = skip_string(bytes, i)?;
                let token = self.text.get(i..key_end)?;
                let key: Cow<'t, str> = if escaped {
                    Cow::Owned(serde_json::from_str(token).ok()?)
                } else {
                    Cow::Borrowed(token.get(1..token.len() - 1)?)
                };
                if self.entries.len() > base {
                    self.form.written.push(b',');
                }
                let from = self.form.written.len();
                // Without escapes, a key's text is how serde_json writes it.
                if escaped {
                    write_string(&mut self.form.written, &key);
                } else {
                    self.form.written.extend_from_slice(token.as_bytes());
                }
                self.form.written.push(b':');
                i = skip_whitespace(bytes, key_end);
                (bytes.get(i)? == &b':').then_some(())?;
                i = skip_whitespace(bytes, self.value(i + 1)?);
                self.entries.push(Entry {
                    key,
                    written: from..self.form.written.len(),
                });
                match bytes.get(i)? {
                    b',' => i = skip_whitespace(bytes, i + 1),
                    b'}' => break i + 1,
                    _ => return None,
                }
            }
        };
        self.form.written.push(b'}');
        let entries = &mut self.entries[base..];
        // Sorted by the keys' UTF-8 bytes, as a BTreeMap<String, _> (the hosts' order) sorts them,
        // each key once.
        if !entries.windows(2).all(|pair| pair[0].key < pair[1].key) {
            entries.sort_by(|a, b| a.key.cmp(&b.key));
            let mut object = Vec::with_capacity(self.form.written.len() - start);
            object.push(b'{');
            for (n, entry) in entries.iter().enumerate() {
                // Of duplicate keys the last counts, as for serde_json (the sort is stable).
                if entries.get(n + 1).is_some_and(|next| next.key == entry.key) {
                    continue;
                }
                if object.len() > 1 {
                    object.push(b',');
                }
                object.extend_from_slice(&self.form.written[entry.written.clone()]);
            }
            object.push(b'}');
            self.form.written.truncate(start);
            self.form.written.extend_from_slice(&object);
        }
        self.entries.truncate(base);
        Some(end)
    }
}

/// An object or array being read by [`Canonical::as_is`].
enum Open {
    Array,
    /// Where the last key read is in the text (without its quotes).
    Object {
        last_key: Option<Range<usize>>,
    },
}

/// Reads the key at `at` of the innermost open object, and the `:` after it; `None` unless it
/// comes after the object's last key in the order of their bytes, as sorted keys do (a duplicate
/// does not), and has no escapes (escaped keys are compared unescaped: left to the writer) nor
/// control characters (not JSON).
/// Returns where its value starts.
fn key_in_order(bytes: &[u8], at: usize, open: &mut [Open]) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let scan = scan_string(bytes, at)?;
    let (end, key) = (scan.end, at + 1..scan.end - 1);
    let Some(Open::Object { last_key }) = open.last_mut() else {
        return None;
    };
    if scan.escaped
        || scan.control
        || last_key
            .as_ref()
            .is_some_and(|last| bytes[key.clone()] <= bytes[last.clone()])
    {
        return None;
    }
    *last_key = Some(key);
    (bytes.get(end)? == &b':').then_some(end + 1)
}

/// Whether a string may be a template string, and so is shown to the injection: one with a `{`,
/// or with an escape, which may hide one.
fn may_be_template(scan: &StringScan) -> bool {
    scan.brace || scan.escaped
}

/// Whether the escapes of the string `range` (quotes included) are only those serde_json writes:
/// for `"`, `\\` and the control characters that have a short one (others, as `\\u00xx`, are
/// left to the writer).
fn canonical_escapes(bytes: &[u8], range: Range<usize>) -> bool {
    let inner = bytes
        .get(range.start + 1..range.end - 1)
        .unwrap_or_default();
    let mut i = 0;
    while let Some(&byte) = inner.get(i) {
        if byte == b'\\' {
            if !matches!(
                inner.get(i + 1),
                Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't')
            ) {
                return false;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    true
}

/// The end of the integer at `at`, when it is one serde_json writes as it is: digits after an
/// optional `-`, not `-0`, short enough for an `i64`, not followed by a fraction or an exponent.
fn canonical_integer_end(bytes: &[u8], at: usize) -> Option<usize> {
    let digits_from = at + usize::from(bytes.get(at) == Some(&b'-'));
    let digits = bytes
        .get(digits_from..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let end = digits_from + digits;
    let integral = !matches!(bytes.get(end), Some(b'.' | b'e' | b'E'));
    let leading_zero = digits > 1 && bytes[digits_from] == b'0';
    let minus_zero = digits_from > at && digits == 1 && bytes[digits_from] == b'0';
    (digits > 0 && digits <= 18 && integral && !leading_zero && !minus_zero).then_some(end)
}

/// The end of `word` at `at`.
fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    bytes
        .get(at..)?
        .starts_with(word)
        .then_some(at + word.len())
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Integers as integers, integral floats (`1.0`, `1e3`) as the integer they are, other floats in
/// their shortest round-tripping form: how a number reads, not how it was written.
fn write_number(out: &mut Vec<u8>, text: &str) -> Option<()> {
    // Digits alone, not "-0" and short enough for an i64: already canonical.
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) && text != "-0" {
        out.extend_from_slice(text.as_bytes());
        return Some(());
    }
    // `None` for what serde_json cannot read as a number, as `1e999`: the settings could not
    // hold it when the policy was loaded.
    let number = serde_json::from_str::<serde_json::Number>(text).ok()?;
    if number.is_i64() || number.is_u64() {
        out.extend_from_slice(number.to_string().as_bytes());
        return Some(());
    }
    let float = number.as_f64().unwrap_or_default();
    // Within ±2^53 every integer is exact in an f64, so the conversion loses nothing.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if float.fract() == 0.0 && float.abs() <= EXACT {
        out.extend_from_slice((float as i64).to_string().as_bytes());
    } else {
        out.extend_from_slice(number.to_string().as_bytes());
    }
    Some(())
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
        probe_rewrite: None,
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

    /// What `as_is` makes of `text`: what it wrote and the strings it showed, when it took it.
    fn as_is(text: &str) -> Option<(String, Vec<String>)> {
        let mut shown = Vec::new();
        let mut record = |range: Range<usize>| shown.push(text[range].to_string());
        let mut writer = Canonical {
            text,
            form: Form {
                written: Vec::new(),
                spliced: Vec::new(),
                valid: true,
            },
            entries: Vec::new(),
            depth: 0,
            strings: &mut record,
        };
        let end = writer.as_is(0)?;
        assert_eq!(end, text.len());
        assert_eq!(writer.form.spliced, [(0, 0..end)]);
        assert!(writer.form.written.is_empty());
        let out = String::from_utf8(writer.form.bytes(text)).unwrap();
        Some((out, shown))
    }

    #[test]
    fn what_the_hosts_send_is_copied_as_it_is() {
        let text = r#"{"a":[1,-2,true,false,null,"x\"\n\\y",{}],"b":{"":[],"c":"é{"},"d":[[0]]}"#;
        let (out, shown) = as_is(text).unwrap();
        assert_eq!(out, text);
        // The strings that may be template strings: with an escape, or a brace.
        assert_eq!(shown, [r#""x\"\n\\y""#, r#""é{""#]);
    }

    #[rstest::rstest]
    #[case::whitespace(r#"{"a": 1}"#)]
    #[case::keys_out_of_order(r#"{"b":1,"a":2}"#)]
    #[case::duplicate_keys(r#"{"a":1,"a":2}"#)]
    #[case::duplicate_empty_keys(r#"{"":1,"":2}"#)]
    #[case::fraction(r#"[1.0]"#)]
    #[case::exponent(r#"[1e3]"#)]
    #[case::minus_zero(r#"[-0]"#)]
    #[case::long_integer(r#"[12345678901234567890]"#)]
    #[case::unicode_escape(r#"["\u0041"]"#)]
    #[case::slash_escape(r#"["a\/b"]"#)]
    #[case::escaped_key(r#"{"\n":1}"#)]
    #[case::not_json(r#"[1,]"#)]
    #[case::unclosed(r#"[1"#)]
    fn what_is_not_canonical_is_left_to_the_writer(#[case] text: &str) {
        assert_eq!(as_is(text), None, "{text}");
    }

    /// The revision an injection reads for the template `text`.
    fn reading(text: &str) -> Option<String> {
        let doc = Doc::new(text);
        revision_reading(&doc, &[Chosen::one(doc.root())], PLAIN, &mut |_| {})
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
                let doc = Doc::new(text);
                let chosen = [Chosen::one(doc.root())];
                let mut strings = Vec::new();
                let revision = revision_reading(&doc, &chosen, PLAIN, &mut |range| {
                    strings.push(serde_json::from_str::<String>(&text[range]).unwrap());
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
        // Pinned: a change here changes every injected Pod's revision, and so makes every running
        // Pod look stale. Change FORM with it.
        let t = template(json!({"containers": [{"name": "proxy", "image": "proxy:1"}]}));
        assert_eq!(revision(&t, PLAIN), "a59d9d8c83380a6d");
    }
}
