//! Result printers, generic over `io::Write` so every format is unit-testable.
//! Timestamps print as CloudTrail Lake prints them (`2023-01-22 16:53:53.000`).
//!
//! `Sink` writes batches as they arrive, so CSV, JSON, NDJSON and Parquet results of any size
//! stream through without being held in memory. A table needs every row to size its columns,
//! so table output is for results a person reads (use another format for millions of rows).

mod listing;
mod run;
pub mod signed;

use std::io::Write;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::ValueEnum;
use std::sync::Arc;

pub use listing::Listing;
pub use run::{run, Ran, RunOptions, Screen};

/// How Lake renders timestamps.
pub const LAKE_TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet (to a file with -o).
    Parquet,
}

pub fn format_options() -> FormatOptions<'static> {
    FormatOptions::default()
        .with_null("")
        .with_timestamp_format(Some(LAKE_TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(LAKE_TIMESTAMP_FORMAT))
}

pub fn is_nested(dt: &DataType) -> bool {
    matches!(dt, DataType::Struct(_) | DataType::Map(..) | DataType::List(_) | DataType::LargeList(_))
}

/// Nested columns rendered as JSON text (for CSV and tables), other columns unchanged.
pub fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| is_nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_nested(f.data_type()) {
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(json_text(c)?);
        } else {
            fields.push(f.as_ref().clone());
            cols.push(Arc::clone(c));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

/// Each value of a nested column as a JSON document.
pub fn json_text(col: &ArrayRef) -> Result<ArrayRef, ArrowError> {
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

/// For reading at a terminal: nested values as JSON, then every text value cut to `max_chars`
/// (with `…`) and its line breaks and tabs shown as `\n` and `\t`, so one row stays one line.
pub fn for_display(batch: &RecordBatch, max_chars: usize) -> Result<RecordBatch, ArrowError> {
    let batch = nested_as_json(batch)?;
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut fields = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let text = match c.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let c = arrow::compute::cast(c, &DataType::Utf8)?;
                Some(c)
            }
            _ => None,
        };
        match text {
            Some(c) => {
                let s = c
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .ok_or_else(|| ArrowError::CastError(format!("column {} did not cast to text", f.name())))?;
                let shown: arrow::array::StringArray = s.iter().map(|v| v.map(|v| shorten(v, max_chars))).collect();
                fields.push(Field::new(f.name(), DataType::Utf8, true));
                cols.push(Arc::new(shown));
            }
            None => {
                fields.push(f.as_ref().clone());
                cols.push(Arc::clone(c));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

fn shorten(v: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(v.len().min(max_chars * 4));
    for (n, ch) in v.chars().enumerate() {
        if n + 1 >= max_chars && v.chars().nth(n + 1).is_some() {
            out.push('…');
            break;
        }
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// A result being written in one format.
pub enum Sink<W: Write + Send> {
    Table { out: W, batches: Vec<RecordBatch> },
    Csv { writer: arrow::csv::Writer<W>, schema: arrow::datatypes::SchemaRef, wrote: bool },
    Json { writer: arrow::json::ArrayWriter<W>, rows: usize },
    Ndjson(arrow::json::LineDelimitedWriter<W>),
    Parquet(datafusion::parquet::arrow::ArrowWriter<W>),
}

impl<W: Write + Send> Sink<W> {
    pub fn new(format: Format, out: W, schema: &arrow::datatypes::SchemaRef) -> Result<Self, ArrowError> {
        Ok(match format {
            Format::Table => Sink::Table { out, batches: Vec::new() },
            Format::Csv => Sink::Csv {
                writer: arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_format(LAKE_TIMESTAMP_FORMAT.to_string())
                    .with_timestamp_tz_format(LAKE_TIMESTAMP_FORMAT.to_string())
                    .build(out),
                schema: Arc::clone(schema),
                wrote: false,
            },
            Format::Json => Sink::Json { writer: arrow::json::ArrayWriter::new(out), rows: 0 },
            Format::Ndjson => Sink::Ndjson(arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => {
                let props = datafusion::parquet::file::properties::WriterProperties::builder()
                    .set_compression(datafusion::parquet::basic::Compression::ZSTD(Default::default()))
                    .build();
                Sink::Parquet(
                    datafusion::parquet::arrow::ArrowWriter::try_new(out, Arc::clone(schema), Some(props))
                        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
                )
            }
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        match self {
            Sink::Table { batches, .. } => batches.push(nested_as_json(batch)?),
            Sink::Csv { writer, wrote, .. } => {
                writer.write(&nested_as_json(batch)?)?;
                *wrote = true;
            }
            Sink::Json { writer, rows } => {
                if batch.num_rows() > 0 {
                    writer.write(&lake_timestamps(batch)?)?;
                    *rows += batch.num_rows();
                }
            }
            Sink::Ndjson(w) => w.write(&lake_timestamps(batch)?)?,
            Sink::Parquet(w) => w.write(batch).map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
        }
        Ok(())
    }

    /// Completes the output; `footer` is printed under a table.
    pub fn finish(self, footer: Option<&str>) -> Result<W, ArrowError> {
        Ok(match self {
            Sink::Table { mut out, batches } => {
                let table = arrow::util::pretty::pretty_format_batches_with_options(&batches, &format_options())?;
                writeln!(out, "{table}")?;
                if let Some(f) = footer {
                    writeln!(out, "{f}")?;
                }
                out
            }
            Sink::Csv { mut writer, schema, wrote } => {
                if !wrote {
                    // No rows still gets the header line.
                    writer.write(&nested_as_json(&RecordBatch::new_empty(schema))?)?;
                }
                writer.into_inner()
            }
            Sink::Json { mut writer, rows } => {
                if rows == 0 {
                    // JSON consumers expect an empty array, whatever the writer does with no rows.
                    let mut out = writer.into_inner();
                    out.write_all(b"[]\n")?;
                    out
                } else {
                    writer.finish()?;
                    let mut out = writer.into_inner();
                    writeln!(out)?;
                    out
                }
            }
            Sink::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            Sink::Parquet(w) => w.into_inner().map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
        })
    }
}

/// Writes complete batches in one format (tests and small results).
pub fn write_batches<W: Write + Send>(out: W, format: Format, batches: &[RecordBatch]) -> Result<W, ArrowError> {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => Arc::new(Schema::empty()),
    };
    let mut sink = Sink::new(format, out, &schema)?;
    for b in batches {
        sink.write(b)?;
    }
    sink.finish(None)
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
        let v = write_batches(Vec::new(), f, b).expect("write");
        String::from_utf8(v).expect("utf8")
    }

    #[test]
    fn display_cuts_long_text_and_keeps_rows_on_one_line() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abcd", 4), "abcd");
        assert_eq!(shorten("a\nb", 10), "a\\nb");
        let b = for_display(&sample(), 2).expect("display");
        assert_eq!(b.column(2).as_any().downcast_ref::<StringArray>().expect("text").value(0), "a…");
        assert_eq!(b.column(1).data_type(), &DataType::Int64);
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
        assert_eq!(
            render(Format::Ndjson, &[sample(), sample()]),
            "{\"eventtime\":\"2023-01-22 16:53:53.000\",\"n\":42,\"s\":\"a,b\"}\n".repeat(2)
        );
        let pq = write_batches(Vec::new(), Format::Parquet, &[sample()]).expect("parquet");
        let reader =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes::Bytes::from(pq), 1024)
                .expect("reader");
        let back: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("read back");
        assert_eq!(back, vec![sample()]);
    }
}
