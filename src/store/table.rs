//! One EDS's Delta table: creation with the event schema, opening, size/count figures, and the
//! ledger of ingested sources that lives in the table's own commits.
//!
//! The ledger is written into each ingest commit's `commitInfo` (under the key `traillake`), so
//! data and ledger become visible in the same atomic step: a crash either loses both or neither.
//! Commit files are kept (`delta.logRetentionDuration` of 100 years) so the ledger never expires.

use std::collections::HashSet;
use std::sync::Arc;

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::StructType;
use deltalake::{DeltaTable, DeltaTableBuilder};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use serde::Deserialize;

use super::{EdsRecord, Store, StoreError};
use crate::schema;

/// Key of our entry in a commit's `commitInfo`.
pub const COMMIT_INFO_KEY: &str = "traillake";

pub async fn create(store: &Store, rec: &EdsRecord) -> Result<DeltaTable, StoreError> {
    let url = store.url_of(&format!("{}/", rec.table_path))?;
    let schema = rec.schema();
    let arrow = schema.stored.clone();
    let kernel: StructType = arrow.as_ref().try_into_kernel().map_err(|e| StoreError::Invalid(e.to_string()))?;
    let table = DeltaTableBuilder::from_url(url)?.with_storage_options(store.storage_options().clone()).build()?;
    let table = table
        .create()
        .with_table_name(rec.id.to_string())
        .with_comment(format!("traillake event data store {}", rec.name))
        .with_columns(kernel.fields().cloned())
        .with_partition_columns([schema::PARTITION_COLUMN.to_string()])
        .with_configuration_property(deltalake::TableProperty::DataSkippingStatsColumns, Some(schema.stats_columns()))
        .with_configuration_property(deltalake::TableProperty::LogRetentionDuration, Some("interval 36500 days"))
        .with_configuration_property(deltalake::TableProperty::EnableExpiredLogCleanup, Some("false"))
        .await?;
    Ok(table)
}

/// Whether the table was created when `eventjsonchecksum` was a stored column (its files hold
/// it; newer tables compute it on read).
pub fn stores_checksum(table: &DeltaTable) -> bool {
    table.snapshot().is_ok_and(|s| s.schema().field(schema::CHECKSUM_COLUMN).is_some())
}

pub async fn open(store: &Store, rec: &EdsRecord) -> Result<DeltaTable, StoreError> {
    let url = store.url_of(&format!("{}/", rec.table_path))?;
    let mut table = DeltaTableBuilder::from_url(url)?.with_storage_options(store.storage_options().clone()).build()?;
    table.load().await?;
    Ok(table)
}

/// The table's storage without reading its log: for checks that must work on a damaged log.
pub fn unloaded(store: &Store, rec: &EdsRecord) -> Result<DeltaTable, StoreError> {
    let url = store.url_of(&format!("{}/", rec.table_path))?;
    Ok(DeltaTableBuilder::from_url(url)?.with_storage_options(store.storage_options().clone()).build()?)
}

/// Figures `eds describe` shows.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableFigures {
    pub event_count: u64,
    pub size_bytes: u64,
    pub file_count: u64,
    pub version: i64,
    /// Earliest and latest event day held.
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// Earliest and latest `eventTime` held, from the files' statistics (no data is read).
    pub first_event: Option<String>,
    pub last_event: Option<String>,
}

pub fn figures(table: &DeltaTable) -> Result<TableFigures, StoreError> {
    let snap = table.snapshot()?;
    let mut f = TableFigures { version: snap.version() as i64, ..Default::default() };
    let part = schema::PARTITION_COLUMN;
    for file in snap.log_data().iter() {
        f.file_count += 1;
        f.size_bytes += file.size().max(0) as u64;
        f.event_count += file.num_records().unwrap_or(0) as u64;
        if let Some((lo, hi)) = file.stats().as_deref().and_then(eventtime_range) {
            if f.first_event.as_ref().is_none_or(|d| &lo < d) {
                f.first_event = Some(lo);
            }
            if f.last_event.as_ref().is_none_or(|d| &hi > d) {
                f.last_event = Some(hi);
            }
        }
        if let Some(Some(day)) = file.partition_values_map().get(part).cloned() {
            if f.first_day.as_ref().is_none_or(|d| &day < d) {
                f.first_day = Some(day.clone());
            }
            if f.last_day.as_ref().is_none_or(|d| &day > d) {
                f.last_day = Some(day);
            }
        }
    }
    Ok(f)
}

/// `eventtime`'s min and max in a file's Delta statistics (ISO-8601 text, which sorts as time).
fn eventtime_range(stats: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(stats).ok()?;
    let get = |k: &str| v.get(k)?.get("eventtime")?.as_str().map(str::to_string);
    Some((get("minValues")?, get("maxValues")?))
}

/// What an ingest commit records in its `commitInfo`.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub struct CommitLedger {
    /// Source keys fully contained in this commit.
    pub sources: Vec<String>,
    #[serde(default)]
    pub events: u64,
    /// `ingest --validate`: each source's status against its CloudTrail digest.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub validation: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct LogLine {
    #[serde(rename = "commitInfo")]
    commit_info: Option<CommitInfoEntry>,
}

#[derive(Deserialize)]
struct CommitInfoEntry {
    #[serde(rename = "traillake")]
    traillake: Option<CommitLedger>,
}

/// Every source key recorded by any commit of the table.
pub async fn ingested_sources(table: &DeltaTable) -> Result<HashSet<String>, StoreError> {
    Ok(ledgers(table).await?.into_iter().flat_map(|l| l.sources).collect())
}

/// How many ingested sources `ingest --validate` found in each state (`valid`, `not-covered`,
/// `invalid`, `digest-invalid`), over every commit.
pub async fn validation_counts(table: &DeltaTable) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
    let mut counts = std::collections::BTreeMap::new();
    for l in ledgers(table).await? {
        for status in l.validation.into_values() {
            *counts.entry(status).or_default() += 1;
        }
    }
    Ok(counts)
}

/// The ledger of every commit that has one.
///
/// Reads the commit files themselves (many at once): `commitInfo` is not carried into
/// checkpoints, and the table keeps its commit files for that reason.
async fn ledgers(table: &DeltaTable) -> Result<Vec<CommitLedger>, StoreError> {
    Ok(commit_files(table).await?.values().filter_map(|bytes| commit_ledger(bytes)).collect())
}

/// Every commit file of the table's log (`_delta_log/<version>.json`), by version, read many
/// at once.
pub async fn commit_files(table: &DeltaTable) -> Result<std::collections::BTreeMap<i64, bytes::Bytes>, StoreError> {
    let store = table.log_store().object_store(None);
    let log_dir = ObjectPath::from("_delta_log");
    let commits: Vec<(i64, ObjectPath)> = store
        .list(Some(&log_dir))
        .try_filter_map(|m| async move {
            let name = m.location.filename().unwrap_or_default().to_string();
            let version =
                (name.len() == 25 && name.ends_with(".json")).then(|| name[..20].parse::<i64>().ok()).flatten();
            Ok(version.map(|v| (v, m.location)))
        })
        .try_collect()
        .await?;
    futures::stream::iter(commits).map(|(v, p)| read_commit(&store, v, p)).buffer_unordered(16).try_collect().await
}

async fn read_commit(
    store: &Arc<dyn object_store::ObjectStore>,
    version: i64,
    path: ObjectPath,
) -> Result<(i64, bytes::Bytes), StoreError> {
    Ok((version, store.get(&path).await?.bytes().await?))
}

/// The data files one ingest commit added, by version.
#[derive(Debug, Clone)]
pub struct IngestCommit {
    pub version: i64,
    /// Paths relative to the table's root.
    pub files: Vec<ObjectPath>,
}

/// The ingest commits after version `after` up to the table's loaded version, oldest first,
/// with the files each added — the events that are new since `after`. Commits without our
/// ledger (maintenance rewriting files, retention deleting them) add no new events and are left
/// out. Reads only those commit files, so a follower asking every few seconds pays for what is new.
pub async fn ingest_commits_after(table: &DeltaTable, after: i64) -> Result<Vec<IngestCommit>, StoreError> {
    let Some(head) = table.version() else { return Ok(Vec::new()) };
    let store = table.log_store().object_store(None);
    let versions: Vec<i64> = ((after + 1)..=(head as i64)).collect();
    let commits: Vec<(i64, bytes::Bytes)> = futures::stream::iter(versions)
        .map(|v| read_commit(&store, v, ObjectPath::from(format!("_delta_log/{v:020}.json"))))
        .buffered(16)
        .try_collect()
        .await?;
    Ok(commits
        .into_iter()
        .filter(|(_, bytes)| commit_ledger(bytes).is_some())
        .map(|(version, bytes)| IngestCommit { version, files: added_files(&bytes) })
        .collect())
}

/// The `add` actions' paths of a commit file (percent-encoded there, as Delta writes them).
fn added_files(commit: &[u8]) -> Vec<ObjectPath> {
    #[derive(Deserialize)]
    struct AddLine {
        add: Option<Add>,
    }
    #[derive(Deserialize)]
    struct Add {
        path: String,
    }
    commit
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{\"add\""))
        .filter_map(|l| serde_json::from_slice::<AddLine>(l).ok()?.add)
        .filter_map(|a| ObjectPath::from_url_path(&a.path).ok())
        .collect()
}

fn commit_ledger(commit: &[u8]) -> Option<CommitLedger> {
    commit
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{\"commitInfo\""))
        .find_map(|l| serde_json::from_slice::<LogLine>(l).ok()?.commit_info?.traillake)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ledger_from_commit_info() {
        let commit = br#"{"add":{"path":"x"}}
{"commitInfo":{"timestamp":1,"operation":"WRITE","traillake":{"sources":["file:///a.json#10"],"events":3}}}
"#;
        let l = commit_ledger(commit).expect("ledger");
        assert_eq!(l.sources, vec!["file:///a.json#10".to_string()]);
        assert!(commit_ledger(b"{\"commitInfo\":{\"operation\":\"CREATE TABLE\"}}").is_none());
        assert_eq!(added_files(commit), vec![ObjectPath::from("x")]);
        let encoded = br#"{"add":{"path":"calendarday=2026-11-01/part%20a.parquet","size":1}}"#;
        assert_eq!(added_files(encoded), vec![ObjectPath::from("calendarday=2026-11-01/part a.parquet")]);
    }
}
