//! A JSON text read on demand: [`Text`], and [`Part`], a value of it.
//!
//! Inside, a text is a `Doc`: its levels (`Level`) opened the first time they are asked for and
//! kept, so that the decision, the template strings and the injection read each level once.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::Kind;
use super::canonical::StringValue;
use super::scan::{Ends, index, scan_array, scan_object, string};

/// A JSON text, its levels opened on demand and kept. Shared (`Arc`), so that the template engine,
/// whose values must own what they refer to, reads the same levels as everything else.
#[derive(Debug)]
pub(super) struct Doc {
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
pub(super) struct Level {
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
    pub(super) fn new(text: &str) -> Self {
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

    pub(super) fn root(&self) -> &Level {
        &self.root
    }

    /// The value `level` as a document of its own, indexed by this document's pass over it: how
    /// the settings are read out of the `validate` payload without a second scan.
    pub(super) fn sub_doc(&self, level: &Level) -> Doc {
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
    pub(super) fn is_one_container(&self) -> bool {
        matches!(self.root.kind, Kind::Object | Kind::Array)
            && Ends(self.ends()).of(self.root.range.start) == Some(self.root.range.end)
    }

    fn ends(&self) -> &[(usize, usize)] {
        self.ends.get_or_init(|| index(self.text().as_bytes()))
    }

    /// The document's whole text.
    pub(super) fn text(&self) -> &str {
        self.whole.get(self.span.clone()).unwrap_or_default()
    }

    /// The text of a level of this document.
    pub(super) fn text_of(&self, level: &Level) -> &str {
        self.text().get(level.range.clone()).unwrap_or("null")
    }

    /// The entries of the object `level`, opened; `None` when it is not an object.
    pub(super) fn entries<'d>(
        &'d self,
        level: &'d Level,
    ) -> Option<Vec<(Cow<'d, str>, &'d Level)>> {
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
    pub(super) fn items<'d>(&'d self, level: &'d Level) -> Option<&'d [Level]> {
        match self.open(level)? {
            Children::Array(items) => Some(items),
            Children::Object(_) => None,
        }
    }

    /// The child of the object `level` named `key` (the last one, as for serde_json).
    pub(super) fn get<'d>(&'d self, level: &'d Level, key: &str) -> Option<&'d Level> {
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
    pub(super) fn value(&self, level: &Level) -> Value {
        self.parse(level).unwrap_or(Value::Null)
    }

    /// The value of `level`, parsed whole, or why it cannot be (nested too deeply, the only way
    /// for valid JSON).
    pub(super) fn parse(&self, level: &Level) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.text_of(level))
    }

    /// The value at `path` from the root, or `None` when the document has nothing there.
    pub(super) fn lookup<'s>(&self, path: impl IntoIterator<Item = Step<'s>>) -> Option<Found<'_>> {
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
    pub(super) fn step<'d>(&'d self, level: &'d Level, step: &Step) -> Option<&'d Level> {
        self.child(level, step).map(|(_, child)| child)
    }

    /// The string `level` holds, when it holds one.
    pub(super) fn string<'d>(&'d self, level: &'d Level) -> Option<Cow<'d, str>> {
        match level.kind {
            Kind::String => string(self.text_of(level)),
            _ => None,
        }
    }

    /// The value at a place found before.
    pub(super) fn at(&self, place: &[usize]) -> Option<Found<'_>> {
        let level = self.resolve(place)?;
        Some(self.found(level, place.to_vec()))
    }

    /// The child of the value at `place` reached by `step`.
    pub(super) fn child_of(&self, place: &[usize], step: &Step) -> Option<Found<'_>> {
        let level = self.resolve(place)?;
        let (index, child) = self.child(level, step)?;
        let mut place = place.to_vec();
        place.push(index);
        Some(self.found(child, place))
    }

    /// The keys of the object at `place`, or the length of the array there.
    pub(super) fn members(&self, place: &[usize]) -> Members {
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
                .enumerate()
                .rfind(|(_, (name, _))| self.key_is(name, key))
                .map(|(index, (_, child))| (index, child)),
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
    pub(super) fn kind(&self) -> Kind {
        self.kind
    }

    /// Where the level's text is in its document's.
    pub(super) fn range(&self) -> Range<usize> {
        self.range.clone()
    }
}
/// A JSON text, its levels opened when they are first read and kept. Cloning it is cheap and
/// shares what was opened: the template engine, whose values must own what they refer to, reads
/// the same levels as everything else.
#[derive(Debug, Clone)]
pub struct Text(Arc<Doc>);

/// A value of a [`Text`]: where it is, read no further than asked.
#[derive(Debug, Clone, Copy)]
pub struct Part<'t> {
    pub(super) doc: &'t Doc,
    pub(super) level: &'t Level,
}

impl Text {
    /// `text` must be one JSON value, as serde_json or the policy server checked it; what is not
    /// JSON reads as nothing, never as a panic (see [`crate::json`]).
    pub fn new(text: &str) -> Self {
        Self(Arc::new(Doc::new(text)))
    }

    /// The value the text is.
    pub fn root(&self) -> Part<'_> {
        Part {
            doc: &self.0,
            level: self.0.root(),
        }
    }

    /// `part` (of this text) as a text of its own, indexed by this text's pass over it: how the
    /// settings and the Pod are read out of the `validate` payload without a second scan.
    pub fn sub(&self, part: Part) -> Text {
        Self(Arc::new(self.0.sub_doc(part.level)))
    }

    /// Whether the text is one object or array and nothing after it (whitespace aside).
    pub fn is_one_container(&self) -> bool {
        self.0.is_one_container()
    }

    pub(super) fn doc(&self) -> &Doc {
        &self.0
    }

    /// The whole text.
    pub fn as_str(&self) -> &str {
        self.0.text()
    }

    /// The value at `path` from the root, or `None` when the text has nothing there.
    pub fn lookup<'s>(&self, path: impl IntoIterator<Item = Step<'s>>) -> Option<Found<'_>> {
        self.0.lookup(path)
    }

    /// The value at a place found before.
    pub fn at(&self, place: &[usize]) -> Option<Found<'_>> {
        self.0.at(place)
    }

    /// The child of the value at `place` reached by `step`.
    pub fn child_of(&self, place: &[usize], step: &Step) -> Option<Found<'_>> {
        self.0.child_of(place, step)
    }

    /// The keys of the object at `place`, or the length of the array there.
    pub fn members(&self, place: &[usize]) -> Members {
        self.0.members(place)
    }
}

impl<'t> Part<'t> {
    fn of(self, level: &'t Level) -> Self {
        Self {
            doc: self.doc,
            level,
        }
    }

    pub fn kind(self) -> Kind {
        self.level.kind()
    }

    /// The value's JSON text, as it came.
    pub fn as_str(self) -> &'t str {
        self.doc.text_of(self.level)
    }

    /// The member `key` of this object (the last one, as for serde_json); `None` when absent or
    /// when this is not an object.
    pub fn get(self, key: &str) -> Option<Self> {
        self.doc.get(self.level, key).map(|level| self.of(level))
    }

    /// The child reached by `step`.
    pub fn step(self, step: &Step) -> Option<Self> {
        self.doc.step(self.level, step).map(|level| self.of(level))
    }

    /// The entries of this object, in their order; `None` when it is not an object.
    pub fn entries(self) -> Option<Vec<(Cow<'t, str>, Self)>> {
        let entries = self.doc.entries(self.level)?;
        Some(
            entries
                .into_iter()
                .map(|(key, level)| (key, self.of(level)))
                .collect(),
        )
    }

    /// The items of this array; `None` when it is not an array.
    pub fn items(self) -> Option<impl ExactSizeIterator<Item = Self>> {
        let items = self.doc.items(self.level)?;
        Some(items.iter().map(move |level| self.of(level)))
    }

    /// The string this value is, unescaped; `None` when it is not a string.
    pub fn string(self) -> Option<Cow<'t, str>> {
        self.doc.string(self.level)
    }

    /// The value, parsed whole (null where the text is not JSON).
    pub fn value(self) -> Value {
        self.doc.value(self.level)
    }

    /// The value, parsed whole, or why it cannot be (nested too deeply, the only way for valid
    /// JSON).
    pub fn parse(self) -> Result<Value, serde_json::Error> {
        self.doc.parse(self.level)
    }

    /// Whether `string` (a string value of the same text) is inside this value.
    pub fn holds(self, string: &StringValue) -> bool {
        let at = string.range();
        self.level.range.start <= at.start && at.end <= self.level.range.end
    }

    /// Where the value's text is in its text's.
    pub(super) fn range(self) -> Range<usize> {
        self.level.range()
    }

    /// Where the value is in the text it is part of, in bytes: for a caller that holds those
    /// bytes and wants the value to borrow from them.
    pub fn span(self) -> Range<usize> {
        self.level.range()
    }

    /// The whole text this value is part of.
    pub(super) fn whole(self) -> &'t str {
        self.doc.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Step<'_> {
        Step::Key(Cow::Borrowed(k))
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
    fn of_duplicate_keys_the_last_counts_and_keys_are_listed_once() {
        let doc = Doc::new(r#"{"a": 1, "b": 2, "a": 3}"#);
        assert_eq!(doc.lookup([key("a")]), Some(Found::Scalar(json!(3))));
        assert_eq!(
            doc.members(&[]),
            Members::Keys(vec!["a".into(), "b".into()])
        );
    }
}
