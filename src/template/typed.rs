//! Template values that are not strings: what a template string gives, put in its place.
//!
//! A template string that is one expression, `{{ … }}`, gives the expression's value: a number,
//! a boolean, an object or a list (parsed from an annotation with `fromjson`), or `none`, which
//! leaves the field, or the list item, out. Any other template string gives its text. The value
//! is then made to fit the Kubernetes type of the field it is in ([`crate::schema`]), or refused
//! with the field's type named:
//!
//! | gives | in a string field | in an integer or boolean field | in an object or list field |
//! |---|---|---|---|
//! | text | the text | the text read as one (`"15"` is 15) | refused: give a value (`fromjson`) |
//! | a number, a boolean | its text | itself, if of the field's type | refused |
//! | an object, a list | refused (a quantity may be a number) | refused | itself, checked against the type |
//! | `none` | the field left out | left out | left out |
//! | undefined (a missing annotation) | `""`, as a template string always gave | left out | left out |
//!
//! A template string that is an item of a list and gives a list gives its items, each checked;
//! the Pod's data so fills only the place the template gives it, never a field beside it.

use serde_json::{Map, Value};

use crate::json::Typed;
use crate::schema::{self, Ty};

/// What a template string gave, before its place decides its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Text(String),
    Value(Value),
    /// `none`.
    Nothing,
    /// A lookup that found nothing, as `pod.metadata.annotations['absent']`.
    Undefined,
}

/// What a template string's place gets: text, as every template string gave before typed values,
/// or a typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    Text(String),
    Typed(Typed),
}

/// `output` put in a place of type `ty`; `item` when the template string is an item of a list.
/// The error says what was expected and what was given.
pub fn place(output: Output, ty: Ty, item: bool) -> Result<Placed, String> {
    let takes_text = matches!(
        ty,
        Ty::String | Ty::Quantity | Ty::IntOrString | Ty::Time | Ty::Any
    );
    match output {
        Output::Nothing => Ok(Placed::Typed(Typed::Omitted)),
        Output::Undefined if takes_text => Ok(Placed::Text(String::new())),
        Output::Undefined => Ok(Placed::Typed(Typed::Omitted)),
        Output::Text(text) if takes_text => Ok(Placed::Text(text)),
        Output::Text(text) => {
            let value = match ty {
                Ty::Int32 | Ty::Int64 => text.trim().parse::<i64>().ok().map(Value::from),
                Ty::Bool => match text.trim() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                },
                _ => None,
            };
            match value {
                Some(value) => Ok(Placed::Typed(Typed::Value(value))),
                None => {
                    let hint = match ty {
                        Ty::List(_) | Ty::Map(_) | Ty::Struct(_) => {
                            "; a template string gives an object or a list when it is one expression, such as {{ pod.metadata.annotations['x'] | fromjson }}"
                        }
                        _ => "",
                    };
                    Err(format!("{}{hint}", problem(&Value::String(text), ty)))
                }
            }
        }
        Output::Value(Value::Array(items)) if item => {
            for (i, value) in items.iter().enumerate() {
                schema::check(value, ty)
                    .map_err(|p| format!("[{i}]{}: {}", p.display_path(), p.message))?;
            }
            Ok(Placed::Typed(Typed::Items(items)))
        }
        Output::Value(value @ (Value::Number(_) | Value::Bool(_)))
            if matches!(ty, Ty::String | Ty::Time) =>
        {
            Ok(Placed::Text(value.to_string()))
        }
        Output::Value(value) => match schema::check(&value, ty) {
            Ok(()) => Ok(Placed::Typed(Typed::Value(value))),
            Err(p) if p.path.is_empty() => Err(p.message),
            Err(p) => Err(format!("{}: {}", p.display_path(), p.message)),
        },
    }
}

/// Why `value` is not of type `ty`.
fn problem(value: &Value, ty: Ty) -> String {
    match schema::check(value, ty) {
        Err(p) => p.message,
        Ok(()) => String::new(),
    }
}

/// The filter `fromjson`: a string of JSON, parsed; undefined and `none` pass through, so that
/// `pod.metadata.annotations['x'] | fromjson` gives nothing when there is no annotation.
pub(super) fn from_json(value: minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(value);
    }
    let Some(text) = value.as_str() else {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("fromjson reads a string, got {}", value.kind()),
        ));
    };
    let parsed: Value = serde_json::from_str(text).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("fromjson: {text:?} is not JSON: {e}"),
        )
    })?;
    Ok(minijinja::Value::from_serialize(parsed))
}

/// The filter `named_list`: an object of objects as a list of them, each with its key as `name`,
/// in the order of the keys (how Istio writes `sidecar.istio.io/userVolume` into volumes).
/// Undefined and `none` pass through.
pub(super) fn named_list(value: minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(value);
    }
    let invalid =
        |what: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, what);
    let map: Map<String, Value> = match serde_json::to_value(&value) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(invalid(format!(
                "named_list reads an object of objects, got {}",
                value.kind()
            )));
        }
    };
    // In key order, as Go ranges over a map: inserted in place (a handful of keys; the module
    // carries no sort for them).
    let mut keys: Vec<&String> = Vec::with_capacity(map.len());
    for key in map.keys() {
        let at = keys.partition_point(|k| *k < key);
        keys.insert(at, key);
    }
    let mut items = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(Value::Object(fields)) = map.get(key) else {
            return Err(invalid(format!(
                "named_list reads an object of objects; {key:?} is not an object"
            )));
        };
        let mut item = Map::new();
        item.insert("name".into(), Value::String(key.clone()));
        for (field, value) in fields {
            if field != "name" {
                item.insert(field.clone(), value.clone());
            }
        }
        items.push(Value::Object(item));
    }
    // The same instantiation as fromjson's.
    Ok(minijinja::Value::from_serialize(Value::Array(items)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CONTAINER, VOLUME};
    use rstest::rstest;
    use serde_json::json;

    const INT: Ty = Ty::Int32;

    #[rstest]
    #[case::text_in_string(Output::Text("a".into()), Ty::String, Placed::Text("a".into()))]
    #[case::undefined_in_string(Output::Undefined, Ty::String, Placed::Text(String::new()))]
    #[case::none_in_string(Output::Nothing, Ty::String, Placed::Typed(Typed::Omitted))]
    #[case::number_in_string(Output::Value(json!(2)), Ty::String, Placed::Text("2".into()))]
    #[case::number_in_quantity(Output::Value(json!(2)), Ty::Quantity, Placed::Typed(Typed::Value(json!(2))))]
    #[case::text_in_int(Output::Text(" 15".into()), INT, Placed::Typed(Typed::Value(json!(15))))]
    #[case::number_in_int(Output::Value(json!(15)), INT, Placed::Typed(Typed::Value(json!(15))))]
    #[case::undefined_in_int(Output::Undefined, INT, Placed::Typed(Typed::Omitted))]
    #[case::text_in_bool(Output::Text("true".into()), Ty::Bool, Placed::Typed(Typed::Value(json!(true))))]
    #[case::object(Output::Value(json!({"name": "v", "emptyDir": {}})), VOLUME, Placed::Typed(Typed::Value(json!({"name": "v", "emptyDir": {}}))))]
    fn places(#[case] output: Output, #[case] ty: Ty, #[case] expected: Placed) {
        assert_eq!(place(output, ty, false), Ok(expected));
    }

    #[test]
    fn a_list_as_an_item_gives_its_items_each_checked() {
        let items = json!([{"name": "a", "emptyDir": {}}, {"name": "b", "hostPath": {"path": 1}}]);
        assert_eq!(
            place(Output::Value(items.clone()), VOLUME, true),
            Err("[1].hostPath.path: expected a string, got the number 1".into())
        );
        let good = json!([{"name": "a", "emptyDir": {}}]);
        assert_eq!(
            place(Output::Value(good.clone()), VOLUME, true),
            Ok(Placed::Typed(Typed::Items(vec![good[0].clone()])))
        );
    }

    #[rstest]
    #[case::text_in_int(Output::Text("lots".into()), INT, "expected a 32-bit integer, got the string \"lots\"")]
    #[case::fraction(Output::Value(json!(1.5)), INT, "expected a 32-bit integer, got 1.5 (not an integer)")]
    #[case::object_in_string(Output::Value(json!({"a": 1})), Ty::String, "expected a string, got an object")]
    #[case::text_in_object(Output::Text("{}".into()), CONTAINER,
        "expected an object (Kubernetes Container), got the string \"{}\"; a template string gives an object or a list when it is one expression, such as {{ pod.metadata.annotations['x'] | fromjson }}")]
    #[case::wrong_field(Output::Value(json!({"name": "v", "hostPath": {"path": 1}})), VOLUME, ".hostPath.path: expected a string, got the number 1")]
    fn refuses(#[case] output: Output, #[case] ty: Ty, #[case] message: &str) {
        assert_eq!(place(output, ty, false), Err(message.to_string()));
    }

    #[test]
    fn named_list_sorts_by_key_and_names_each() {
        let value = minijinja::Value::from_serialize(
            json!({"b": {"emptyDir": {}}, "a": {"hostPath": {"path": "/x"}, "name": "ignored"}}),
        );
        let list = named_list(value).unwrap();
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!([{"name": "a", "hostPath": {"path": "/x"}}, {"name": "b", "emptyDir": {}}])
        );
        assert!(named_list(minijinja::Value::from(1)).is_err());
        assert!(
            named_list(minijinja::Value::UNDEFINED)
                .unwrap()
                .is_undefined()
        );
    }

    #[test]
    fn fromjson_parses_and_passes_nothing_through() {
        let parsed = from_json(minijinja::Value::from("{\"a\": [1, true]}")).unwrap();
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            json!({"a": [1, true]})
        );
        let error = from_json(minijinja::Value::from("{a")).unwrap_err();
        assert!(error.to_string().contains("is not JSON"), "{error}");
        assert!(from_json(minijinja::Value::from(())).unwrap().is_none());
    }
}
