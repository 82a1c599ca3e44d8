//! The scan's expression that gives the stored event text back whole: `eventjson` as stored
//! refers to values that other columns of the row hold (`schema::event_text`); this function
//! takes the stored text and those columns and returns the original text. It is built by the
//! scan only, never registered under a name users can call.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringViewBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{exec_datafusion_err, exec_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

use crate::schema::event_text::{has_references, restore, Referenced};

/// `restore(stored_text, referenced columns…)`: the original event text, as a string view.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RestoreEventText {
    /// Reference code of each argument after the stored text.
    codes: Vec<u8>,
    signature: Signature,
}

/// The function for arguments `(eventjson, columns of codes…)`.
pub(super) fn restore_udf(codes: Vec<u8>) -> ScalarUDF {
    ScalarUDF::new_from_impl(RestoreEventText { codes, signature: Signature::variadic_any(Volatility::Immutable) })
}

impl ScalarUDFImpl for RestoreEventText {
    fn name(&self) -> &str {
        "traillake_event_text"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some((stored, columns)) = arrays.split_first() else {
            return exec_err!("traillake_event_text needs the stored text");
        };
        if columns.len() != self.codes.len() {
            return exec_err!("traillake_event_text: {} columns for {} codes", columns.len(), self.codes.len());
        }
        Ok(ColumnarValue::Array(restore_all(stored, &self.codes, columns)?))
    }
}

/// The original text of every row of `stored`.
fn restore_all(stored: &ArrayRef, codes: &[u8], columns: &[ArrayRef]) -> Result<ArrayRef> {
    let mut referenced = Referenced::default();
    for (code, c) in codes.iter().zip(columns) {
        referenced.add(*code, c.as_ref());
    }
    let stored = arrow::compute::cast(stored, &DataType::Utf8View)?;
    let stored = stored.as_any().downcast_ref::<arrow::array::StringViewArray>().ok_or_else(|| {
        exec_datafusion_err!("traillake_event_text: stored text is {}, not a string", stored.data_type())
    })?;
    // Text without references (stores from older versions) passes through without a copy.
    if !stored.iter().flatten().any(has_references) {
        return Ok(Arc::new(stored.clone()));
    }
    let mut out = StringViewBuilder::with_capacity(stored.len());
    let mut text = String::new();
    for row in 0..stored.len() {
        if stored.is_null(row) {
            out.append_null();
            continue;
        }
        let s = stored.value(row);
        if !has_references(s) {
            out.append_value(s);
            continue;
        }
        text.clear();
        restore(s, row, &referenced, &mut text).map_err(|e| exec_datafusion_err!("{e}"))?;
        out.append_value(&text);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, StringArray};

    #[test]
    fn restores_rows_with_references_and_passes_the_others_through() {
        let stored: ArrayRef = Arc::new(StringArray::from(vec![
            Some("{\"eventID\":\u{1}e\"\u{2},\"x\":1}"),
            Some("{\"eventID\":\"kept-in-the-text\"}"),
            None,
        ]));
        let ids: ArrayRef = Arc::new(StringArray::from(vec![Some("11111111-2222-4333-8444-555555555555"), None, None]));
        let out = restore_all(&stored, b"e", &[Arc::clone(&ids)]).expect("restore");
        let out = out.as_string_view();
        assert_eq!(out.value(0), "{\"eventID\":\"11111111-2222-4333-8444-555555555555\",\"x\":1}");
        assert_eq!(out.value(1), "{\"eventID\":\"kept-in-the-text\"}");
        assert!(out.is_null(2));
        // A reference the row cannot resolve is an error, never a wrong text.
        let err = restore_all(&stored, b"r", &[ids]).expect_err("unknown column");
        assert!(err.to_string().contains("refers to column `e`"), "{err}");
    }
}
