//! Types on the wire. Every Flight SQL client (JDBC, ADBC Go/C, Python, Grafana) must read what
//! we send, and ADBC rejects a stream whose schema differs from the one `GetFlightInfo`
//! advertised, even in nullability. So results travel as one fixed "wire" shape: view types
//! become their plain forms (older Java and Go readers do not know `Utf8View`), dictionaries are
//! sent as their values, schema metadata is dropped, and top-level columns are nullable. Maps,
//! structs and lists keep their shape.

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;

/// The schema results are advertised and streamed with.
pub(crate) fn wire_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<FieldRef> = schema.fields().iter().map(|f| Arc::new(wire_field(f).with_nullable(true))).collect();
    Arc::new(Schema::new(fields))
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
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(Arc::clone(c)) } else { cast(c, f.data_type()) })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)
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
        let schema = wire_schema(&batch.schema());
        let text = format!("{schema:?}");
        assert!(!text.contains("View"), "{text}");
        let wired = to_wire(&batch, &schema).expect("cast");
        assert_eq!(wired.schema(), schema);
        let shown = arrow::util::pretty::pretty_format_batches(&[wired]).expect("fmt").to_string();
        assert!(shown.contains("bucketName: logs") && shown.contains("alice"), "{shown}");
    }
}
