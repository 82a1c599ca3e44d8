//! The events ingest commits added, read back from the files they committed: what rules see is
//! what a query would see, events dropped as duplicates or by selectors included in neither.

use datafusion::arrow::array::{Array, AsArray};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;

use super::DetectError;
use crate::schema::event_text::{original, Referenced};
use crate::schema::EventSchema;
use crate::store::parquet::read_columns;

/// Calls `each` with the original text of every event in `files` (paths in `table`), file by
/// file. A file that is gone (removed by maintenance since it was committed) is skipped and
/// counted: its events were rewritten into other files no ingest commit names as new.
pub async fn for_each_event(
    table: &DeltaTable,
    schema: &EventSchema,
    files: &[ObjectPath],
    mut each: impl FnMut(&str) -> Result<(), DetectError>,
) -> Result<u64, DetectError> {
    let store = table.log_store().object_store(None);
    let mut columns = vec![crate::schema::EVENT_TEXT_COLUMN];
    columns.extend(schema.text_ref_columns().map(|(name, _)| name));
    let mut missing = 0;
    for path in files {
        let mut batches = match read_columns(&store, path, &columns).await {
            Ok(b) => b,
            Err(e) if is_not_found(&e) => {
                missing += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        while let Some(batch) = batches.try_next().await? {
            let Some(texts) = batch.column_by_name(crate::schema::EVENT_TEXT_COLUMN) else {
                return Err(DetectError::Internal(format!(
                    "{path} has no {} column",
                    crate::schema::EVENT_TEXT_COLUMN
                )));
            };
            let texts = texts.as_string::<i32>();
            let referenced = Referenced::of_batch(schema, &batch);
            for row in 0..batch.num_rows() {
                if texts.is_valid(row) {
                    each(&original(texts.value(row), row, &referenced)?)?;
                }
            }
        }
    }
    Ok(missing)
}

fn is_not_found(e: &datafusion::parquet::errors::ParquetError) -> bool {
    let text = e.to_string();
    text.contains("not found") || text.contains("NotFound") || text.contains("No such file")
}

/// The `eventID`s in `files` and their earliest and latest `eventTime` (microseconds): what
/// a detection over "the events of these commits" restricts itself to.
pub async fn ids_and_times(
    table: &DeltaTable,
    files: &[ObjectPath],
) -> Result<(std::collections::HashSet<String>, Option<(i64, i64)>), DetectError> {
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    let store = table.log_store().object_store(None);
    let (mut ids, mut range): (std::collections::HashSet<String>, Option<(i64, i64)>) = Default::default();
    for path in files {
        let mut batches = match read_columns(&store, path, &["eventid", "eventtime"]).await {
            Ok(b) => b,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        while let Some(batch) = batches.try_next().await? {
            let (Some(id), Some(time)) = (batch.column_by_name("eventid"), batch.column_by_name("eventtime")) else {
                return Err(DetectError::Internal(format!("{path} lacks eventid or eventtime")));
            };
            let (id, time) = (id.as_string::<i32>(), time.as_primitive::<TimestampMicrosecondType>());
            for row in 0..batch.num_rows() {
                if id.is_valid(row) {
                    ids.insert(id.value(row).to_string());
                }
                if time.is_valid(row) {
                    let t = time.value(row);
                    range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
                }
            }
        }
    }
    Ok((ids, range))
}
