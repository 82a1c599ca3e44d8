//! Day scheduling: decoded rows wait here, filed under their event day, until the day is
//! encoded. Sources are read in delivery order, so a day is complete a little after the next
//! one began: a day no row arrived for while `quiet_bytes` more were decoded has gone quiet and
//! is encoded at once, while decoding goes on. Rows are never copied here — each day keeps the
//! batches its rows lie in, and the (batch, row) positions — so a batch holding several days
//! is shared by them. Pure bookkeeping: no I/O, unit-tested on its own.

use std::collections::BTreeMap;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Date32Type;

use crate::ingest::IngestError;
use crate::schema;

/// One event day's rows waiting to be encoded.
#[derive(Default)]
pub(super) struct DayRows {
    /// The decoded batches holding the day's rows (a batch may hold other days' rows too).
    pub(super) batches: Vec<RecordBatch>,
    /// (index into `batches`, row) of each row to store, in arrival order.
    pub(super) rows: Vec<(u32, u32)>,
    /// This day's share of the batches' memory.
    pub(super) bytes: usize,
    /// The buffer's `decoded_bytes` when a row of this day last arrived.
    touched: usize,
    /// Sequence number of the last batch in `batches`.
    last_seq: u64,
}

/// Every day waiting to be encoded, and the clocks that schedule them.
#[derive(Default)]
pub(super) struct DayBuffer {
    days: BTreeMap<i32, DayRows>,
    /// Decoded bytes of the rows waiting (the memory they hold).
    buffered_bytes: usize,
    /// Decoded bytes seen so far: the clock that tells when a day has gone quiet.
    decoded_bytes: usize,
    /// Numbers the filed batches, so a day holds each of its batches once.
    batch_seq: u64,
}

impl DayBuffer {
    /// Files the rows `fresh` lists for each day (row numbers in `batch`) and counts the whole
    /// batch as decoded; returns the decoded bytes the filed rows hold. A day gets an entry only
    /// with a row to write (a re-run adds no empty files).
    pub(super) fn file(&mut self, batch: &RecordBatch, fresh: Vec<(i32, Vec<u32>)>) -> usize {
        let batch_bytes = batch.get_array_memory_size();
        self.decoded_bytes += batch_bytes;
        self.batch_seq += 1;
        let mut filed = 0usize;
        for (day, rows) in fresh {
            if rows.is_empty() {
                continue;
            }
            let entry = self.days.entry(day).or_default();
            if entry.last_seq != self.batch_seq {
                entry.batches.push(batch.clone());
                entry.last_seq = self.batch_seq;
            }
            let b = (entry.batches.len() - 1) as u32;
            // A batch's memory is shared by its days: each carries its share.
            let bytes = batch_bytes * rows.len() / batch.num_rows().max(1);
            entry.bytes += bytes;
            entry.touched = self.decoded_bytes;
            entry.rows.extend(rows.iter().map(|&r| (b, r)));
            filed += bytes;
        }
        self.buffered_bytes += filed;
        filed
    }

    /// The oldest day no row arrived for while `quiet` more bytes were decoded.
    pub(super) fn quiet_day(&self, quiet: usize) -> Option<i32> {
        quiet_day(&self.days, self.decoded_bytes, quiet)
    }

    /// Takes a day out to be encoded.
    pub(super) fn take(&mut self, day: i32) -> Option<DayRows> {
        let rows = self.days.remove(&day)?;
        self.buffered_bytes -= rows.bytes;
        Some(rows)
    }

    /// Every day still waiting, oldest first.
    pub(super) fn waiting(&self) -> Vec<i32> {
        self.days.keys().copied().collect()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Decoded bytes waiting unencoded.
    pub(super) fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }
}

/// The oldest day no row arrived for while `quiet` more bytes were decoded (`now` is the
/// decoded bytes so far).
fn quiet_day(days: &BTreeMap<i32, DayRows>, now: usize, quiet: usize) -> Option<i32> {
    days.iter().find(|(_, d)| now - d.touched >= quiet).map(|(&day, _)| day)
}

/// `2026-11-15` for a day number (days since the epoch), as partition values spell it.
pub(super) fn day_string(day: i32) -> String {
    chrono::NaiveDate::from_epoch_days(day).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// The event day of each row of a decoded batch.
pub(super) fn day_values(batch: &RecordBatch) -> Result<Vec<i32>, IngestError> {
    batch
        .column_by_name(schema::PARTITION_COLUMN)
        .and_then(|c| c.as_primitive_opt::<Date32Type>())
        .map(|d| d.values().to_vec())
        .ok_or_else(|| IngestError::Internal("batch without a day column".into()))
}

/// Runs of equal days: (day, end of the run). Decoded batches come in long runs, as sources
/// mostly hold one day each.
pub(super) fn day_runs(days: &[i32]) -> Vec<(i32, usize)> {
    let mut runs: Vec<(i32, usize)> = Vec::new();
    for (i, &d) in days.iter().enumerate() {
        match runs.last_mut() {
            Some((day, end)) if *day == d => *end = i + 1,
            _ => runs.push((d, i + 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Date32Array, Int32Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn the_oldest_day_that_went_quiet_is_encoded_first() {
        let day = |touched| DayRows { touched, ..Default::default() };
        let days: BTreeMap<i32, DayRows> = [(10, day(500)), (11, day(100)), (12, day(50)), (13, day(900))].into();
        assert_eq!(quiet_day(&days, 900, 1000), None, "nothing has been quiet for long enough");
        assert_eq!(quiet_day(&days, 900, 800), Some(11), "day 10 is older but has not been quiet for long enough");
        assert_eq!(quiet_day(&days, 1400, 800), Some(10));
        assert_eq!(quiet_day(&days, 900, 1), Some(10), "the day a row just arrived for is never quiet");
        assert_eq!(quiet_day(&[(13, day(900))].into(), 900, 1), None);
    }

    fn days_batch(days: Vec<i32>) -> RecordBatch {
        let field = Field::new(schema::PARTITION_COLUMN, DataType::Date32, false);
        RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![Arc::new(Date32Array::from(days))])
            .expect("batch")
    }

    /// A batch spanning two days is kept once by each, its memory split between them; a day
    /// goes quiet only once enough was decoded after its last row; taking a day frees its share.
    #[test]
    fn days_share_batches_go_quiet_by_the_decoded_clock_and_free_their_memory() {
        let mut buf = DayBuffer::default();
        let first = days_batch(vec![3, 3, 4, 4]);
        let filed = buf.file(&first, vec![(3, vec![0, 1]), (4, vec![2, 3])]);
        assert!(filed > 0 && filed <= first.get_array_memory_size(), "{filed}");
        assert_eq!(buf.buffered_bytes(), filed);
        assert_eq!(buf.waiting(), vec![3, 4]);
        assert_eq!(buf.quiet_day(1), None, "both days had a row in the last batch");
        // Only day 4 continues; day 3 goes quiet once `quiet` bytes were decoded after it.
        let second = days_batch(vec![4, 4]);
        buf.file(&second, vec![(4, vec![0]), (5, vec![])]);
        assert_eq!(buf.waiting(), vec![3, 4], "a day with no fresh row gets no entry");
        assert_eq!(buf.quiet_day(second.get_array_memory_size() + 1), None);
        assert_eq!(buf.quiet_day(second.get_array_memory_size()), Some(3));
        let before = buf.buffered_bytes();
        let three = buf.take(3).expect("day 3");
        assert_eq!((three.batches.len(), three.rows.clone()), (1, vec![(0, 0), (0, 1)]));
        assert_eq!(buf.buffered_bytes(), before - three.bytes);
        let four = buf.take(4).expect("day 4");
        assert_eq!(four.batches.len(), 2, "each batch once per day");
        assert_eq!(four.rows, vec![(0, 2), (0, 3), (1, 0)]);
        assert!(buf.is_empty() && buf.buffered_bytes() == 0);
    }

    #[test]
    fn rows_are_filed_by_day_runs() {
        assert_eq!(day_runs(&[]), vec![]);
        assert_eq!(day_runs(&[5, 5, 6, 5, 5]), vec![(5, 2), (6, 3), (5, 5)]);
        assert_eq!(day_values(&days_batch(vec![3, 4])).ok(), Some(vec![3, 4]));
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, false)])),
            vec![Arc::new(Int32Array::from(vec![1]))],
        )
        .expect("batch");
        assert!(day_values(&other).is_err(), "a batch without a day column is an internal error");
        assert_eq!(day_string(20_404), "2025-11-12");
    }
}
