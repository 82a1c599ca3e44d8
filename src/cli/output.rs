//! Result printers, generic over `io::Write` so every format is unit-testable.
//! Timestamps print as CloudTrail Lake prints them (`2023-01-22 16:53:53.000`).

use std::io::{self, Write};

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::ValueEnum;
use std::sync::Arc;

/// How Lake renders timestamps.
pub const LAKE_TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Csv,
    Json,
}

fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_null("")
        .with_timestamp_format(Some(LAKE_TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(LAKE_TIMESTAMP_FORMAT))
}

fn is_nested(dt: &DataType) -> bool {
    matches!(dt, DataType::Struct(_) | DataType::Map(..) | DataType::List(_) | DataType::LargeList(_))
}

/// Nested columns rendered as JSON text (for CSV and tables), other columns unchanged.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| is_nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_nested(f.data_type()) {
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(json_column(c)?);
        } else {
            fields.push(f.as_ref().clone());
            cols.push(Arc::clone(c));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

/// Each value of a nested column as a JSON document.
fn json_column(col: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let field = Field::new("v", col.data_type().clone(), true);
    let one = RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![Arc::clone(col)])?;
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
        w.write(&one)?;
        w.finish()?;
    }
    let mut out = StringBuilder::new();
    for (i, line) in buf.split(|&b| b == b'\n').take(col.len()).enumerate() {
        if col.is_null(i) {
            out.append_null();
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| ArrowError::JsonError(e.to_string()))?;
        match v.get("v") {
            Some(inner) => out.append_value(inner.to_string()),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Writes batches as a table, CSV or one JSON array of objects.
pub fn write_batches<W: Write>(out: &mut W, format: Format, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    match format {
        Format::Table => {
            let shown: Vec<RecordBatch> = batches.iter().map(nested_as_json).collect::<Result<_, _>>()?;
            let table = arrow::util::pretty::pretty_format_batches_with_options(&shown, &format_options())?;
            writeln!(out, "{table}")?;
        }
        Format::Csv => {
            let mut header = true;
            for b in batches {
                let b = nested_as_json(b)?;
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(header)
                    .with_timestamp_format(LAKE_TIMESTAMP_FORMAT.to_string())
                    .with_timestamp_tz_format(LAKE_TIMESTAMP_FORMAT.to_string())
                    .build(&mut *out);
                w.write(&b)?;
                header = false;
            }
        }
        Format::Json => {
            if batches.iter().all(|b| b.num_rows() == 0) {
                // JSON consumers expect an empty array, whatever the writer does with no rows.
                out.write_all(b"[]")?;
            } else {
                let mut w = arrow::json::ArrayWriter::new(&mut *out);
                for b in batches.iter().filter(|b| b.num_rows() > 0) {
                    w.write(&lake_timestamps(b)?)?;
                }
                w.finish()?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Top-level timestamp columns as Lake-formatted strings (JSON has no timestamp type).
fn lake_timestamps(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| matches!(f.data_type(), DataType::Timestamp(..))) {
        return Ok(batch.clone());
    }
    let opts = format_options();
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if matches!(f.data_type(), DataType::Timestamp(..)) {
            let fmt = ArrayFormatter::try_new(c.as_ref(), &opts)?;
            let mut b = StringBuilder::new();
            for i in 0..c.len() {
                if c.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(fmt.value(i).to_string());
                }
            }
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(Arc::new(b.finish()));
        } else {
            fields.push(f.as_ref().clone());
            cols.push(Arc::clone(c));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

/// "N rows · elapsed" footer of table output.
pub fn footer(rows: usize, elapsed: std::time::Duration) -> String {
    let unit = if rows == 1 { "row" } else { "rows" };
    format!("{rows} {unit} · {:.3}s", elapsed.as_secs_f64())
}

impl From<ArrowError> for super::CliError {
    fn from(e: ArrowError) -> Self {
        match e {
            ArrowError::IoError(m, io) => super::CliError::Io(io::Error::new(io.kind(), m)),
            other => super::CliError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};

    fn sample() -> RecordBatch {
        let ts = TimestampMicrosecondArray::from(vec![1_674_406_433_000_000]).with_timezone("UTC");
        RecordBatch::try_from_iter(vec![
            ("eventtime", Arc::new(ts) as ArrayRef),
            ("n", Arc::new(Int64Array::from(vec![42])) as ArrayRef),
            ("s", Arc::new(StringArray::from(vec!["a,b"])) as ArrayRef),
        ])
        .expect("batch")
    }

    fn render(f: Format, b: &[RecordBatch]) -> String {
        let mut v = Vec::new();
        write_batches(&mut v, f, b).expect("write");
        String::from_utf8(v).expect("utf8")
    }

    #[test]
    fn formats() {
        let b = sample();
        assert!(render(Format::Table, std::slice::from_ref(&b)).contains("2023-01-22 16:53:53.000"));
        assert_eq!(
            render(Format::Csv, std::slice::from_ref(&b)),
            "eventtime,n,s\n2023-01-22 16:53:53.000,42,\"a,b\"\n"
        );
        let j: serde_json::Value = serde_json::from_str(&render(Format::Json, &[b])).expect("json");
        assert_eq!(j, serde_json::json!([{"eventtime": "2023-01-22 16:53:53.000", "n": 42, "s": "a,b"}]));
        let empty = sample().slice(0, 0);
        assert_eq!(render(Format::Json, &[empty]).trim(), "[]");
    }
}
