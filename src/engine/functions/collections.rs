//! `element_at` and `contains` with Trino semantics, over maps, arrays and strings.
//!
//! DataFusion's `element_at` is `map_extract` (a list for maps, an error for arrays) and its
//! `contains` only knows strings; Lake queries use `element_at(requestParameters, 'bucketName')`,
//! `element_at(resources, 1).arn` and `contains(array, value)`.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, GenericListArray, MapArray,
    OffsetSizeTrait, StringArray, UInt32Builder,
};
use arrow::compute::{cast, kernels::cmp};
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::ScalarUDF;

use super::{arity, int64s, is_string, LakeFn};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        LakeFn::udf("element_at", &[], coerce_element_at, ret_element_at, element_at),
        LakeFn::udf("contains", &[], coerce_contains, ret_bool, contains),
    ]
}

fn element_type(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f.data_type()),
        _ => None,
    }
}

fn map_types(t: &DataType) -> Option<(&DataType, &DataType)> {
    match t {
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(f) if f.len() == 2 => Some((f[0].data_type(), f[1].data_type())),
            _ => None,
        },
        _ => None,
    }
}

fn coerce_element_at(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    match &t[0] {
        DataType::Map(..) => {
            let (k, _) = map_types(&t[0]).ok_or_else(|| datafusion::error::DataFusionError::Plan("bad map".into()))?;
            let key = if is_string(k) { DataType::Utf8 } else { k.clone() };
            Ok(vec![t[0].clone(), key])
        }
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            if !super::is_integer(&t[1]) {
                return plan_err!("element_at(array, index) takes an integer index, got {}", t[1]);
            }
            // One list layout for the kernel below.
            Ok(vec![DataType::LargeList(Arc::clone(f)), DataType::Int64])
        }
        DataType::Null => Ok(vec![DataType::Null, t[1].clone()]),
        other => plan_err!("element_at() takes a map or an array, got {other}"),
    }
}

fn ret_element_at(t: &[DataType]) -> Result<DataType> {
    if let Some((_, v)) = map_types(&t[0]) {
        return Ok(v.clone());
    }
    match element_type(&t[0]) {
        Some(e) => Ok(e.clone()),
        None => Ok(DataType::Null),
    }
}

fn element_at(args: &[ArrayRef], ret: &DataType) -> Result<ArrayRef> {
    let (container, key) = (&args[0], &args[1]);
    match container.data_type() {
        DataType::Map(..) => map_lookup(container.as_map(), key),
        DataType::LargeList(_) => list_element(container.as_list::<i64>(), key),
        DataType::Null => Ok(new_null_array(ret, container.len())),
        other => exec_err!("element_at() takes a map or an array, got {other}"),
    }
}

/// The value under `key` in each map, or NULL when the key is absent.
fn map_lookup(map: &MapArray, key: &ArrayRef) -> Result<ArrayRef> {
    let keys = map.keys();
    let offsets = map.value_offsets();
    let mut idx = UInt32Builder::with_capacity(map.len());
    if is_string(keys.data_type()) {
        let keys = cast(keys, &DataType::Utf8)?;
        let keys = keys.as_string::<i32>();
        let wanted: &StringArray = key.as_string::<i32>();
        for row in 0..map.len() {
            if map.is_null(row) || wanted.is_null(row) {
                idx.append_null();
                continue;
            }
            let w = wanted.value(row);
            let (s, e) = (offsets[row] as usize, offsets[row + 1] as usize);
            match (s..e).find(|&j| keys.is_valid(j) && keys.value(j) == w) {
                Some(j) => idx.append_value(j as u32),
                None => idx.append_null(),
            }
        }
    } else {
        for row in 0..map.len() {
            if map.is_null(row) || key.is_null(row) {
                idx.append_null();
                continue;
            }
            let (s, e) = (offsets[row] as usize, offsets[row + 1] as usize);
            let one = key.slice(row, 1);
            let hit = cmp::eq(&keys.slice(s, e - s), &arrow::array::Scalar::new(one))?;
            match hit.iter().position(|b| b == Some(true)) {
                Some(j) => idx.append_value((s + j) as u32),
                None => idx.append_null(),
            }
        }
    }
    Ok(arrow::compute::take(map.values().as_ref(), &idx.finish(), None)?)
}

/// The element at a 1-based index (negative counts from the end); NULL outside the array.
fn list_element<O: OffsetSizeTrait>(list: &GenericListArray<O>, index: &ArrayRef) -> Result<ArrayRef> {
    let index = int64s(index)?;
    let offsets = list.value_offsets();
    let mut idx = UInt32Builder::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) || index.is_null(row) {
            idx.append_null();
            continue;
        }
        let (s, e) = (offsets[row].as_usize(), offsets[row + 1].as_usize());
        let n = (e - s) as i64;
        let k = index.value(row);
        if k == 0 {
            return exec_err!("element_at: SQL array indices start at 1");
        }
        let at = if k > 0 { k - 1 } else { n + k };
        if (0..n).contains(&at) {
            idx.append_value((s as i64 + at) as u32);
        } else {
            idx.append_null();
        }
    }
    Ok(arrow::compute::take(list.values().as_ref(), &idx.finish(), None)?)
}

fn coerce_contains(name: &str, t: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, t, 2, 2)?;
    match element_type(&t[0]) {
        Some(e) => {
            Ok(vec![DataType::LargeList(Arc::new(arrow::datatypes::Field::new("item", e.clone(), true))), e.clone()])
        }
        None if is_string(&t[0]) => Ok(vec![DataType::Utf8, DataType::Utf8]),
        None => plan_err!("contains() takes an array or a string, got {}", t[0]),
    }
}

fn ret_bool(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}

fn contains(args: &[ArrayRef], _: &DataType) -> Result<ArrayRef> {
    let (hay, needle) = (&args[0], &args[1]);
    match hay.data_type() {
        DataType::LargeList(_) => array_contains(hay.as_list::<i64>(), needle),
        _ => {
            let h = hay.as_string::<i32>();
            let n = needle.as_string::<i32>();
            let out: BooleanArray = h.iter().zip(n.iter()).map(|(h, n)| Some(h?.contains(n?))).collect();
            Ok(Arc::new(out))
        }
    }
}

/// Trino: true if found; otherwise NULL when the array holds a NULL; otherwise false.
fn array_contains(list: &GenericListArray<i64>, needle: &ArrayRef) -> Result<ArrayRef> {
    let offsets = list.value_offsets();
    let first = offsets[0] as usize;
    let (values, parents) = super::flatten(list);
    let wanted = arrow::compute::take(needle.as_ref(), &parents, None)?;
    let hits = cmp::eq(&values, &wanted)?;
    let mut out = BooleanBuilder::with_capacity(list.len());
    for row in 0..list.len() {
        if list.is_null(row) || needle.is_null(row) {
            out.append_null();
            continue;
        }
        let (s, e) = (offsets[row] as usize - first, offsets[row + 1] as usize - first);
        let found = (s..e).any(|j| hits.is_valid(j) && hits.value(j));
        let has_null = (s..e).any(|j| values.is_null(j));
        if found {
            out.append_value(true);
        } else if has_null {
            out.append_null();
        } else {
            out.append_value(false);
        }
    }
    Ok(Arc::new(out.finish()))
}
