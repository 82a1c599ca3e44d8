//! Types on the wire. Every Flight SQL client (JDBC, ADBC Go/C, Python, Grafana) must read what
//! we send, and ADBC rejects a stream whose schema differs from the one `GetFlightInfo`
//! advertised, even in nullability. So results travel as one fixed "wire" shape: view types
//! become their plain forms (older Java and Go readers do not know `Utf8View`), dictionaries are
//! sent as their values, schema metadata is dropped, and top-level columns are nullable. Maps,
//! structs and lists keep their shape.
//!
//! Grafana's Flight SQL data source reads only strings, int64, uint32, float64, booleans and
//! timestamps (as nanoseconds, whatever unit the column has) and leaves every other column
//! empty. `Compat::Grafana` (`serve --compat grafana`) sends only those: integers widened to
//! int64, floats and decimals as float64, dates and timestamps as nanosecond timestamps, nested
//! values as their JSON text and anything else as its text. It is a flag, not the default,
//! because it takes the nested shape away from clients that read it (ADBC, JDBC, pandas).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::util::display::ArrayFormatter;

use crate::output;

/// Which readers the wire shape must suit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compat {
    /// Every Arrow reader: nested columns keep their shape.
    #[default]
    Standard,
    /// Grafana's Flight SQL data source: only the types it reads.
    Grafana,
}

/// The schema results are advertised and streamed with.
pub(crate) fn wire_schema(schema: &Schema, compat: Compat) -> SchemaRef {
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let field = match compat {
                Compat::Standard => wire_field(f),
                Compat::Grafana => Field::new(f.name(), grafana_type(f.data_type()), true),
            };
            Arc::new(field.with_nullable(true))
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The type Grafana reads a column of type `t` as.
fn grafana_type(t: &DataType) -> DataType {
    match t {
        DataType::Boolean => DataType::Boolean,
        DataType::Int64 => DataType::Int64,
        t if t.is_integer() => DataType::Int64,
        t if t.is_floating() => DataType::Float64,
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            DataType::Float64
        }
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Nanosecond, tz.clone()),
        DataType::Date32 | DataType::Date64 => DataType::Timestamp(TimeUnit::Nanosecond, None),
        DataType::Dictionary(_, value) => grafana_type(value),
        _ => DataType::Utf8,
    }
}

fn wire_field(f: &Field) -> Field {
    Field::new(f.name(), wire_type(f.data_type()), f.is_nullable())
}

fn wire_type(t: &DataType) -> DataType {
    let inner = |f: &FieldRef| Arc::new(wire_field(f));
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::Dictionary(_, value) => wire_type(value),
        DataType::List(f) | DataType::ListView(f) => DataType::List(inner(f)),
        DataType::LargeList(f) | DataType::LargeListView(f) => DataType::LargeList(inner(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(inner(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(inner).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(inner(f), *sorted),
        other => other.clone(),
    }
}

/// Brings a result batch into the wire schema (casting only the columns whose type differs).
pub(crate) fn to_wire(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.num_columns() != schema.fields().len() {
        return Err(ArrowError::SchemaError(format!(
            "result has {} columns, the advertised schema {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| wire_column(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)
}

/// `c` as a column of type `to`: nested values become JSON text, values no cast turns into text
/// (binary) their displayed form, everything else is cast.
fn wire_column(c: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if c.data_type() == to {
        return Ok(Arc::clone(c));
    }
    if *to == DataType::Utf8 {
        if output::is_nested(c.data_type()) {
            return output::json_text(c);
        }
        if !can_cast_types(c.data_type(), to)
            || matches!(
                c.data_type(),
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)
            )
        {
            let formatter = ArrayFormatter::try_new(c.as_ref(), &output::format_options())?;
            let text: StringArray =
                (0..c.len()).map(|i| c.is_valid(i).then(|| formatter.value(i).to_string())).collect();
            return Ok(Arc::new(text));
        }
    }
    cast(c, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, MapBuilder, StringViewBuilder, StructArray};

    #[test]
    fn view_types_become_plain_inside_maps_and_structs() {
        let mut map = MapBuilder::new(None, StringViewBuilder::new(), StringViewBuilder::new());
        map.keys().append_value("bucketName");
        map.values().append_value("logs");
        map.append(true).expect("map row");
        let map = Arc::new(map.finish());
        let name = Arc::new(arrow::array::StringViewArray::from(vec!["alice"]));
        let identity = StructArray::from(vec![(
            Arc::new(Field::new("username", DataType::Utf8View, true)),
            name as Arc<dyn Array>,
        )]);
        let batch = RecordBatch::try_from_iter(vec![
            ("requestparameters", map as Arc<dyn Array>),
            ("useridentity", Arc::new(identity) as Arc<dyn Array>),
        ])
        .expect("batch");
        let schema = wire_schema(&batch.schema(), Compat::Standard);
        let text = format!("{schema:?}");
        assert!(!text.contains("View"), "{text}");
        let wired = to_wire(&batch, &schema).expect("cast");
        assert_eq!(wired.schema(), schema);
        let shown = arrow::util::pretty::pretty_format_batches(&[wired]).expect("fmt").to_string();
        assert!(shown.contains("bucketName: logs") && shown.contains("alice"), "{shown}");
    }

    /// Every column a Lake query can give reaches Grafana as one of the types it reads, with
    /// its values: integers of every width, unsigned counts, dates, timestamps in any unit,
    /// decimals, nested values and bytes.
    #[test]
    fn grafana_gets_only_the_types_it_reads_with_every_value() {
        use arrow::array::{
            BinaryArray, Date32Array, Decimal128Array, Int32Array, ListArray, TimestampMicrosecondArray, UInt64Array,
        };
        use arrow::datatypes::Int32Type;
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), None]);
        let batch = RecordBatch::try_from_iter(vec![
            ("part", Arc::new(Int32Array::from(vec![Some(7), None])) as ArrayRef),
            ("distinct", Arc::new(UInt64Array::from(vec![3, 4])) as ArrayRef),
            ("day", Arc::new(Date32Array::from(vec![20_404, 20_405])) as ArrayRef),
            (
                "t",
                Arc::new(TimestampMicrosecondArray::from(vec![1_762_761_600_000_000, 0]).with_timezone("UTC"))
                    as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Decimal128Array::from(vec![1234, 5]).with_precision_and_scale(10, 2).expect("decimal"))
                    as ArrayRef,
            ),
            ("ids", Arc::new(list) as ArrayRef),
            ("raw", Arc::new(BinaryArray::from(vec![&b"\xff\x00"[..], b"ok"])) as ArrayRef),
        ])
        .expect("batch");
        let schema = wire_schema(&batch.schema(), Compat::Grafana);
        let readable = |t: &DataType| {
            matches!(
                t,
                DataType::Utf8
                    | DataType::Int64
                    | DataType::UInt32
                    | DataType::Float64
                    | DataType::Boolean
                    | DataType::Timestamp(TimeUnit::Nanosecond, _)
            )
        };
        assert!(schema.fields().iter().all(|f| readable(f.data_type())), "{schema:?}");
        let wired = to_wire(&batch, &schema).expect("to wire");
        assert_eq!(wired.schema(), schema);
        let shown = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&wired)).expect("fmt").to_string();
        for v in ["7", "3", "2025-11-12T00:00:00", "2025-11-10T08:00:00", "12.34", "[1,2]", "ff00", "6f6b"] {
            assert!(shown.contains(v), "{v} in\n{shown}");
        }
        assert!(wired.column(0).is_null(1) && wired.column(5).is_null(1), "nulls stay null");
        // The standard shape keeps what every other client reads.
        let standard = wire_schema(&batch.schema(), Compat::Standard);
        assert_eq!(standard.field(0).data_type(), &DataType::Int32);
        assert!(matches!(standard.field(5).data_type(), DataType::List(_)));
    }
}
