//! The sidecar template's objects checked against the Kubernetes types, without the types.
//!
//! [`kubernetes`] is a table of the Kubernetes v1.36 types a template reaches (Container, Volume,
//! LocalObjectReference and all below them), generated from k8s-openapi by this module's tests,
//! which also fail when it is stale. The checks are those of k8s-openapi's deserialization, which
//! the tests hold this module to: a value of the wrong type is refused, a field the type does not
//! know is refused unless it is null, and a missing field is accepted (k8s-openapi defaults the
//! fields the API calls required, and so does the API server's decoder). The module carries this
//! table instead of k8s-openapi, serde_ignored and jiff: they were an eighth of its bytes.

use serde_json::{Map, Value};

use crate::error::json_type;
use crate::json::Step;

// Generated: the test that checks it is current compares its text, so rustfmt leaves it.
#[rustfmt::skip]
mod kubernetes;
#[cfg(test)]
mod tests;
mod time;

pub use kubernetes::{CONTAINER, LOCAL_OBJECT_REFERENCE, VOLUME};

/// The Kubernetes version the table was generated for, as messages name it.
pub const KUBERNETES_VERSION: &str = "v1.36";

/// What a field holds, as k8s-openapi reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Bool,
    /// A JSON integer in the range of i32 (a number with a fraction or an exponent is not one).
    Int32,
    Int64,
    /// `resource.Quantity`: a string or any number.
    Quantity,
    /// `intstr.IntOrString`: a string or an i32.
    IntOrString,
    /// `meta/v1.Time`: a timestamp string, read as jiff reads one (see [`time`]).
    Time,
    /// `meta/v1.FieldsV1`: any JSON value.
    Any,
    List(&'static Ty),
    /// An object with string keys and values of one type.
    Map(&'static Ty),
    /// One of [`kubernetes::STRUCTS`], by index.
    Struct(u16),
}

/// A Kubernetes struct: its fields by JSON name, sorted, so that a lookup is a binary search.
#[derive(Debug)]
pub struct Struct {
    pub name: &'static str,
    pub fields: &'static [(&'static str, Ty)],
}

impl Struct {
    fn field(&self, name: &str) -> Option<Ty> {
        self.fields
            .binary_search_by(|(field, _)| (*field).cmp(name))
            .ok()
            .and_then(|i| self.fields.get(i))
            .map(|(_, ty)| *ty)
    }
}

/// One step of a path below the checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Why a value is not of its Kubernetes type, and where below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: Vec<Segment>,
    pub message: String,
}

impl Problem {
    /// The path as the settings' messages write it: `.ports[0].containerPort`.
    pub fn display_path(&self) -> String {
        self.path
            .iter()
            .map(|segment| match segment {
                Segment::Key(key) => format!(".{key}"),
                Segment::Index(index) => format!("[{index}]"),
            })
            .collect()
    }
}

/// The type of the value `steps` below a value of type `ty`; `None` where the types have no such
/// value (a field they do not know, a step into a string).
pub fn type_at<'s>(ty: Ty, steps: impl IntoIterator<Item = &'s Step<'s>>) -> Option<Ty> {
    let mut ty = ty;
    for step in steps {
        ty = match (ty, step) {
            (Ty::List(item), Step::Index(_)) | (Ty::Map(item), Step::Key(_)) => *item,
            (Ty::Struct(index), Step::Key(key)) => {
                kubernetes::STRUCTS.get(usize::from(index))?.field(key)?
            }
            (Ty::Any, _) => Ty::Any,
            _ => return None,
        };
    }
    Some(ty)
}

/// Checks `value` against `ty`. A wrong value anywhere is reported before an unknown field
/// anywhere, and among each kind the first in the document's order: the order in which
/// k8s-openapi, reading the document once, came upon them.
pub fn check(value: &Value, ty: Ty) -> Result<(), Problem> {
    check_walk(value, ty, false)
}

/// As [`check`], for a template as the settings write it: a template string may stand for a value
/// of any type, which its evaluation gives for each Pod ([`crate::template::typed`]); where an
/// object or a list goes, it must be one expression, as only one gives such a value.
pub fn check_template(value: &Value, ty: Ty) -> Result<(), Problem> {
    check_walk(value, ty, true)
}

fn check_walk(value: &Value, ty: Ty, templates: bool) -> Result<(), Problem> {
    let mut walk = Walk {
        path: Vec::new(),
        unknown: None,
        templates,
    };
    walk.value(value, ty).map_err(|message| Problem {
        path: walk.path.clone(),
        message,
    })?;
    match walk.unknown {
        Some(path) => Err(Problem {
            path,
            message: format!(
                "unknown field (not in the Kubernetes {KUBERNETES_VERSION} API); check its spelling"
            ),
        }),
        None => Ok(()),
    }
}

struct Walk {
    /// Where the walk is; on an error, where the error is.
    path: Vec<Segment>,
    /// The first field, not null, that its type does not have.
    unknown: Option<Vec<Segment>>,
    /// Whether template strings stand for values (see [`check_template`]).
    templates: bool,
}

impl Walk {
    fn value(&mut self, value: &Value, ty: Ty) -> Result<(), String> {
        match (ty, value) {
            (Ty::List(_) | Ty::Map(_) | Ty::Struct(_), Value::String(text))
                if self.templates
                    && crate::template::is_template(text)
                    && !crate::template::is_one_expression(text) =>
            {
                Err(format!(
                    "expected {}; a template string gives one only when it is one expression, such as {{{{ pod.metadata.annotations['x'] | fromjson }}}}, got {text:?}",
                    expected(ty)
                ))
            }
            (_, Value::String(text)) if self.templates && crate::template::is_template(text) => {
                Ok(())
            }
            (Ty::String, Value::String(_))
            | (Ty::Bool, Value::Bool(_))
            | (Ty::Quantity, Value::String(_) | Value::Number(_))
            | (Ty::IntOrString, Value::String(_))
            | (Ty::Any, _) => Ok(()),
            (Ty::Int32 | Ty::IntOrString, Value::Number(n))
                if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) =>
            {
                Ok(())
            }
            (Ty::Int64, Value::Number(n)) if n.is_i64() => Ok(()),
            (Ty::Int32 | Ty::Int64 | Ty::IntOrString, Value::Number(n)) => {
                let bits = if ty == Ty::Int64 { 64 } else { 32 };
                let or_string = if ty == Ty::IntOrString {
                    " or a string"
                } else {
                    ""
                };
                let why = if n.is_f64() {
                    "not an integer"
                } else {
                    "out of range"
                };
                Err(format!(
                    "expected a {bits}-bit integer{or_string}, got {n} ({why})"
                ))
            }
            (Ty::Time, Value::String(text)) => time::check(text).map_err(|why| {
                format!(
                    "expected a timestamp such as \"2006-01-02T15:04:05Z\", got {text:?} ({why})"
                )
            }),
            (Ty::List(item), Value::Array(items)) => {
                for (i, value) in items.iter().enumerate() {
                    self.path.push(Segment::Index(i));
                    self.value(value, *item)?;
                    self.path.pop();
                }
                Ok(())
            }
            (Ty::Map(item), Value::Object(map)) => {
                for (key, value) in map {
                    self.path.push(Segment::Key(key.clone()));
                    self.value(value, *item)?;
                    self.path.pop();
                }
                Ok(())
            }
            (Ty::Struct(index), Value::Object(map)) => {
                match kubernetes::STRUCTS.get(usize::from(index)) {
                    Some(ty) => self.fields(ty, map),
                    None => Err(format!("no Kubernetes type numbered {index}")),
                }
            }
            (ty, other) => Err(format!("expected {}, got {}", expected(ty), shown(other))),
        }
    }

    fn fields(&mut self, ty: &Struct, map: &Map<String, Value>) -> Result<(), String> {
        for (key, value) in map {
            self.path.push(Segment::Key(key.clone()));
            match ty.field(key) {
                // An explicit null is the field left out, for k8s-openapi as for the API server.
                _ if value.is_null() => {}
                Some(field) => self.value(value, field)?,
                None => {
                    if self.unknown.is_none() {
                        self.unknown = Some(self.path.clone());
                    }
                }
            }
            self.path.pop();
        }
        Ok(())
    }
}

/// "a 32-bit integer", "an object (Kubernetes EnvVar)": the type in a message.
fn expected(ty: Ty) -> String {
    match ty {
        Ty::String => "a string".into(),
        Ty::Bool => "a boolean".into(),
        Ty::Int32 => "a 32-bit integer".into(),
        Ty::Int64 => "a 64-bit integer".into(),
        Ty::Quantity => "a quantity (a string such as \"100m\" or \"1Gi\", or a number)".into(),
        Ty::IntOrString => "a 32-bit integer or a string".into(),
        Ty::Time => "a timestamp string such as \"2006-01-02T15:04:05Z\"".into(),
        Ty::Any => "any value".into(),
        Ty::List(_) => "a list".into(),
        Ty::Map(Ty::String) => "an object of strings".into(),
        Ty::Map(Ty::Quantity) => "an object of quantities".into(),
        Ty::Map(item) => format!("an object whose values are {}", expected(*item)),
        Ty::Struct(index) => match kubernetes::STRUCTS.get(usize::from(index)) {
            Some(ty) => format!("an object (Kubernetes {})", ty.name),
            None => "an object".into(),
        },
    }
}

/// The value a person gave, as a message shows it: scalars as written, containers by kind.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("the string {text:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        other => json_type(other).to_string(),
    }
}
