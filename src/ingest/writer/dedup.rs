//! Exactly once, event by event: a key per event (its `eventID`, else a hash of its text) and
//! the keys already stored or seen in this run, per event day. A day's stored keys are read
//! from its files the first time the run meets that day; past `SEEN_KEYS_LIMIT` keys, those of
//! committed days are dropped after a commit and read again if their days come up again.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use rustc_hash::FxHashSet;
use sha2::{Digest, Sha256};

use super::days::day_string;
use crate::ingest::IngestError;
use crate::schema::{self, event_text::original, event_text::Referenced};
use crate::store::parquet::read_columns;

/// Dedup keys kept in memory; past this, keys of committed days are dropped and re-read
/// from the table if those days come up again.
const SEEN_KEYS_LIMIT: usize = 8_000_000;

/// The keys of events stored or already taken in this run, per day.
#[derive(Default)]
pub(super) struct Seen {
    days: HashMap<i32, FxHashSet<u128>>,
    total: usize,
}

impl Seen {
    /// Reads the stored keys of `day` unless this run already has them.
    pub(super) async fn load(&mut self, table: &DeltaTable, day: i32) -> Result<(), IngestError> {
        if !self.days.contains_key(&day) {
            let existing = stored_keys(table, day).await?;
            self.total += existing.len();
            self.days.insert(day, existing);
        }
        Ok(())
    }

    /// The rows of `rows` whose key is new for `day` (each is then taken).
    pub(super) fn fresh(&mut self, day: i32, keys: &[u128], rows: std::ops::Range<usize>) -> Vec<u32> {
        let seen = self.days.entry(day).or_default();
        let fresh: Vec<u32> = rows.filter(|&row| seen.insert(keys[row])).map(|row| row as u32).collect();
        self.total += fresh.len();
        fresh
    }

    /// After a commit everything seen is stored, so a large set may be dropped and re-read.
    pub(super) fn committed(&mut self) {
        if self.total > SEEN_KEYS_LIMIT {
            self.days.clear();
            self.total = 0;
        }
    }
}

/// Dedup keys of the events already stored for one day. Reads the `eventid` column; only a
/// file holding events without an id is read again with their text.
async fn stored_keys(table: &DeltaTable, day: i32) -> Result<FxHashSet<u128>, IngestError> {
    let mut keys = FxHashSet::default();
    let Ok(snap) = table.snapshot() else { return Ok(keys) };
    let part = schema::PARTITION_COLUMN;
    let day_str = day_string(day);
    let files: Vec<String> = snap
        .log_data()
        .iter()
        .filter(|f| f.partition_values_map().get(part).cloned().flatten().as_deref() == Some(day_str.as_str()))
        .map(|f| f.path().into_owned())
        .collect();
    let store = table.log_store().object_store(None);
    for path in files {
        let path = object_store::path::Path::from_url_path(&path)
            .map_err(|e| IngestError::Internal(format!("bad file path {path}: {e}")))?;
        let mut without_id = false;
        for b in read_columns(&store, &path, &["eventid"]).await?.try_collect::<Vec<_>>().await? {
            if b.column(0).null_count() > 0 {
                without_id = true;
            } else {
                keys.extend(event_keys(&b)?);
            }
        }
        if without_id {
            // Their key is a hash of the original text, which the stored text refers into.
            let mut columns = vec!["eventid", "eventjson"];
            columns.extend(schema::cloudtrail().text_ref_columns().map(|(name, _)| name));
            for b in read_columns(&store, &path, &columns).await?.try_collect::<Vec<_>>().await? {
                keys.extend(event_keys(&b)?);
            }
        }
    }
    Ok(keys)
}

/// One key per row identifying the event: its `eventID` (a UUID), else a hash of it, else a
/// hash of the original event text (`batch` then holds the columns that text refers to).
pub(super) fn event_keys(batch: &RecordBatch) -> Result<Vec<u128>, IngestError> {
    let ids = batch.column_by_name("eventid").map(|c| c.as_string::<i32>().clone());
    let texts = batch.column_by_name("eventjson").map(|c| c.as_string::<i32>().clone());
    let referenced = Referenced::of_batch(schema::cloudtrail(), batch);
    (0..batch.num_rows())
        .map(|i| {
            if let Some(ids) = ids.as_ref().filter(|a| a.is_valid(i)) {
                let id = ids.value(i);
                if let Ok(u) = uuid::Uuid::try_parse(id) {
                    return Ok(u.as_u128());
                }
                return Ok(hash128(id.as_bytes()));
            }
            Ok(match texts.as_ref().filter(|a| a.is_valid(i)) {
                Some(s) => hash128(original(s.value(i), i, &referenced)?.as_bytes()),
                None => hash128(format!("row-{i}").as_bytes()),
            })
        })
        .collect()
}

fn hash128(b: &[u8]) -> u128 {
    let d = Sha256::digest(b);
    let mut a = [0u8; 16];
    a.copy_from_slice(&d[..16]);
    u128::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::StringArray;

    use super::*;

    #[test]
    fn an_event_is_fresh_once_per_day_and_ids_key_it() {
        let ids = StringArray::from(vec![
            Some("5e2676f8-9fce-46ef-8142-3e36a94e6691"),
            Some("5E2676F8-9FCE-46EF-8142-3E36A94E6691"),
            Some("not-a-uuid"),
        ]);
        let batch = RecordBatch::try_from_iter(vec![("eventid", Arc::new(ids) as _)]).expect("batch");
        let keys = event_keys(&batch).expect("keys");
        assert_eq!(keys[0], keys[1], "a UUID is one key however it is cased");
        assert_ne!(keys[0], keys[2]);
        let mut seen = Seen::default();
        assert_eq!(seen.fresh(7, &keys, 0..3), vec![0, 2], "the second spelling is a duplicate");
        assert_eq!(seen.fresh(7, &keys, 0..3), Vec::<u32>::new(), "nothing is fresh twice");
        assert_eq!(seen.fresh(8, &keys, 1..2), vec![1], "days keep their own keys");
    }
}
