//! Encoding one day: its rows gathered in `eventtime` order, a chunk at a time, into Parquet
//! files of its partition (the writer settings are the store's, `store::parquet`). Runs on a
//! blocking thread of its own per day, at most one per core.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, TimestampMicrosecondType};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::days::DayRows;
use crate::ingest::IngestError;
use crate::schema::event_text::{original, EventTextError, Referenced};
use crate::schema::{self, CHECKSUM_COLUMN};

/// Rows per sorted chunk handed to the Parquet encoder: each chunk is a copy of its rows, so
/// small chunks keep the encoders' memory small.
const CHUNK_ROWS: usize = 8 * 1024;

/// Files written for the next commit and the events in them.
#[derive(Default)]
pub(super) struct Encoded {
    pub(super) adds: Vec<deltalake::kernel::Add>,
    pub(super) events: u64,
}

/// Days encoded at once: one per core.
pub(super) fn parallelism() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Writes one day's rows, sorted by `eventtime`, into its partition; returns the new files.
pub(super) async fn encode_day(
    mut writer: RecordBatchWriter,
    day: i32,
    day_rows: DayRows,
    legacy_checksum: bool,
) -> Result<Encoded, IngestError> {
    let mut partition = IndexMap::new();
    partition.insert(schema::PARTITION_COLUMN.to_string(), delta_kernel::expressions::Scalar::Date(day));
    let DayRows { batches, rows, .. } = day_rows;
    let order = time_order(&batches, rows)?;
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let mut events = 0u64;
    for chunk in order.chunks(CHUNK_ROWS) {
        let mut sorted = interleave_record_batch(&refs, chunk)?;
        events += sorted.num_rows() as u64;
        if legacy_checksum {
            sorted = with_checksum(&sorted)?;
        }
        writer.write_partition(sorted, &partition, deltalake::writer::WriteMode::Default).await?;
    }
    drop(refs);
    drop(batches);
    Ok(Encoded { adds: writer.flush().await?, events })
}

/// `batch` plus the SHA-256 (hex) of each row's original text, for tables that store it.
fn with_checksum(batch: &RecordBatch) -> Result<RecordBatch, IngestError> {
    let json = batch
        .column_by_name("eventjson")
        .map(|c| c.as_string::<i32>().clone())
        .ok_or_else(|| IngestError::Internal("batch without eventjson".into()))?;
    let referenced = Referenced::of_batch(schema::cloudtrail(), batch);
    let sums = (0..json.len())
        .map(|i| match json.is_valid(i) {
            true => Ok(Some(hex::encode(Sha256::digest(original(json.value(i), i, &referenced)?.as_bytes())))),
            false => Ok(None),
        })
        .collect::<Result<StringArray, EventTextError>>()?;
    let mut fields: Vec<FieldRef> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(CHECKSUM_COLUMN, DataType::Utf8, true)));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(sums));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// `rows` ((batch, row) in `batches`) in `eventtime` order.
fn time_order(batches: &[RecordBatch], rows: Vec<(u32, u32)>) -> Result<Vec<(usize, usize)>, IngestError> {
    let times = batches
        .iter()
        .map(|b| {
            b.column_by_name("eventtime")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                .map(|t| t.values())
                .ok_or_else(|| IngestError::Internal("batch without eventtime".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut order: Vec<(i64, usize, usize)> =
        rows.into_iter().map(|(b, r)| (times[b as usize][r as usize], b as usize, r as usize)).collect();
    order.sort_unstable();
    Ok(order.into_iter().map(|(_, b, r)| (b, r)).collect())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::TimestampMicrosecondArray;

    use super::*;

    #[test]
    fn rows_from_several_batches_come_out_in_time_order() {
        let batch = |t: Vec<i64>| {
            RecordBatch::try_from_iter(vec![("eventtime", Arc::new(TimestampMicrosecondArray::from(t)) as _)])
                .expect("batch")
        };
        let batches = vec![batch(vec![30, 10]), batch(vec![20, 5])];
        let order = time_order(&batches, vec![(0, 0), (0, 1), (1, 0)]).expect("order");
        assert_eq!(order, vec![(0, 1), (1, 0), (0, 0)], "row (1, 1) was not asked for");
    }
}
