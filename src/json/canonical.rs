//! JSON written in a canonical form: [`Canonical`] writes values of one [`Text`] with object
//! keys sorted, no whitespace, and each number spelled one way (an integral value as an integer),
//! in one pass over their bytes, and shows on the way each string that may be a template string.
//! What is already canonical, as the hosts send the settings, is not copied but spliced: the
//! [`Form`] is the written bytes and ranges of the text, in order.

use std::borrow::Cow;
use std::ops::Range;

use super::scan::{StringScan, scan_string, skip_string, skip_whitespace, string};
use super::text::{Doc, Part, Step, Text};

/// serde_json's recursion limit, which the settings were read with when the policy was loaded.
const MAX_DEPTH: usize = 128;

/// A string value of a text that may be a template string (it has a `{`, or an escape, which may
/// hide one), as [`Canonical`] shows it.
#[derive(Debug, Clone)]
pub struct StringValue<'t> {
    text: &'t str,
    at: Range<usize>,
    /// The steps to it from the value given to the writer.
    path: Vec<PathStep>,
}

/// A step from a value to one inside it: an object's key (where its token, quotes included, is in
/// the text), or an array's item.
#[derive(Debug, Clone)]
enum PathStep {
    Key(Range<usize>),
    /// A key the writer's caller names ([`Canonical::value_under`]).
    Field(&'static str),
    Item(usize),
}

impl<'t> StringValue<'t> {
    /// The steps to this string from the value it was found in (given to the writer): found on
    /// the way, so that its place needs no second look at the text.
    pub fn path(&self) -> Vec<Step<'t>> {
        self.path
            .iter()
            .map(|step| match step {
                PathStep::Key(token) => Step::Key(
                    string(self.text.get(token.clone()).unwrap_or("\"\"")).unwrap_or_default(),
                ),
                PathStep::Field(field) => Step::Key(Cow::Borrowed(field)),
                PathStep::Item(index) => Step::Index(*index),
            })
            .collect()
    }

    /// The string as written, quotes and escapes included.
    pub fn raw(&self) -> &'t str {
        self.text.get(self.at.clone()).unwrap_or_default()
    }

    /// The string, unescaped.
    pub fn unescaped(&self) -> Option<Cow<'t, str>> {
        string(self.raw())
    }

    pub(super) fn range(&self) -> Range<usize> {
        self.at.clone()
    }
}

/// The canonical form as it is written: what was written anew, and where the values already in
/// canonical form go in it (the most of it, as the hosts send the settings), left in the text
/// they were read from rather than copied.
pub struct Form<'t> {
    text: &'t str,
    written: Vec<u8>,
    /// Each: where in `written` a range of the text goes, in increasing order.
    spliced: Vec<(usize, Range<usize>)>,
    /// Whether every template field read was valid JSON.
    valid: bool,
}

impl<'t> Form<'t> {
    /// Whether every value given to the writer was valid JSON.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// The form's bytes, in order: what was written, the text's ranges spliced in.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        let text = self.text.as_bytes();
        let mut from = 0;
        let spliced = self.spliced.iter().flat_map(move |(at, range)| {
            let written = self.written.get(from..*at).unwrap_or_default();
            from = *at;
            [written, text.get(range.clone()).unwrap_or_default()]
        });
        let last = self.spliced.last().map_or(0, |(at, _)| *at);
        spliced.chain(std::iter::once(
            self.written.get(last..).unwrap_or_default(),
        ))
    }

    /// The form as one text.
    pub fn to_text(&self) -> String {
        let bytes: Vec<u8> = self.chunks().flatten().copied().collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Writes values of one [`Text`] in canonical form, and bytes given as they are, into a [`Form`].
/// The writer checks each value it is given (`as_is`, or serde_json before writing it anew) and the
/// form says whether all were JSON: what it is given is copied into Pods, and is checked where it is
/// read, whoever read it before.
pub struct Canonical<'t, 's> {
    doc: &'t Doc,
    text: &'t str,
    /// What is written, and where the values taken as they are go in it.
    form: Form<'t>,
    /// The entries of the objects being written, innermost last: one list for the whole pass.
    entries: Vec<Entry<'t>>,
    /// How many objects and arrays the value being written is in.
    depth: usize,
    /// The steps to the value being written anew, from the value given to the writer.
    path: Vec<PathStep>,
    strings: &'s mut dyn FnMut(StringValue<'t>),
}

/// An entry of an object being written: its key, and where `"key":value` is in the output.
struct Entry<'t> {
    key: Cow<'t, str>,
    written: Range<usize>,
}

impl<'t, 's> Canonical<'t, 's> {
    /// A writer of values of `text`, showing `strings` each string that may be a template string.
    pub fn new(text: &'t Text, strings: &'s mut dyn FnMut(StringValue<'t>)) -> Self {
        let doc = text.doc();
        let text = doc.text();
        Self {
            doc,
            text,
            form: Form {
                text,
                written: Vec::with_capacity(512),
                spliced: Vec::new(),
                valid: true,
            },
            entries: Vec::new(),
            depth: 0,
            path: Vec::new(),
            strings,
        }
    }

    /// Writes `bytes` as they are.
    pub fn push(&mut self, bytes: &[u8]) {
        self.form.written.extend_from_slice(bytes);
    }

    /// Writes `text` as a JSON string.
    pub fn push_string(&mut self, text: &str) {
        write_string(&mut self.form.written, text);
    }

    /// Writes `value` (of the writer's text) in canonical form; false, and the form invalid, when
    /// it is not JSON (or is a number serde_json cannot read, as `1e999`, which the check at load
    /// refused too).
    pub fn value(&mut self, value: Part<'t>) -> bool {
        let written = std::ptr::eq(value.doc, self.doc)
            && self
                .as_is(value.range().start)
                .or_else(|| {
                    serde_json::from_str::<serde::de::IgnoredAny>(value.as_str())
                        .ok()
                        .and_then(|_| self.value_at(value.range().start))
                })
                .is_some();
        if !written {
            self.form.valid = false;
        }
        written
    }

    /// As [`Self::value`], for the value of the field `field` of an object the caller writes: the
    /// template strings found in it are shown with their path from that object.
    pub fn value_under(&mut self, field: &'static str, value: Part<'t>) -> bool {
        self.path.push(PathStep::Field(field));
        let written = self.value(value);
        self.path.pop();
        written
    }

    /// What was written.
    pub fn finish(self) -> Form<'t> {
        self.form
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
                            open.push(Open::Array { index: 0 });
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
                        let inside = open.iter().map(|container| match container {
                            Open::Object { last_key } => {
                                let key = last_key.clone().unwrap_or_default();
                                PathStep::Key(key.start.saturating_sub(1)..key.end + 1)
                            }
                            Open::Array { index } => PathStep::Item(*index),
                        });
                        let path = self.path.iter().cloned().chain(inside).collect();
                        strings.push((i..scan.end, path));
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
                    (b',', Open::Array { .. }) => {
                        if let Some(Open::Array { index }) = open.last_mut() {
                            *index += 1;
                        }
                        i += 1;
                        continue 'value;
                    }
                    (b'}', Open::Object { .. }) | (b']', Open::Array { .. }) => {
                        i += 1;
                        open.pop();
                    }
                    _ => return None,
                }
            }
        }
        self.form.spliced.push((self.form.written.len(), at..i));
        for (at, path) in strings {
            (self.strings)(StringValue {
                text: self.text,
                at,
                path,
            });
        }
        Some(i)
    }

    /// The value starting at `at` (whitespace allowed before it); returns where it ends.
    fn value_at(&mut self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let at = skip_whitespace(bytes, at);
        match *bytes.get(at)? {
            byte @ (b'{' | b'[') => {
                // Settings nested deeper than serde_json's limit are refused when the policy is
                // loaded; the limit keeps the writer's recursion bounded all the same.
                if self.depth >= MAX_DEPTH {
                    return None;
                }
                self.depth += 1;
                let end = if byte == b'{' {
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
                    (self.strings)(StringValue {
                        text: self.text,
                        at: at..end,
                        path: self.path.clone(),
                    });
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
                let end = bytes
                    .get(at..)?
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                    .map_or(bytes.len(), |length| at + length);
                let token = self.text.get(at..end)?;
                match token.as_bytes().first() {
                    Some(b't' | b'f' | b'n') => {
                        self.form.written.extend_from_slice(token.as_bytes())
                    }
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
        let mut index = 0;
        loop {
            self.path.push(PathStep::Item(index));
            let end = self.value_at(i);
            self.path.pop();
            i = skip_whitespace(bytes, end?);
            index += 1;
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
                let i_key = i;
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
                self.path.push(PathStep::Key(i_key..key_end));
                let end = self.value_at(i + 1);
                self.path.pop();
                i = skip_whitespace(bytes, end?);
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
        let entries = self.entries.get_mut(base..).unwrap_or_default();
        // Sorted by the keys' UTF-8 bytes, as a BTreeMap<String, _> (the hosts' order) sorts them,
        // each key once.
        if !entries.is_sorted_by(|a, b| a.key < b.key) {
            crate::sort::sort_by(entries, |a, b| a.key < b.key);
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
                let written = self.form.written.get(entry.written.clone());
                object.extend_from_slice(written.unwrap_or_default());
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
    /// With the index of the item being read.
    Array { index: usize },
    /// Where the last key read is in the text (without its quotes).
    Object { last_key: Option<Range<usize>> },
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
            .is_some_and(|last| bytes.get(key.clone()) <= bytes.get(last.clone()))
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
    let zero_first = bytes.get(digits_from) == Some(&b'0');
    let leading_zero = digits > 1 && zero_first;
    let minus_zero = digits_from > at && digits == 1 && zero_first;
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

    /// What `as_is` makes of `text`: what it wrote and the strings it showed, when it took it.
    fn as_is(text: &str) -> Option<(String, Vec<String>)> {
        let mut shown = Vec::new();
        let whole = Text::new(text);
        let mut record = |string: StringValue| shown.push(string.raw().to_string());
        let mut writer = Canonical::new(&whole, &mut record);
        let end = writer.as_is(0)?;
        assert_eq!(end, text.len());
        assert_eq!(writer.form.spliced, [(0, 0..end)]);
        assert!(writer.form.written.is_empty());
        let out = writer.finish().to_text();
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
}
