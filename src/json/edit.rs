//! A value being edited: [`Edit`], and [`Rendering`], the template strings of a text replaced.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};

use super::scan::has_or_escape;
use super::text::Part;
use super::{Kind, StringValue, write_string};

/// A value being edited: a value of a text left as it is (maybe with template strings rendered in
/// it), an object or array opened one level, or a value the policy built. [`Edit::write`] writes
/// it back: what was never opened is copied as the text it came in.
#[derive(Debug, Clone)]
pub struct Edit<'t>(Repr<'t>);

/// An object's entries being edited, in their order.
pub type Fields<'t> = Vec<(Cow<'t, str>, Edit<'t>)>;

#[derive(Debug, Clone)]
enum Repr<'t> {
    /// A value of a text, unchanged: written back as its text.
    Text(Part<'t>),
    /// A value of a text with some of its strings replaced (a rendered template object).
    Rendered(Part<'t>, &'t Rendering),
    /// An object opened one level.
    Object(Fields<'t>),
    /// An array opened one level.
    Array(Vec<Edit<'t>>),
    /// Built, or parsed whole, by the policy.
    Value(Value),
}

/// The strings of a text replaced by others: where each replaced string is in the text, and the
/// JSON text that replaces it, in the order they are in the text. Most replacements are strings;
/// a template string that gives a value of another type, or nothing, or several list items, is
/// also in `typed`, by where it starts, for the reading of the value ([`Edit::open_object`]).
#[derive(Debug, Clone, Default)]
pub struct Rendering {
    replaced: Vec<(Range<usize>, String)>,
    typed: Vec<(usize, Typed)>,
}

/// What a template string gives when it is not a string: a value of another type, nothing (the
/// field or the list item is left out), or list items in place of the one it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Value(Value),
    Omitted,
    Items(Vec<Value>),
}

impl Rendering {
    /// Replaces the string `string` by the string `rendered` (written as JSON, escaped); a string
    /// replaced before keeps its first replacement.
    pub fn replace(&mut self, string: &StringValue, rendered: &str) {
        let mut text = String::with_capacity(rendered.len() + 2);
        write_string(&mut text, rendered);
        self.insert(string.range(), text);
    }

    /// Replaces the string `string` by what `typed` says. Items are for a string that is an item
    /// of a list; none at all is the item left out.
    pub fn replace_typed(&mut self, string: &StringValue, typed: Typed) {
        let typed = match typed {
            Typed::Items(items) if items.is_empty() => Typed::Omitted,
            typed => typed,
        };
        let text = match &typed {
            Typed::Value(value) => serde_json::to_string(value).unwrap_or_default(),
            Typed::Omitted => String::new(),
            Typed::Items(items) => items
                .iter()
                .filter_map(|item| serde_json::to_string(item).ok())
                .collect::<Vec<_>>()
                .join(","),
        };
        let at = string.range();
        if self.insert(at.clone(), text) {
            let index = self.typed.partition_point(|(start, _)| *start < at.start);
            self.typed.insert(index, (at.start, typed));
        }
    }

    /// False when `at` was replaced before.
    fn insert(&mut self, at: Range<usize>, text: String) -> bool {
        let index = self.replaced.partition_point(|(r, _)| r.start < at.start);
        let new = self
            .replaced
            .get(index)
            .is_none_or(|(r, _)| r.start != at.start);
        if new {
            self.replaced.insert(index, (at, text));
        }
        new
    }

    /// What replaces the value of the text at `range` when it is typed.
    fn typed_at(&self, range: &Range<usize>) -> Option<&Typed> {
        if self.typed.is_empty() {
            return None;
        }
        let index = self
            .typed
            .partition_point(|(start, _)| *start < range.start);
        match self.typed.get(index) {
            Some((start, typed)) if *start == range.start => Some(typed),
            _ => None,
        }
    }

    /// Whether `part` is an object or a list that had members and whose every member a template
    /// string left out: it is left out too, as Istio's text templates leave out `limits:` when
    /// they write no limit.
    fn empties(&self, part: Part) -> bool {
        if !self.omits_within(&part.range()) {
            return false;
        }
        let gone = |child: Part| match self.typed_at(&child.range()) {
            Some(Typed::Omitted) => true,
            Some(_) => false,
            None => self.empties(child),
        };
        match part.kind() {
            Kind::Object => part.entries().is_some_and(|entries| {
                !entries.is_empty() && entries.into_iter().all(|(_, child)| gone(child))
            }),
            Kind::Array => part.items().is_some_and(|items| {
                let mut items = items.peekable();
                items.peek().is_some() && items.all(gone)
            }),
            _ => false,
        }
    }

    /// Whether a value left out is in `range`: such a value's object or array is written entry by
    /// entry, so that no comma is left behind.
    fn omits_within(&self, range: &Range<usize>) -> bool {
        if self.typed.is_empty() {
            return false;
        }
        let first = self
            .typed
            .partition_point(|(start, _)| *start < range.start);
        self.typed
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(|(start, _)| *start < range.end)
            .any(|(_, typed)| *typed == Typed::Omitted)
    }

    /// The replacements that fall in `range`.
    fn within(&self, range: Range<usize>) -> &[(Range<usize>, String)] {
        let first = self
            .replaced
            .partition_point(|(at, _)| at.start < range.start);
        let rest = self.replaced.get(first..).unwrap_or_default();
        let count = rest.partition_point(|(at, _)| at.end <= range.end);
        rest.get(..count).unwrap_or_default()
    }
}

/// The `name` of an object, as [`Edit::name`] finds it.
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

    fn of_value(value: &Value) -> Self {
        match value {
            Value::String(name) => Self::Text(name.clone()),
            Value::Null => Self::Missing,
            other => Self::Other(Kind::of_value(other)),
        }
    }
}

impl<'t> Edit<'t> {
    /// A value of a text, as it is.
    pub fn part(part: Part<'t>) -> Self {
        Self(Repr::Text(part))
    }

    /// A value of a text with the strings `rendering` replaces in it replaced.
    pub fn rendered(part: Part<'t>, rendering: &'t Rendering) -> Self {
        match rendering.typed_at(&part.range()) {
            Some(Typed::Value(value)) => Self::value(value.clone()),
            _ => Self(Repr::Rendered(part, rendering)),
        }
    }

    /// The items of this array, each as [`Edit::open_array`] opens them (a typed template string
    /// among them gives its items, or none); `None` when this is not an array.
    pub fn into_items(mut self) -> Option<Vec<Edit<'t>>> {
        self.open_array()?;
        match self.0 {
            Repr::Array(items) => Some(items),
            _ => None,
        }
    }

    /// A value the policy built.
    pub fn value(value: Value) -> Self {
        Self(Repr::Value(value))
    }

    /// An array of values being edited.
    pub fn array(items: Vec<Edit<'t>>) -> Self {
        Self(Repr::Array(items))
    }

    pub fn kind(&self) -> Kind {
        match &self.0 {
            Repr::Text(part) | Repr::Rendered(part, _) => part.kind(),
            Repr::Object(_) => Kind::Object,
            Repr::Array(_) => Kind::Array,
            Repr::Value(value) => Kind::of_value(value),
        }
    }

    /// The value, when the policy built it.
    pub fn as_value(&self) -> Option<&Value> {
        match &self.0 {
            Repr::Value(value) => Some(value),
            _ => None,
        }
    }

    /// The values a value inside this one's text stands for, with the replacements that fall in
    /// it (keys are never replaced, only string values): itself, or what a typed template string
    /// gives in its place, none when it gives nothing.
    fn members(&self, part: Part<'t>) -> Vec<Self> {
        match &self.0 {
            Repr::Rendered(_, rendering) => match rendering.typed_at(&part.range()) {
                Some(Typed::Omitted) => Vec::new(),
                Some(Typed::Items(items)) => items.iter().cloned().map(Self::value).collect(),
                Some(Typed::Value(value)) => vec![Self::value(value.clone())],
                None if rendering.empties(part) => Vec::new(),
                None => vec![Self(Repr::Rendered(part, rendering))],
            },
            _ => vec![Self(Repr::Text(part))],
        }
    }

    /// The entries of an object, opened one level; `None` when this is not an object.
    pub fn open_object(&mut self) -> Option<&mut Fields<'t>> {
        match &mut self.0 {
            Repr::Text(part) | Repr::Rendered(part, _) => {
                let entries = part.entries()?;
                let entries = entries
                    .into_iter()
                    .flat_map(|(key, child)| {
                        self.members(child)
                            .into_iter()
                            .take(1)
                            .map(move |edit| (key.clone(), edit))
                    })
                    .collect();
                self.0 = Repr::Object(entries);
            }
            Repr::Value(Value::Object(map)) => {
                let map = std::mem::take(map);
                self.0 = Repr::Object(
                    map.into_iter()
                        .map(|(key, value)| (Cow::Owned(key), Self::value(value)))
                        .collect(),
                );
            }
            _ => {}
        }
        match &mut self.0 {
            Repr::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of an array, opened one level; `None` when this is not an array.
    pub fn open_array(&mut self) -> Option<&mut Vec<Edit<'t>>> {
        match &mut self.0 {
            Repr::Text(part) | Repr::Rendered(part, _) => {
                let items = part.items()?;
                let items = items.flat_map(|item| self.members(item)).collect();
                self.0 = Repr::Array(items);
            }
            Repr::Value(Value::Array(items)) => {
                let items = std::mem::take(items);
                self.0 = Repr::Array(items.into_iter().map(Self::value).collect());
            }
            _ => {}
        }
        match &mut self.0 {
            Repr::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The whole value, parsed.
    pub fn into_value(self) -> Value {
        match self.0 {
            Repr::Text(part) => part.value(),
            Repr::Rendered(..) => {
                let mut text = String::new();
                self.write(&mut text);
                serde_json::from_str(&text).unwrap_or(Value::Null)
            }
            Repr::Object(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(key, edit)| (key.into_owned(), edit.into_value()))
                    .collect::<Map<_, _>>(),
            ),
            Repr::Array(items) => Value::Array(items.into_iter().map(Edit::into_value).collect()),
            Repr::Value(value) => value,
        }
    }

    /// Whether this value may differ from its text in the settings: a value with a template string
    /// rendered in it, or one the policy built (a merge). What is as written was checked when the
    /// policy was loaded.
    pub fn differs_from_written(&self) -> bool {
        match &self.0 {
            Repr::Text(_) => false,
            Repr::Rendered(part, rendering) => !rendering.within(part.range()).is_empty(),
            _ => true,
        }
    }

    /// The value as the settings write it, template strings unrendered; `None` for a value the
    /// policy built.
    pub fn written(&self) -> Option<Value> {
        match &self.0 {
            Repr::Text(part) | Repr::Rendered(part, _) => Some(part.value()),
            _ => None,
        }
    }

    /// The field `key` of this object, without opening it; `None` when absent or not an object.
    pub fn field(&self, key: &str) -> Option<Edit<'t>> {
        match &self.0 {
            Repr::Text(part) | Repr::Rendered(part, _) => part
                .get(key)
                .and_then(|child| self.members(child).into_iter().next()),
            Repr::Object(entries) => entries
                .iter()
                .rev()
                .find(|(name, _)| name == key)
                .map(|(_, edit)| edit.clone()),
            Repr::Value(value) => value.get(key).cloned().map(Self::value),
            Repr::Array(_) => None,
        }
    }

    /// False when `text` cannot be anywhere in this value, as written or rendered: a cheap test
    /// before [`Edit::name`], which opens the value. True when unsure (escapes, built values).
    pub fn may_contain(&self, text: &str) -> bool {
        let unsure_or_has = |haystack: &str| has_or_escape(haystack.as_bytes(), text.as_bytes());
        match &self.0 {
            Repr::Text(part) => unsure_or_has(part.as_str()),
            Repr::Rendered(part, rendering) => {
                unsure_or_has(part.as_str())
                    || rendering
                        .within(part.range())
                        .iter()
                        .any(|(_, rendered)| unsure_or_has(rendered))
            }
            _ => true,
        }
    }

    /// This value's `name`, when it is an object.
    pub fn name(&self) -> Name {
        let name = match &self.0 {
            Repr::Text(part) | Repr::Rendered(part, _) if part.kind() == Kind::Object => part
                .get("name")
                .and_then(|name| self.members(name).into_iter().next())
                .map(|name| name.as_name()),
            Repr::Object(entries) => entries
                .iter()
                .rev()
                .find(|(key, _)| key == "name")
                .map(|(_, edit)| edit.as_name()),
            Repr::Value(Value::Object(map)) => map.get("name").map(Name::of_value),
            _ => return Name::NotObject(self.kind()),
        };
        name.unwrap_or(Name::Missing)
    }

    /// This value as a name: read from its text unless a template string was rendered into it.
    fn as_name(&self) -> Name {
        match &self.0 {
            Repr::Text(part) | Repr::Rendered(part, _) if !self.differs_from_written() => {
                match part.kind() {
                    Kind::String => part
                        .string()
                        .map_or(Name::Missing, |text| Name::Text(text.into_owned())),
                    Kind::Null => Name::Missing,
                    kind => Name::Other(kind),
                }
            }
            Repr::Value(value) => Name::of_value(value),
            _ => Name::of_value(&self.clone().into_value()),
        }
    }

    /// Writes the value as JSON text: the parts of texts as they are.
    pub fn write(&self, out: &mut String) {
        match &self.0 {
            Repr::Text(part) => out.push_str(part.as_str()),
            Repr::Rendered(part, rendering) if rendering.omits_within(&part.range()) => {
                // Left out, or items in place of one: written member by member.
                let mut opened = self.clone();
                if opened.open_object().is_some() || opened.open_array().is_some() {
                    opened.write(out);
                } else {
                    out.push_str(part.as_str());
                }
            }
            Repr::Rendered(part, rendering) => {
                let range = part.range();
                let text = part.whole();
                let mut copied = range.start;
                for (at, replacement) in rendering.within(range.clone()) {
                    out.push_str(text.get(copied..at.start).unwrap_or_default());
                    out.push_str(replacement);
                    copied = at.end;
                }
                out.push_str(text.get(copied..range.end).unwrap_or_default());
            }
            Repr::Object(entries) => {
                out.push('{');
                for (i, (key, edit)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    edit.write(out);
                }
                out.push('}');
            }
            Repr::Array(items) => {
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
            Repr::Value(value) => {
                if let Ok(text) = serde_json::to_string(value) {
                    out.push_str(&text);
                }
            }
        }
    }
}

/// The entry of `fields` named `key` (the last one, as for serde_json).
pub fn entry<'f, 't>(
    fields: &'f mut [(Cow<'t, str>, Edit<'t>)],
    key: &str,
) -> Option<&'f mut Edit<'t>> {
    fields
        .iter_mut()
        .rev()
        .find(|(name, _)| name == key)
        .map(|(_, edit)| edit)
}
