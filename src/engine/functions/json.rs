//! Trino's JSON functions over JSON text: `json_extract`, `json_extract_scalar`, `json_parse`,
//! `json_format`, `json_array_get`, `json_array_length`, `json_array_contains`, `json_size`.
//!
//! Values are navigated as raw JSON so an extracted object keeps its keys in their original
//! order. Text that is not valid JSON yields NULL (one odd value must not fail an
//! investigation), except in `json_parse`, whose job is to validate and which fails as Trino's does.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanBuilder, Int64Builder, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, DataFusionError, Result};
use datafusion::logical_expr::ScalarUDF;
use serde_json::value::RawValue;

use super::{arity, int64s, is_integer, is_string, strings, LakeFn};
use crate::tape::compact_json;

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        LakeFn::udf("json_extract", &[], coerce_json_path, ret_utf8, json_extract),
        LakeFn::udf("json_extract_scalar", &[], coerce_json_path, ret_utf8, json_extract_scalar),
        LakeFn::udf("json_parse", &[], coerce_json, ret_utf8, json_parse),
        LakeFn::udf("json_format", &[], coerce_json, ret_utf8, json_format),
        LakeFn::udf("json_array_get", &[], coerce_json_index, ret_utf8, json_array_get),
        LakeFn::udf("json_array_length", &[], coerce_json, ret_int64, json_array_length),
        LakeFn::udf("json_array_contains", &[], coerce_json_value, ret_bool, json_array_contains),
        LakeFn::udf("json_size", &[], coerce_json_path, ret_int64, json_size),
        // Trino's casts of JSON, which `lake_sql` rewrites into these calls.
        LakeFn::udf(CAST_JSON_VARCHAR, &[], coerce_json, ret_utf8, cast_json_varchar),
        LakeFn::udf(CAST_JSON_MAP_JSON, &[], coerce_json, ret_map, cast_json_map_json),
        LakeFn::udf(CAST_JSON_MAP_VARCHAR, &[], coerce_json, ret_map, cast_json_map_varchar),
    ]
}

/// `CAST(json AS VARCHAR)`: a JSON string's content; a number or boolean as written; NULL for
/// JSON null; objects and arrays as compact JSON text (Trino refuses those; a value of an
/// unexpected shape must not fail an investigation).
pub(crate) const CAST_JSON_VARCHAR: &str = "__cast_json_varchar";
/// `CAST(json AS MAP(VARCHAR, JSON))`: an object's members, values as JSON text.
pub(crate) const CAST_JSON_MAP_JSON: &str = "__cast_json_map_json";
/// `CAST(json AS MAP(VARCHAR, VARCHAR))`: an object's members, values as `CAST_JSON_VARCHAR`.
pub(crate) const CAST_JSON_MAP_VARCHAR: &str = "__cast_json_map_varchar";

fn ret_map(_: &[DataType]) -> Result<DataType> {
    Ok(crate::schema::map_type())
}

/// The text `CAST(json AS VARCHAR)` gives for one JSON value.
fn json_as_varchar(raw: &str) -> Option<String> {
    let raw = raw.trim();
    match raw.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw).ok(),
        Some(b'n') if raw == "null" => None,
        Some(b'{' | b'[') => Some(compact_json(raw).into_owned()),
        Some(_) => Some(raw.to_string()),
        None => None,
    }
}

fn cast_json_varchar(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let mut out = StringBuilder::new();
    for i in 0..docs.len() {
        out.append_option((!docs.is_null(i)).then(|| json_as_varchar(docs.value(i))).flatten());
    }
    Ok(Arc::new(out.finish()))
}

fn cast_json_map_json(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    json_objects_as_maps(args, |v| Some(compact_json(v).into_owned()))
}

fn cast_json_map_varchar(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    json_objects_as_maps(args, json_as_varchar)
}

/// Each JSON object as a map of its members (`value` makes each member's value); NULL for
/// anything that is not an object.
fn json_objects_as_maps(args: &[ArrayRef], value: impl Fn(&str) -> Option<String>) -> Result<ArrayRef> {
    use arrow::array::{MapBuilder, MapFieldNames};
    let docs = strings(&args[0])?;
    let names = MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() };
    let mut out = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
        .with_values_field(arrow::datatypes::Field::new("value", DataType::Utf8, true));
    for i in 0..docs.len() {
        let members =
            (!docs.is_null(i)).then(|| serde_json::from_str::<members::Object<'_>>(docs.value(i)).ok()).flatten();
        match members {
            Some(members) => {
                for (k, v) in members.0 {
                    out.keys().append_value(k);
                    out.values().append_option(value(v.get()));
                }
                out.append(true)?;
            }
            None => out.append(false)?,
        }
    }
    Ok(Arc::new(out.finish()))
}

/// A JSON object's members in document order, values left as raw JSON.
mod members {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    pub(super) struct Object<'a>(pub(super) Vec<(std::borrow::Cow<'a, str>, &'a RawValue)>);

    impl<'de> Deserialize<'de> for Object<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Object<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some((k, v)) = m.next_entry::<std::borrow::Cow<'de, str>, &'de RawValue>()? {
                        out.push((k, v));
                    }
                    Ok(Object(out))
                }
            }
            d.deserialize_map(V)
        }
    }
}

fn coerce_json(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 1, 1)?;
    string_arg(name, &t[0])?;
    Ok(vec![DataType::Utf8])
}

fn coerce_json_path(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    string_arg(name, &t[0])?;
    string_arg(name, &t[1])?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

fn coerce_json_index(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    string_arg(name, &t[0])?;
    if !is_integer(&t[1]) {
        return plan_err!("{name}() takes an integer index, got {}", t[1]);
    }
    Ok(vec![DataType::Utf8, DataType::Int64])
}

fn coerce_json_value(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    string_arg(name, &t[0])?;
    // The value keeps its kind (string, number, boolean); compared by JSON value below.
    let v = match &t[1] {
        DataType::Boolean => DataType::Boolean,
        x if x.is_integer() => DataType::Int64,
        x if x.is_floating() || matches!(x, DataType::Decimal128(..)) => DataType::Float64,
        _ => DataType::Utf8,
    };
    Ok(vec![DataType::Utf8, v])
}

fn string_arg(name: &str, t: &DataType) -> Result<()> {
    if is_string(t) {
        Ok(())
    } else {
        plan_err!("{name}() takes JSON text (a string), got {t}")
    }
}

fn ret_utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}
fn ret_int64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}
fn ret_bool(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}

/// One step of a JSONPath: `.key`, `["key"]`, `['key']` or `[index]`.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses the JSONPath subset Trino's `json_extract` accepts.
fn parse_path(path: &str) -> Result<Vec<Step>> {
    let bad = |why: &str| DataFusionError::Execution(format!("invalid JSON path '{path}': {why}"));
    let p = path.trim();
    let mut rest = p.strip_prefix('$').ok_or_else(|| bad("it must start with '$'"))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() || key == "*" {
                return Err(bad("expected a key after '.' (wildcards are not supported)"));
            }
            steps.push(Step::Key(key.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad("unclosed '['"))?;
            let inner = r[..close].trim();
            if let Some(q) = inner.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let key = inner.strip_prefix(q).and_then(|s| s.strip_suffix(q)).ok_or_else(|| bad("unclosed quote"))?;
                steps.push(Step::Key(key.to_string()));
            } else {
                let i: usize = inner.parse().map_err(|_| bad("array index must be a non-negative integer"))?;
                steps.push(Step::Index(i));
            }
            rest = &r[close + 1..];
        } else {
            return Err(bad("expected '.' or '['"));
        }
    }
    Ok(steps)
}

/// The raw JSON value at `steps` inside `doc`, or None (missing, wrong shape, invalid JSON).
fn navigate<'a>(doc: &'a str, steps: &[Step]) -> Option<&'a RawValue> {
    let mut cur: &RawValue = serde_json::from_str(doc).ok()?;
    for step in steps {
        cur = match step {
            Step::Key(k) => {
                let obj: BTreeMap<String, &RawValue> = serde_json::from_str(cur.get()).ok()?;
                obj.get(k.as_str()).copied()?
            }
            Step::Index(i) => {
                let arr: Vec<&RawValue> = serde_json::from_str(cur.get()).ok()?;
                arr.get(*i).copied()?
            }
        };
    }
    Some(cur)
}

/// Applies `f` to each (json, path) pair, re-parsing the path only when it changes.
fn map_with_path<B, F>(args: &[ArrayRef], out: &mut B, mut f: F) -> Result<()>
where
    F: FnMut(&mut B, Option<&RawValue>),
    B: NullAppend,
{
    let docs = strings(&args[0])?;
    let paths = strings(&args[1])?;
    let mut cached: Option<(String, Vec<Step>)> = None;
    for i in 0..docs.len() {
        if docs.is_null(i) || paths.is_null(i) {
            out.null();
            continue;
        }
        let p = paths.value(i);
        if cached.as_ref().map(|(s, _)| s.as_str()) != Some(p) {
            cached = Some((p.to_string(), parse_path(p)?));
        }
        let steps = cached.as_ref().map(|(_, s)| s.as_slice()).unwrap_or(&[]);
        f(out, navigate(docs.value(i), steps));
    }
    Ok(())
}

trait NullAppend {
    fn null(&mut self);
}
impl NullAppend for StringBuilder {
    fn null(&mut self) {
        self.append_null()
    }
}
impl NullAppend for Int64Builder {
    fn null(&mut self) {
        self.append_null()
    }
}

fn json_extract(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut out = StringBuilder::new();
    map_with_path(args, &mut out, |out, v| match v {
        Some(v) => out.append_value(compact_json(v.get())),
        None => out.append_null(),
    })?;
    Ok(Arc::new(out.finish()))
}

/// The text of a JSON scalar as Trino's `json_extract_scalar` gives it: strings unquoted,
/// numbers and booleans as written; NULL for null, objects and arrays.
fn scalar_text(v: &RawValue) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(v.get()).ok()? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_extract_scalar(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut out = StringBuilder::new();
    map_with_path(args, &mut out, |out, v| out.append_option(v.and_then(scalar_text)))?;
    Ok(Arc::new(out.finish()))
}

fn json_size(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let mut out = Int64Builder::new();
    map_with_path(args, &mut out, |out, v| {
        let size = v.map(|v| match v.get().as_bytes().first() {
            Some(b'{') => serde_json::from_str::<BTreeMap<String, &RawValue>>(v.get()).map(|m| m.len()).unwrap_or(0),
            Some(b'[') => serde_json::from_str::<Vec<&RawValue>>(v.get()).map(|a| a.len()).unwrap_or(0),
            _ => 0,
        });
        out.append_option(size.map(|s| s as i64))
    })?;
    Ok(Arc::new(out.finish()))
}

fn json_parse(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let mut out = StringBuilder::new();
    for i in 0..docs.len() {
        if docs.is_null(i) {
            out.append_null();
            continue;
        }
        let text = docs.value(i);
        match serde_json::from_str::<&RawValue>(text) {
            Ok(v) => out.append_value(compact_json(v.get())),
            Err(e) => return exec_err!("json_parse: not valid JSON ({e}): {}", preview(text)),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn json_format(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let mut out = StringBuilder::new();
    for i in 0..docs.len() {
        let v = (!docs.is_null(i)).then(|| docs.value(i));
        out.append_option(v.and_then(|t| serde_json::from_str::<&RawValue>(t).ok()).map(|v| compact_json(v.get())));
    }
    Ok(Arc::new(out.finish()))
}

fn preview(s: &str) -> String {
    let cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn elements(doc: &str) -> Option<Vec<&RawValue>> {
    serde_json::from_str(doc).ok()
}

fn json_array_get(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let idx = int64s(&args[1])?;
    let mut out = StringBuilder::new();
    for i in 0..docs.len() {
        if docs.is_null(i) || idx.is_null(i) {
            out.append_null();
            continue;
        }
        let v = elements(docs.value(i)).and_then(|arr| {
            let n = arr.len() as i64;
            let k = idx.value(i);
            let at = if k < 0 { n + k } else { k };
            (0..n).contains(&at).then(|| compact_json(arr[at as usize].get()).into_owned())
        });
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

fn json_array_length(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let mut out = Int64Builder::new();
    for i in 0..docs.len() {
        let v = (!docs.is_null(i)).then(|| docs.value(i));
        out.append_option(v.and_then(elements).map(|a| a.len() as i64));
    }
    Ok(Arc::new(out.finish()))
}

fn json_array_contains(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    use arrow::array::{BooleanArray, Float64Array, Int64Array};
    let docs = strings(&args[0])?;
    let needle = &args[1];
    let mut out = BooleanBuilder::new();
    for i in 0..docs.len() {
        if docs.is_null(i) || needle.is_null(i) {
            out.append_null();
            continue;
        }
        let Some(arr) = elements(docs.value(i)) else {
            out.append_null();
            continue;
        };
        let want: serde_json::Value = if let Some(s) = needle.as_any().downcast_ref::<arrow::array::StringArray>() {
            s.value(i).into()
        } else if let Some(n) = needle.as_any().downcast_ref::<Int64Array>() {
            n.value(i).into()
        } else if let Some(n) = needle.as_any().downcast_ref::<Float64Array>() {
            n.value(i).into()
        } else if let Some(b) = needle.as_any().downcast_ref::<BooleanArray>() {
            b.value(i).into()
        } else {
            return exec_err!("json_array_contains: unsupported value type {}", needle.data_type());
        };
        let found = arr.iter().any(|e| match serde_json::from_str::<serde_json::Value>(e.get()) {
            Ok(serde_json::Value::Number(n)) => match &want {
                serde_json::Value::Number(w) => n.as_f64() == w.as_f64(),
                _ => false,
            },
            Ok(v) => v == want,
            Err(_) => false,
        });
        out.append_value(found);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("$").expect("root"), vec![]);
        assert_eq!(
            parse_path("$.items[0].imageId").expect("path"),
            vec![Step::Key("items".into()), Step::Index(0), Step::Key("imageId".into())]
        );
        assert_eq!(parse_path("$[\"a b\"]['c']").expect("path"), vec![Step::Key("a b".into()), Step::Key("c".into())]);
        assert!(parse_path("items").is_err());
        assert!(parse_path("$.a[*]").is_err());
    }

    #[test]
    fn navigation_keeps_original_text() {
        let doc = r#"{"z": 1, "a": {"y": [10, {"k": "v"}], "b": true}}"#;
        let steps = parse_path("$.a").expect("path");
        assert_eq!(compact_json(navigate(doc, &steps).expect("found").get()), r#"{"y":[10,{"k":"v"}],"b":true}"#);
        let steps = parse_path("$.a.y[1].k").expect("path");
        assert_eq!(scalar_text(navigate(doc, &steps).expect("found")).as_deref(), Some("v"));
        assert!(navigate(doc, &parse_path("$.a.y[5]").expect("path")).is_none());
        assert!(navigate("not json", &[]).is_none());
    }
}
