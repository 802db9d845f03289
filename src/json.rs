//! JSON read only as deep as the policy looks, and each level read once.
//!
//! The policy server sends the whole Pod with every request, and a Pod may hold thousands of
//! environment variables or weigh the API server's 1.5 MB. The decision reads a few fields of its
//! metadata; the template strings read a few more; an injection edits a few lists of its spec.
//! Everything else stays the text it came in: never built into values, and copied to the answer
//! byte for byte. That costs less than parsing the Pod into a tree, which every other injector
//! does, and it is the strongest form of "nothing of the submitted Pod changes".
//!
//! A [`Doc`] is a JSON text whose levels are opened on demand: opening an object or an array finds
//! where each of its children starts and ends, once, and keeps that. Everything that reads the Pod
//! (the decision, the template strings, the injection) goes through the same `Doc`, so a level is
//! never scanned twice. A [`Node`] is a value being edited: a part of a `Doc` left as it is, an
//! opened object or array, or a value the policy built; [`Node::write`] writes it back as text.
//!
//! The texts given to a `Doc` are meant to be valid JSON: the request is read by serde_json, which
//! checks it, and the settings were checked when the policy server loaded the policy (what an
//! injection copies of them into the Pod is checked again on the way, by [`crate::revision`]). The
//! scanner relies on that to be simple and fast, and still never panics or loops on text that is
//! not: it finds nothing there.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

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

/// A JSON text, its levels opened on demand and kept. Shared (`Arc`), so that the template engine,
/// whose values must own what they refer to, reads the same levels as everything else.
#[derive(Debug)]
pub struct Doc {
    /// The text this document is part of: all of it, or, for a [`Doc::sub_doc`], the text of the
    /// document it was taken from, which it shares rather than copies.
    whole: Arc<str>,
    /// Where this document's text is in `whole`; its levels' ranges are from its start.
    span: Range<usize>,
    root: Level,
    /// Where every object and array ends, by where it starts: made in one pass over the text the
    /// first time a level is opened, so that opening a level steps over its children's objects
    /// and arrays instead of scanning them again.
    ends: OnceLock<Vec<(usize, usize)>>,
}

/// One value of a [`Doc`]: where its text is, and, once opened, its children.
#[derive(Debug)]
pub struct Level {
    range: Range<usize>,
    kind: Kind,
    children: OnceLock<Children>,
}

#[derive(Debug)]
enum Children {
    /// An object's entries in their order; of duplicate keys the last counts, as for serde_json.
    Object(Vec<(KeyText, Level)>),
    Array(Vec<Level>),
}

/// Where an object's key is in the text (without its quotes), and whether it has escapes.
#[derive(Debug, Clone)]
struct KeyText {
    range: Range<usize>,
    escaped: bool,
}

/// A step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'s> {
    Key(Cow<'s, str>),
    Index(usize),
}

/// A place in a document, as the index of each child taken from the root: cheap to keep in the
/// template engine's values, and resolved through the levels already opened.
pub type Place = Vec<usize>;

/// What is found at a place, for the template strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Found<'d> {
    String(Cow<'d, str>),
    /// An object or an array, to be looked into further.
    Container(Kind, Place),
    /// A number, boolean or null.
    Scalar(Value),
}

/// The keys of an object, each once, in order, or the length of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Members {
    Keys(Vec<String>),
    Length(usize),
    None,
}

impl Doc {
    /// `text` must be one JSON value (see the module's documentation).
    pub fn new(text: &str) -> Self {
        let trimmed = text.trim_start();
        let start = text.len() - trimmed.len();
        let end = start + trimmed.trim_end().len();
        Self {
            root: Level {
                range: start..end,
                kind: Kind::of_text(trimmed),
                children: OnceLock::new(),
            },
            whole: Arc::from(text),
            span: 0..text.len(),
            ends: OnceLock::new(),
        }
    }

    pub fn root(&self) -> &Level {
        &self.root
    }

    /// The value `level` as a document of its own, indexed by this document's pass over it: how
    /// the settings are read out of the `validate` payload without a second scan.
    pub fn sub_doc(&self, level: &Level) -> Doc {
        let range = level.range.clone();
        // A level's range starts and ends on its value: the new document's root is all its text.
        let doc = Doc {
            root: Level {
                range: 0..range.len(),
                kind: level.kind,
                children: OnceLock::new(),
            },
            whole: Arc::clone(&self.whole),
            span: self.span.start + range.start..self.span.start + range.end,
            ends: OnceLock::new(),
        };
        let ends = self.ends();
        let from = ends.partition_point(|&(start, _)| start < range.start);
        let to = ends.partition_point(|&(start, _)| start < range.end);
        // Offsets from the start of the level's text.
        let rebased = ends
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .map(|&(start, end)| {
                let end = if end == usize::MAX {
                    end
                } else {
                    end - range.start
                };
                (start - range.start, end)
            });
        let _ = doc.ends.set(rebased.collect());
        doc
    }

    /// Whether the text is one object or array and nothing after it (whitespace aside).
    pub fn is_one_container(&self) -> bool {
        matches!(self.root.kind, Kind::Object | Kind::Array)
            && Ends(self.ends()).of(self.root.range.start) == Some(self.root.range.end)
    }

    fn ends(&self) -> &[(usize, usize)] {
        self.ends.get_or_init(|| index(self.text().as_bytes()))
    }

    /// The document's whole text.
    pub fn text(&self) -> &str {
        self.whole.get(self.span.clone()).unwrap_or_default()
    }

    /// The text of a level of this document.
    pub fn text_of(&self, level: &Level) -> &str {
        self.text().get(level.range.clone()).unwrap_or("null")
    }

    /// The entries of the object `level`, opened; `None` when it is not an object.
    pub fn entries<'d>(&'d self, level: &'d Level) -> Option<Vec<(Cow<'d, str>, &'d Level)>> {
        match self.open(level)? {
            Children::Object(entries) => Some(
                entries
                    .iter()
                    .map(|(key, child)| (self.key(key), child))
                    .collect(),
            ),
            Children::Array(_) => None,
        }
    }

    /// The items of the array `level`, opened; `None` when it is not an array.
    pub fn items<'d>(&'d self, level: &'d Level) -> Option<&'d [Level]> {
        match self.open(level)? {
            Children::Array(items) => Some(items),
            Children::Object(_) => None,
        }
    }

    /// The child of the object `level` named `key` (the last one, as for serde_json).
    pub fn get<'d>(&'d self, level: &'d Level, key: &str) -> Option<&'d Level> {
        match self.open(level)? {
            Children::Object(entries) => entries
                .iter()
                .rev()
                .find(|(name, _)| self.key_is(name, key))
                .map(|(_, child)| child),
            Children::Array(_) => None,
        }
    }

    /// The value of `level`, parsed whole.
    pub fn value(&self, level: &Level) -> Value {
        self.parse(level).unwrap_or(Value::Null)
    }

    /// The value of `level`, parsed whole, or why it cannot be (nested too deeply, the only way
    /// for valid JSON).
    pub fn parse(&self, level: &Level) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.text_of(level))
    }

    /// The value at `path` from the root, or `None` when the document has nothing there.
    pub fn lookup<'s>(&self, path: impl IntoIterator<Item = Step<'s>>) -> Option<Found<'_>> {
        let mut level = &self.root;
        let mut place = Vec::new();
        for step in path {
            let (index, child) = self.child(level, &step)?;
            place.push(index);
            level = child;
        }
        Some(self.found(level, place))
    }

    /// The child of `level` reached by `step`: how the simple template renderer walks a path,
    /// without keeping places.
    pub fn step<'d>(&'d self, level: &'d Level, step: &Step) -> Option<&'d Level> {
        self.child(level, step).map(|(_, child)| child)
    }

    /// The string `level` holds, when it holds one.
    pub fn string<'d>(&'d self, level: &'d Level) -> Option<Cow<'d, str>> {
        match level.kind {
            Kind::String => string(self.text_of(level)),
            _ => None,
        }
    }

    /// The value at a place found before.
    pub fn at(&self, place: &[usize]) -> Option<Found<'_>> {
        let level = self.resolve(place)?;
        Some(self.found(level, place.to_vec()))
    }

    /// The child of the value at `place` reached by `step`.
    pub fn child_of(&self, place: &[usize], step: &Step) -> Option<Found<'_>> {
        let level = self.resolve(place)?;
        let (index, child) = self.child(level, step)?;
        let mut place = place.to_vec();
        place.push(index);
        Some(self.found(child, place))
    }

    /// The keys of the object at `place`, or the length of the array there.
    pub fn members(&self, place: &[usize]) -> Members {
        let Some(level) = self.resolve(place) else {
            return Members::None;
        };
        match self.open(level) {
            Some(Children::Object(entries)) => {
                let mut keys: Vec<String> = Vec::with_capacity(entries.len());
                for (key, _) in entries {
                    let key = self.key(key);
                    if !keys.iter().any(|k| *k == key) {
                        keys.push(key.into_owned());
                    }
                }
                Members::Keys(keys)
            }
            Some(Children::Array(items)) => Members::Length(items.len()),
            None => Members::None,
        }
    }

    fn resolve(&self, place: &[usize]) -> Option<&Level> {
        place
            .iter()
            .try_fold(&self.root, |level, &index| match self.open(level)? {
                Children::Object(entries) => entries.get(index).map(|(_, child)| child),
                Children::Array(items) => items.get(index),
            })
    }

    fn child<'l>(&'l self, level: &'l Level, step: &Step) -> Option<(usize, &'l Level)> {
        match (self.open(level)?, step) {
            (Children::Object(entries), Step::Key(key)) => entries
                .iter()
                .rposition(|(name, _)| self.key_is(name, key))
                .map(|index| (index, &entries[index].1)),
            (Children::Array(items), Step::Index(index)) => {
                items.get(*index).map(|item| (*index, item))
            }
            _ => None,
        }
    }

    fn found(&self, level: &Level, place: Place) -> Found<'_> {
        match level.kind {
            Kind::Object | Kind::Array => Found::Container(level.kind, place),
            Kind::String => match string(self.text_of(level)) {
                Some(text) => Found::String(text),
                None => Found::Scalar(Value::Null),
            },
            _ => Found::Scalar(self.value(level)),
        }
    }

    fn key(&self, key: &KeyText) -> Cow<'_, str> {
        let raw = self.text().get(key.range.clone()).unwrap_or_default();
        if !key.escaped {
            return Cow::Borrowed(raw);
        }
        // The key with its quotes, unescaped.
        let quoted = self
            .text()
            .get(key.range.start.saturating_sub(1)..key.range.end + 1)
            .unwrap_or("\"\"");
        string(quoted).unwrap_or_default()
    }

    fn key_is(&self, key: &KeyText, wanted: &str) -> bool {
        if key.escaped {
            self.key(key) == wanted
        } else {
            self.text().get(key.range.clone()) == Some(wanted)
        }
    }

    /// The children of an object or array, found in its text the first time they are asked for.
    fn open<'l>(&self, level: &'l Level) -> Option<&'l Children> {
        if !matches!(level.kind, Kind::Object | Kind::Array) {
            return None;
        }
        Some(level.children.get_or_init(|| {
            let text = self.text();
            let bytes = text.as_bytes();
            let ends = Ends(self.ends());
            let child = |range: Range<usize>| Level {
                kind: Kind::of_text(text.get(range.clone()).unwrap_or_default()),
                range,
                children: OnceLock::new(),
            };
            if level.kind == Kind::Object {
                let entries = scan_object(bytes, &ends, level.range.clone()).unwrap_or_default();
                Children::Object(
                    entries
                        .into_iter()
                        .map(|(key, escaped, value)| {
                            (
                                KeyText {
                                    range: key,
                                    escaped,
                                },
                                child(value),
                            )
                        })
                        .collect(),
                )
            } else {
                let items = scan_array(bytes, &ends, level.range.clone()).unwrap_or_default();
                Children::Array(items.into_iter().map(child).collect())
            }
        }))
    }
}

impl Level {
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Where the level's text is in its document's.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }
}

/// Strings of a document replaced by others: where each replaced string's text is in the
/// document, and the JSON text that replaces it; sorted by where they are.
pub type Replacements = [(Range<usize>, String)];

/// The string JSON `text` holds, unescaped only when it has escapes.
pub fn string(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

pub(crate) fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
}

/// The end of the string starting at `at` (a quote), after its closing quote, and whether it has
/// escapes.
pub(crate) fn skip_string(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut i = at + 1;
    loop {
        i = quote_or_backslash(bytes, i)?;
        match bytes[i] {
            b'"' => return Some((i + 1, escaped)),
            _ => {
                escaped = true;
                i += 2;
            }
        }
    }
}

/// What one pass over a string's bytes finds: where it ends (after its closing quote), and
/// whether it has escapes, control characters (which JSON allows only escaped) or a `{`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StringScan {
    pub end: usize,
    pub escaped: bool,
    pub control: bool,
    pub brace: bool,
}

/// Scans the string whose opening quote is at `at`, eight bytes at a time: [`skip_string`], the
/// control characters and the braces found in the same pass. The byte after each `\` is stepped
/// over unexamined.
pub(crate) fn scan_string(bytes: &[u8], at: usize) -> Option<StringScan> {
    let mut scan = StringScan {
        end: 0,
        escaped: false,
        control: false,
        brace: false,
    };
    let mut i = at + 1;
    loop {
        // Of each flag word, the lowest flagged byte is exact, and any flag is at or above a true
        // match (borrows only run towards higher bytes): a flag below the stop means a match there.
        let stop = loop {
            let Some(word) = word_at(bytes, i) else {
                let rest = bytes.get(i..)?;
                let length = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
                scan.control |= rest[..length].iter().any(|&b| b < 0x20);
                scan.brace |= rest[..length].contains(&b'{');
                break i + length;
            };
            let stops = has_byte(word, b'"') | has_byte(word, b'\\');
            let below = if stops == 0 {
                u64::MAX
            } else {
                (1u64 << (stops.trailing_zeros() & !7)) - 1
            };
            scan.control |= below_space(word) & below != 0;
            scan.brace |= has_byte(word, b'{') & below != 0;
            if stops != 0 {
                break i + (stops.trailing_zeros() / 8) as usize;
            }
            i += 8;
        };
        if bytes[stop] == b'"' {
            scan.end = stop + 1;
            return Some(scan);
        }
        scan.escaped = true;
        i = stop + 2;
    }
}

/// Whether `haystack` holds `needle`, or a `\\`: one pass, eight bytes at a time, looking at the
/// places where the needle's first byte or a backslash is (str::contains would bring a searcher the
/// module has no other use for, and looks twice).
fn has_or_escape(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let found_at = |at: usize| {
        haystack[at] == b'\\' || haystack[at] == first && haystack[at..].starts_with(needle)
    };
    let mut i = 0;
    while let Some(word) = word_at(haystack, i) {
        // Flags may be set above a true match (borrows): each place is checked.
        let mut flags = has_byte(word, first) | has_byte(word, b'\\');
        while flags != 0 {
            if found_at(i + (flags.trailing_zeros() / 8) as usize) {
                return true;
            }
            flags &= flags - 1;
        }
        i += 8;
    }
    (i..haystack.len()).any(found_at)
}

/// The eight bytes at `at`, as one word (the first in its lowest byte); `None` when fewer are left.
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is `byte` set (and maybe of bytes above one that is).
fn has_byte(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The high bit of each byte of `word` below 0x20 set (and maybe of bytes above one that is).
fn below_space(word: u64) -> u64 {
    word.wrapping_sub(ONES * 0x20) & !word & HIGHS
}

/// The first `"` or `\` at or after `from`. Most of a JSON text is inside strings, so this looks
/// at eight bytes at a time (the module is built without SIMD; 64-bit integers are native to it).
fn quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = word_at(bytes, i) {
        let found = has_byte(word, b'"') | has_byte(word, b'\\');
        if found != 0 {
            // The lowest flagged byte is the first match: borrows only run towards higher bytes.
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|position| i + position)
}

/// Where every object and array of `bytes` starts and ends (after its closing bracket), in the
/// order they start: one pass, strings stepped over whole.
fn index(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut ends = Vec::new();
    let mut open = Vec::new();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => match skip_string(bytes, i) {
                Some((end, _)) => {
                    i = end;
                    continue;
                }
                None => break,
            },
            b'{' | b'[' => {
                open.push(ends.len());
                ends.push((i, usize::MAX));
            }
            b'}' | b']' => {
                if let Some(at) = open.pop() {
                    ends[at].1 = i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    ends
}

/// The index made by [`index`], searched by where a value starts.
struct Ends<'i>(&'i [(usize, usize)]);

impl Ends<'_> {
    fn of(&self, start: usize) -> Option<usize> {
        let at = self.0.binary_search_by_key(&start, |&(s, _)| s).ok()?;
        Some(self.0[at].1).filter(|&end| end != usize::MAX)
    }
}

/// The end of the value starting at `at` (no whitespace before it).
fn skip_value(bytes: &[u8], ends: &Ends, at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => skip_string(bytes, at).map(|(end, _)| end),
        b'{' | b'[' => ends.of(at),
        _ => {
            let mut i = at;
            while let Some(b) = bytes.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

/// Each entry of the object at `range`: its key's range (without quotes), whether the key has
/// escapes, and its value's range.
type ObjectEntries = Vec<(Range<usize>, bool, Range<usize>)>;

fn scan_object(bytes: &[u8], ends: &Ends, range: Range<usize>) -> Option<ObjectEntries> {
    let mut entries = Vec::new();
    let mut at = skip_whitespace(bytes, range.start + 1);
    if bytes.get(at)? == &b'}' {
        return Some(entries);
    }
    loop {
        let (key_end, escaped) = skip_string(bytes, at)?;
        let key = at + 1..key_end - 1;
        at = skip_whitespace(bytes, key_end);
        (bytes.get(at)? == &b':').then_some(())?;
        at = skip_whitespace(bytes, at + 1);
        let end = skip_value(bytes, ends, at)?;
        entries.push((key, escaped, at..end));
        at = skip_whitespace(bytes, end);
        match bytes.get(at)? {
            b',' => at = skip_whitespace(bytes, at + 1),
            b'}' if at < range.end => return Some(entries),
            _ => return None,
        }
    }
}

fn scan_array(bytes: &[u8], ends: &Ends, range: Range<usize>) -> Option<Vec<Range<usize>>> {
    let mut items = Vec::new();
    let mut at = skip_whitespace(bytes, range.start + 1);
    if bytes.get(at)? == &b']' {
        return Some(items);
    }
    loop {
        let end = skip_value(bytes, ends, at)?;
        items.push(at..end);
        at = skip_whitespace(bytes, end);
        match bytes.get(at)? {
            b',' => at = skip_whitespace(bytes, at + 1),
            b']' if at < range.end => return Some(items),
            _ => return None,
        }
    }
}

/// A value being edited: parts of documents left as they are, opened objects and arrays, values
/// the policy built.
#[derive(Debug, Clone)]
pub enum Node<'d> {
    /// A value of a document, unchanged: written back as its text.
    Doc(&'d Doc, &'d Level),
    /// A value of a document with some of its strings replaced (a rendered template object).
    Rendered(&'d Doc, &'d Level, &'d Replacements),
    /// An object opened one level: its entries in their order.
    Object(Vec<(Cow<'d, str>, Node<'d>)>),
    /// An array opened one level.
    Array(Vec<Node<'d>>),
    /// Built, or parsed whole, by the policy.
    Value(Value),
}

impl<'d> Node<'d> {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Doc(_, level) | Self::Rendered(_, level, _) => level.kind,
            Self::Object(_) => Kind::Object,
            Self::Array(_) => Kind::Array,
            Self::Value(value) => Kind::of_value(value),
        }
    }

    /// A value inside this one's text, of the same kind: a part of a document as it is, or with
    /// the replacements that fall in its text (keys are never replaced, only string values).
    fn at(&self, level: &'d Level) -> Node<'d> {
        match self {
            Self::Rendered(doc, _, replacements) => Self::Rendered(doc, level, replacements),
            Self::Doc(doc, _) => Self::Doc(doc, level),
            // Only documents' values have levels.
            other => other.clone(),
        }
    }

    /// The entries of an object, opened one level; `None` when this is not an object.
    pub fn open_object(&mut self) -> Option<&mut Vec<(Cow<'d, str>, Node<'d>)>> {
        match self {
            Self::Doc(doc, level) | Self::Rendered(doc, level, _) => {
                let (doc, level): (&'d Doc, &'d Level) = (*doc, *level);
                let entries = doc.entries(level)?;
                let entries = entries
                    .into_iter()
                    .map(|(key, child)| (key, self.at(child)))
                    .collect();
                *self = Self::Object(entries);
            }
            Self::Value(Value::Object(map)) => {
                let map = std::mem::take(map);
                *self = Self::Object(
                    map.into_iter()
                        .map(|(key, value)| (Cow::Owned(key), Self::Value(value)))
                        .collect(),
                );
            }
            _ => {}
        }
        match self {
            Self::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of an array, opened one level; `None` when this is not an array.
    pub fn open_array(&mut self) -> Option<&mut Vec<Node<'d>>> {
        match self {
            Self::Doc(doc, level) | Self::Rendered(doc, level, _) => {
                let (doc, level): (&'d Doc, &'d Level) = (*doc, *level);
                let items = doc.items(level)?;
                let items = items.iter().map(|item| self.at(item)).collect();
                *self = Self::Array(items);
            }
            Self::Value(Value::Array(items)) => {
                let items = std::mem::take(items);
                *self = Self::Array(items.into_iter().map(Self::Value).collect());
            }
            _ => {}
        }
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The whole value, parsed.
    pub fn into_value(self) -> Value {
        match self {
            Self::Doc(doc, level) => doc.value(level),
            Self::Rendered(..) => {
                let mut text = String::new();
                self.write(&mut text);
                serde_json::from_str(&text).unwrap_or(Value::Null)
            }
            Self::Object(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(key, node)| (key.into_owned(), node.into_value()))
                    .collect::<Map<_, _>>(),
            ),
            Self::Array(items) => Value::Array(items.into_iter().map(Node::into_value).collect()),
            Self::Value(value) => value,
        }
    }

    /// Whether this value may differ from its text in the settings: a value with a template string
    /// rendered in it, or one the policy built (a merge). What is as written was checked when the
    /// policy was loaded.
    pub fn differs_from_written(&self) -> bool {
        match self {
            Self::Doc(..) => false,
            Self::Rendered(_, level, replacements) => {
                let range = level.range();
                replacements
                    .iter()
                    .any(|(at, _)| at.start >= range.start && at.end <= range.end)
            }
            _ => true,
        }
    }

    /// The value as the settings write it, template strings unrendered; `None` for a value the
    /// policy built.
    pub fn written(&self) -> Option<Value> {
        match self {
            Self::Doc(doc, level) | Self::Rendered(doc, level, _) => Some(doc.value(level)),
            _ => None,
        }
    }

    /// The field `key` of this object, without opening it; `None` when absent or not an object.
    pub fn field(&self, key: &str) -> Option<Node<'d>> {
        match self {
            Self::Doc(doc, level) | Self::Rendered(doc, level, _) => {
                let (doc, level): (&'d Doc, &'d Level) = (doc, level);
                doc.get(level, key).map(|child| self.at(child))
            }
            Self::Object(entries) => entries
                .iter()
                .rev()
                .find(|(name, _)| name == key)
                .map(|(_, node)| node.clone()),
            Self::Value(value) => value.get(key).cloned().map(Self::Value),
            Self::Array(_) => None,
        }
    }

    /// False when `text` cannot be anywhere in this value, as written or rendered: a cheap test
    /// before [`Node::name`], which opens the value. True when unsure (escapes, built values).
    pub fn may_contain(&self, text: &str) -> bool {
        let unsure_or_has = |haystack: &str| has_or_escape(haystack.as_bytes(), text.as_bytes());
        let written = |doc: &Doc, level: &Level| unsure_or_has(doc.text_of(level));
        match self {
            Self::Doc(doc, level) => written(doc, level),
            Self::Rendered(doc, level, replacements) => {
                let range = level.range();
                written(doc, level)
                    || replacements
                        .iter()
                        .filter(|(at, _)| at.start >= range.start && at.end <= range.end)
                        .any(|(_, rendered)| unsure_or_has(rendered))
            }
            _ => true,
        }
    }

    /// This value's `name`, when it is an object.
    pub fn name(&self) -> Name {
        let named = |name: Option<Name>| name.unwrap_or(Name::Missing);
        match self {
            Self::Doc(doc, level) if level.kind == Kind::Object => {
                named(doc.get(level, "name").map(|name| match name.kind {
                    Kind::String => match string(doc.text_of(name)) {
                        Some(text) => Name::Text(text.into_owned()),
                        None => Name::Missing,
                    },
                    Kind::Null => Name::Missing,
                    kind => Name::Other(kind),
                }))
            }
            Self::Rendered(doc, level, replacements) if level.kind == Kind::Object => {
                named(doc.get(level, "name").map(|name| {
                    let replaced = replacements
                        .binary_search_by_key(&name.range.start, |(at, _)| at.start)
                        .is_ok();
                    if replaced {
                        Node::name_value(&Node::Rendered(doc, name, replacements))
                    } else {
                        Node::name_value(&Node::Doc(doc, name))
                    }
                }))
            }
            Self::Object(entries) => named(
                entries
                    .iter()
                    .rev()
                    .find(|(key, _)| key == "name")
                    .map(|(_, node)| Node::name_value(node)),
            ),
            Self::Value(Value::Object(map)) => named(map.get("name").map(|value| match value {
                Value::String(name) => Name::Text(name.clone()),
                Value::Null => Name::Missing,
                other => Name::Other(Kind::of_value(other)),
            })),
            other => Name::NotObject(other.kind()),
        }
    }

    fn name_value(node: &Node) -> Name {
        if let Node::Doc(doc, level) = node {
            return match level.kind {
                Kind::String => doc
                    .string(level)
                    .map_or(Name::Missing, |name| Name::Text(name.into_owned())),
                Kind::Null => Name::Missing,
                kind => Name::Other(kind),
            };
        }
        match node.clone().into_value() {
            Value::String(name) => Name::Text(name),
            Value::Null => Name::Missing,
            other => Name::Other(Kind::of_value(&other)),
        }
    }

    /// Writes the value as JSON text: the parts of documents as they are.
    pub fn write(&self, out: &mut String) {
        match self {
            Self::Doc(doc, level) => out.push_str(doc.text_of(level)),
            Self::Rendered(doc, level, replacements) => {
                let range = level.range();
                let first = replacements.partition_point(|(at, _)| at.start < range.start);
                let mut copied = range.start;
                for (at, text) in replacements[first..]
                    .iter()
                    .take_while(|(at, _)| at.end <= range.end)
                {
                    out.push_str(doc.text().get(copied..at.start).unwrap_or_default());
                    out.push_str(text);
                    copied = at.end;
                }
                out.push_str(doc.text().get(copied..range.end).unwrap_or_default());
            }
            Self::Object(entries) => {
                out.push('{');
                for (i, (key, node)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    node.write(out);
                }
                out.push('}');
            }
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            // serde_json writes into bytes faster than through `Display`, which checks every
            // piece it writes as UTF-8 again.
            Self::Value(value) => {
                if let Ok(text) = serde_json::to_string(value) {
                    out.push_str(&text);
                }
            }
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

/// The `name` of an object, as [`Node::name`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    Text(String),
    /// Absent or null.
    Missing,
    /// Of another JSON type.
    Other(Kind),
    /// The value is not an object at all.
    NotObject(Kind),
}

impl Name {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(name) => Some(name),
            _ => None,
        }
    }
}

/// The entry of `entries` named `key` (the last one, as for serde_json).
pub fn entry<'e, 'd>(
    entries: &'e mut [(Cow<'d, str>, Node<'d>)],
    key: &str,
) -> Option<&'e mut Node<'d>> {
    entries
        .iter_mut()
        .rev()
        .find(|(name, _)| name == key)
        .map(|(_, node)| node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_search_for_a_text_or_an_escape_finds_both_anywhere() {
        let naive = |haystack: &[u8], needle: &[u8]| {
            needle.is_empty()
                || haystack.windows(needle.len()).any(|w| w == needle)
                || haystack.contains(&b'\\')
        };
        // Every place around the eight-byte words, needles that begin alike, near misses.
        for length in 0..24 {
            for at in 0..=length {
                for (mark, needle) in [
                    ("AGENT", "AGENT"),
                    ("AGEN", "AGENT"),
                    ("AAGENT", "AGENT"),
                    ("\\", "AGENT"),
                    ("x", ""),
                    ("é", "é"),
                    ("\u{0}", "\u{1}"),
                ] {
                    let haystack = format!("{}{mark}{}", "a".repeat(at), "b".repeat(length - at));
                    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
                    assert_eq!(
                        has_or_escape(haystack, needle),
                        naive(haystack, needle),
                        "{haystack:?} {needle:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_string_scan_finds_what_is_before_its_end_only() {
        // Every length around the eight-byte words, with the mark at every place in the string.
        for length in 0..20 {
            for at in 0..=length {
                for (mark, control, brace, escaped) in [
                    ("\u{1}", true, false, false),
                    ("{", false, true, false),
                    ("\\n", false, false, true),
                    ("\\\"", false, false, true),
                    ("é", false, false, false),
                ] {
                    let inner = format!("{}{mark}{}", "a".repeat(at), "b".repeat(length - at));
                    // After the string: all the marks, which must not count.
                    let text = format!("\"{inner}\"\u{1}{{\\\"");
                    let scan = scan_string(text.as_bytes(), 0).unwrap();
                    let expected = StringScan {
                        end: inner.len() + 2,
                        escaped,
                        control,
                        brace,
                    };
                    assert_eq!(scan, expected, "{text:?}");
                    assert_eq!(skip_string(text.as_bytes(), 0), Some((scan.end, escaped)));
                }
            }
        }
        assert_eq!(scan_string(br#""abc\"#, 0), None);
        assert_eq!(scan_string(br#""abcdefghijkl"#, 0), None);
    }

    fn key(k: &str) -> Step<'_> {
        Step::Key(Cow::Borrowed(k))
    }

    fn written(node: &Node) -> String {
        let mut out = String::new();
        node.write(&mut out);
        out
    }

    #[test]
    fn may_contain_sees_the_text_and_what_was_rendered_into_it() {
        let doc =
            Doc::new(r#"[{"name":"LEVEL","value":"x"},{"name":"{{ n }}"},{"name":"\u0041"}]"#);
        let items = doc.items(doc.root()).unwrap();
        let start = doc.text().find("\"{{ n }}\"").unwrap();
        let replacements = vec![(start..start + 9, "\"AGENT\"".to_string())];
        let rendered: Vec<Node> = items
            .iter()
            .map(|item| Node::Rendered(&doc, item, &replacements))
            .collect();
        assert!(rendered[0].may_contain("LEVEL"));
        assert!(!rendered[0].may_contain("AGENT"));
        assert!(rendered[1].may_contain("AGENT"), "rendered into it");
        assert_eq!(rendered[1].name().as_str(), Some("AGENT"));
        assert!(rendered[2].may_contain("A"), "an escape: unsure");
        assert!(rendered[2].may_contain("B"), "an escape: unsure");
        assert!(
            Node::Value(json!({"name": "x"})).may_contain("y"),
            "built: unsure"
        );
    }

    #[test]
    fn what_is_not_opened_is_written_back_byte_for_byte() {
        let doc = Doc::new(
            r#"{"b": 1.50, "a": {"x": [1, 2 ,3], "é\u00e9": "\u0041"}, "c": null, "d": "\"}"}"#,
        );
        let mut node = Node::Doc(&doc, doc.root());
        assert_eq!(written(&node), doc.text_of(doc.root()));
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
            let doc = Doc::new(input);
            let mut node = Node::Doc(&doc, doc.root());
            if input != "[1]" {
                assert!(node.open_object().is_none(), "{input}");
            }
            assert_eq!(written(&node), input, "unchanged");
        }
        let doc = Doc::new("{}");
        assert!(Node::Doc(&doc, doc.root()).open_array().is_none());
        let doc = Doc::new(r#" [ {"a": 1} , 2 ] "#);
        let mut array = Node::Doc(&doc, doc.root());
        assert_eq!(array.open_array().unwrap().len(), 2);
        assert_eq!(written(&array), r#"[{"a": 1},2]"#);
    }

    #[test]
    fn values_open_too() {
        let mut node = Node::Value(json!({"a": [1, {"b": 2}]}));
        let a = entry(node.open_object().unwrap(), "a").unwrap();
        a.open_array().unwrap().push(Node::Value(json!(3)));
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
            let doc = Doc::new(input);
            assert_eq!(Node::Doc(&doc, doc.root()).name(), expected, "{input}");
            let value: Value = serde_json::from_str(input).unwrap();
            assert_eq!(Node::Value(value).name(), expected, "{input} as a value");
            let mut opened = Node::Doc(&doc, doc.root());
            if opened.open_object().is_some() {
                assert_eq!(opened.name(), expected, "{input} opened");
            }
        }
    }

    #[test]
    fn lookups_read_only_the_levels_on_their_path_and_each_once() {
        let doc = Doc::new(
            r#"{"metadata": {"name": "web", "labels": {"a": "b\"c"}}, "spec": {"containers": [{"name": "app", "env": [1, 2]}], "n": 1.5, "x": null}}"#,
        );
        assert_eq!(
            doc.lookup([key("metadata"), key("name")]),
            Some(Found::String("web".into()))
        );
        assert_eq!(
            doc.lookup([key("metadata"), key("labels"), key("a")]),
            Some(Found::String("b\"c".into()))
        );
        let Some(Found::Container(Kind::Array, place)) =
            doc.lookup([key("spec"), key("containers")])
        else {
            panic!("no containers");
        };
        assert_eq!(doc.members(&place), Members::Length(1));
        let Some(Found::Container(Kind::Object, first)) = doc.child_of(&place, &Step::Index(0))
        else {
            panic!("no first container");
        };
        assert_eq!(
            doc.child_of(&first, &key("name")),
            Some(Found::String("app".into()))
        );
        assert_eq!(
            doc.members(&first),
            Members::Keys(vec!["name".into(), "env".into()])
        );
        assert_eq!(
            doc.lookup([key("spec"), key("n")]),
            Some(Found::Scalar(json!(1.5)))
        );
        assert_eq!(
            doc.lookup([key("spec"), key("x")]),
            Some(Found::Scalar(Value::Null))
        );
        assert_eq!(doc.lookup([key("spec"), key("nothing")]), None);
        assert_eq!(doc.lookup([key("metadata"), Step::Index(0)]), None);
        // The env list was never opened; what was opened is shared with editing.
        let spec = doc.get(doc.root(), "spec").unwrap();
        let app = &doc.items(doc.get(spec, "containers").unwrap()).unwrap()[0];
        assert!(app.children.get().is_some());
        assert!(doc.get(app, "env").unwrap().children.get().is_none());
    }

    #[test]
    fn of_duplicate_keys_the_last_counts_and_keys_are_listed_once() {
        let doc = Doc::new(r#"{"a": 1, "b": 2, "a": 3}"#);
        assert_eq!(doc.lookup([key("a")]), Some(Found::Scalar(json!(3))));
        assert_eq!(
            doc.members(&[]),
            Members::Keys(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn a_sub_document_reads_as_its_text_would_alone() {
        let doc = Doc::new(
            r#"{"request": {"a": [1, {"b": "}"}]}, "settings" : {"x": {"y": [[], {}]}, "z": "\"]"} }"#,
        );
        assert!(doc.is_one_container());
        let settings = doc.get(doc.root(), "settings").unwrap();
        let sub = doc.sub_doc(settings);
        let alone = Doc::new(doc.text_of(settings));
        assert_eq!(sub.text(), alone.text());
        assert_eq!(
            sub.ends(),
            alone.ends(),
            "the index is the one a scan of its own gives"
        );
        let path = || [key("x"), key("y"), Step::Index(1)];
        assert_eq!(sub.lookup(path()), alone.lookup(path()));
        assert_eq!(sub.value(sub.root()), alone.value(alone.root()));
        // A value that is not an object or an array has nothing to index.
        let scalar = doc.sub_doc(doc.get(settings, "z").unwrap());
        assert_eq!(scalar.string(scalar.root()).as_deref(), Some("\"]"));
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
            assert_eq!(Doc::new(text).is_one_container(), one, "{text}");
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
            let doc = Doc::new(input);
            assert_eq!(doc.lookup([key("a")]), None, "{input:?}");
            assert!(
                matches!(doc.members(&[]), Members::None | Members::Length(0))
                    || doc.members(&[]) == Members::Keys(Vec::new()),
                "{input:?}"
            );
            // Opened, what is not JSON holds nothing: no entry, no item, no name.
            let mut node = Node::Doc(&doc, doc.root());
            assert!(
                node.open_object().is_none_or(|entries| entries.is_empty()),
                "{input:?}"
            );
            let mut node = Node::Doc(&doc, doc.root());
            assert!(
                node.open_array().is_none_or(|items| items.is_empty()),
                "{input:?}"
            );
            assert!(node.name().as_str().is_none(), "{input:?}");
            // Not opened, it is written back as it came.
            let node = Node::Doc(&doc, doc.root());
            let mut out = String::new();
            node.write(&mut out);
            assert_eq!(out, doc.text_of(doc.root()), "{input:?}");
        }
    }

    #[test]
    fn strings_end_at_their_closing_quote_whatever_their_length() {
        for length in 0usize..40 {
            for escape in [
                None,
                Some(0),
                Some(length / 2),
                Some(length.saturating_sub(1)),
            ] {
                let mut content = "x".repeat(length);
                if let Some(at) = escape.filter(|&at| at < length) {
                    content.replace_range(at..=at, "\\\"");
                }
                let text = format!("\"{content}\" , \"next\"");
                let (end, escaped) = skip_string(text.as_bytes(), 0).unwrap();
                assert_eq!(&text[..end], format!("\"{content}\""), "{text}");
                assert_eq!(escaped, content.contains('\\'), "{text}");
            }
        }
        assert_eq!(skip_string(b"\"unterminated", 0), None);
        assert_eq!(skip_string(b"\"ends in an escape\\", 0), None);
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
            assert_eq!(Doc::new(input).root().kind(), kind);
            assert_eq!(Kind::of_value(&serde_json::from_str(input).unwrap()), kind);
        }
        assert_eq!(Kind::Array.described(), "an array");
    }
}
