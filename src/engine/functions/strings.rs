//! `regexp_extract(string, pattern[, group])`: Trino's first-match extraction (DataFusion only
//! has `regexp_match`, which returns a list).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::ScalarUDF;
use regex::Regex;

use super::{arity, int64s, is_integer, is_string, strings, LakeFn};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![LakeFn::udf("regexp_extract", &[], coerce, |_| Ok(DataType::Utf8), regexp_extract)]
}

fn coerce(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 3)?;
    if !is_string(&t[0]) || !is_string(&t[1]) || t.get(2).is_some_and(|g| !is_integer(g)) {
        return plan_err!("{name}(string, pattern[, group]) got {t:?}");
    }
    let mut v = vec![DataType::Utf8, DataType::Utf8];
    if t.len() == 3 {
        v.push(DataType::Int64);
    }
    Ok(v)
}

fn regexp_extract(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let p = strings(&args[1])?;
    let g = args.get(2).map(int64s).transpose()?;
    let mut cached: Option<(String, Regex)> = None;
    let mut out = StringBuilder::new();
    for i in 0..s.len() {
        if s.is_null(i) || p.is_null(i) || g.is_some_and(|g| g.is_null(i)) {
            out.append_null();
            continue;
        }
        let pat = p.value(i);
        if cached.as_ref().map(|(k, _)| k.as_str()) != Some(pat) {
            match Regex::new(pat) {
                Ok(r) => cached = Some((pat.to_string(), r)),
                Err(e) => return exec_err!("regexp_extract: invalid pattern '{pat}': {e}"),
            }
        }
        let Some((_, re)) = cached.as_ref() else { return exec_err!("regexp_extract: no pattern") };
        let group = g.map(|g| g.value(i)).unwrap_or(0);
        if group < 0 || group as usize >= re.captures_len() {
            return exec_err!("regexp_extract: pattern '{pat}' has no group {group}");
        }
        out.append_option(re.captures(s.value(i)).and_then(|c| c.get(group as usize)).map(|m| m.as_str()));
    }
    Ok(Arc::new(out.finish()))
}
