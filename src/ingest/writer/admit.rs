//! Admission: which decoded events a store takes at all. Events whose `eventtime` is already
//! past the store's retention are not stored (Lake judges retention on `eventTime`), then
//! the store's advanced event selectors drop what they exclude.

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::TimestampMicrosecondType;

use crate::ingest::IngestError;
use crate::store::selectors::{self, AdvancedEventSelector};

/// The store's rules for what it keeps.
pub(super) struct Admission {
    /// Events with `eventtime` before this (µs since the epoch) are past retention.
    pub(super) retention_cutoff_micros: i64,
    pub(super) selectors: Option<Vec<AdvancedEventSelector>>,
}

/// What admission kept, and how many it turned away for each reason.
pub(super) struct Admitted {
    pub(super) batch: RecordBatch,
    pub(super) expired: u64,
    pub(super) filtered: u64,
}

impl Admission {
    /// Drops events already past retention, then those the selectors exclude.
    pub(super) fn admit(&self, batch: RecordBatch) -> Result<Admitted, IngestError> {
        let times = batch
            .column_by_name("eventtime")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| IngestError::Internal("decoded batch without eventtime".into()))?;
        let cutoff = self.retention_cutoff_micros;
        let fresh: BooleanArray = times.iter().map(|t| Some(t.is_some_and(|t| t >= cutoff))).collect();
        let kept = fresh.true_count();
        let expired = (batch.num_rows() - kept) as u64;
        let batch = if kept == batch.num_rows() { batch } else { filter_record_batch(&batch, &fresh)? };
        let Some(sel) = &self.selectors else { return Ok(Admitted { batch, expired, filtered: 0 }) };
        let keep = selectors::mask(sel, &batch)?;
        let n = keep.true_count();
        let filtered = (batch.num_rows() - n) as u64;
        let batch = if n == batch.num_rows() { batch } else { filter_record_batch(&batch, &keep)? };
        Ok(Admitted { batch, expired, filtered })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{StringArray, TimestampMicrosecondArray};

    use super::*;

    fn batch() -> RecordBatch {
        let times = TimestampMicrosecondArray::from(vec![Some(100), Some(200), None, Some(300)]).with_timezone("UTC");
        let names = StringArray::from(vec!["A", "B", "C", "D"]);
        RecordBatch::try_from_iter(vec![("eventtime", Arc::new(times) as _), ("eventname", Arc::new(names) as _)])
            .expect("batch")
    }

    #[test]
    fn events_before_the_cutoff_and_without_a_time_are_past_retention() {
        let admission = Admission { retention_cutoff_micros: 200, selectors: None };
        let a = admission.admit(batch()).expect("admit");
        assert_eq!((a.batch.num_rows(), a.expired, a.filtered), (2, 2, 0));
        // With no retention limit every timed event stays; one without a time never does
        // (decoding quarantines those before they get here).
        let everything = Admission { retention_cutoff_micros: i64::MIN, selectors: None };
        let a = everything.admit(batch()).expect("admit");
        assert_eq!((a.batch.num_rows(), a.expired), (3, 1));
    }
}
