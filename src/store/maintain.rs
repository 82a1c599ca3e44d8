//! `eds maintain`: what CloudTrail Lake does in the background. Purges stores whose 7 days of
//! PENDING_DELETION are over, deletes events past their store's retention (judged by
//! `eventTime`), compacts days written as several small files, and vacuums files no snapshot
//! needs any more.
//!
//! Safe while queries run: every change is a Delta commit (readers keep the snapshot they
//! opened), and vacuum only deletes files that left the table more than `vacuum_retain` ago, so
//! a query that began before maintenance still finds its files. Ingest into the same store
//! waits (the store's ingest lock), since both rewrite the same days.

use std::num::NonZeroU64;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{col, lit};
use deltalake::kernel::schema::partitions::{FilterOp, FilterValue};
use deltalake::operations::optimize::OptimizeType;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use serde::Serialize;

use super::catalog::EdsStatus;
use super::{table, EdsRecord, Store, StoreError};
use crate::schema;

#[derive(Debug, Clone)]
pub struct MaintainOptions {
    /// The clock retention and the deletion window are judged against.
    pub now: DateTime<Utc>,
    /// Files removed from a table less than this long ago are kept for running queries.
    pub vacuum_retain: Duration,
    /// Target size of compacted files.
    pub target_file_bytes: u64,
    /// Days from this one on (`YYYY-MM-DD`) are not compacted: events still arrive for them
    /// (`ingest --follow` compacts a day once it is quiet).
    pub compact_before: Option<String>,
}

impl Default for MaintainOptions {
    fn default() -> Self {
        Self {
            now: Utc::now(),
            vacuum_retain: Duration::hours(1),
            target_file_bytes: 128 * 1024 * 1024,
            compact_before: None,
        }
    }
}

/// What maintenance did to one store.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintainReport {
    pub eds_id: String,
    pub eds_name: String,
    /// "purged", "maintained", or "waiting" (pending deletion, still restorable).
    pub action: String,
    pub retention_cutoff: Option<String>,
    pub expired_events_deleted: u64,
    pub days_compacted: u64,
    pub files_compacted: u64,
    pub files_vacuumed: u64,
    pub events_after: u64,
}

impl MaintainReport {
    pub fn summary(&self) -> String {
        match self.action.as_str() {
            "purged" => format!("{} ({}): purged (7 days of PENDING_DELETION over)", self.eds_name, self.eds_id),
            "waiting" => format!("{} ({}): PENDING_DELETION, restorable; left as it is", self.eds_name, self.eds_id),
            _ => format!(
                "{} ({}): {} events past retention (before {}) deleted, {} files in {} days compacted, \
                 {} unused files vacuumed; {} events now",
                self.eds_name,
                self.eds_id,
                self.expired_events_deleted,
                self.retention_cutoff.as_deref().unwrap_or("-"),
                self.files_compacted,
                self.days_compacted,
                self.files_vacuumed,
                self.events_after
            ),
        }
    }
}

/// Maintains the store named `key`, or every store.
pub async fn maintain(
    store: &Store,
    key: Option<&str>,
    opts: &MaintainOptions,
) -> Result<Vec<MaintainReport>, StoreError> {
    let targets: Vec<EdsRecord> = match key {
        Some(k) => vec![store.resolve(k).await?],
        None => store.catalog().await?.event_data_stores,
    };
    let mut reports = Vec::new();
    for rec in targets {
        let mut r = MaintainReport { eds_id: rec.id.to_string(), eds_name: rec.name.clone(), ..Default::default() };
        if rec.status == EdsStatus::PendingDeletion {
            if rec.purge_after().is_some_and(|t| t <= opts.now) {
                purge(store, &rec).await?;
                r.action = "purged".into();
            } else {
                r.action = "waiting".into();
            }
        } else {
            maintain_one(store, &rec, opts, &mut r).await?;
            r.action = "maintained".into();
        }
        reports.push(r);
    }
    Ok(reports)
}

async fn maintain_one(
    store: &Store,
    rec: &EdsRecord,
    opts: &MaintainOptions,
    r: &mut MaintainReport,
) -> Result<(), StoreError> {
    let _lock = store
        .lock(&format!("ingest-{}", rec.id), || {
            tracing::warn!("an ingest into {} is running; maintenance waits for it", rec.name)
        })
        .await?;
    let mut t = table::open(store, rec).await?;
    let before = table::figures(&t)?.event_count;
    let cutoff = opts.now - Duration::days(i64::from(rec.retention_period));
    r.retention_cutoff = Some(cutoff.format("%Y-%m-%d %H:%M:%S UTC").to_string());

    // Whole days before the cutoff day go by partition (a metadata-only commit); the boundary
    // day's older rows are deleted row by row.
    let part = schema::PARTITION_COLUMN.to_string();
    let cutoff_day = (cutoff.date_naive() - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days();
    if has_files_before(&t, &cutoff)? {
        let (t2, _) =
            t.delete().with_predicate(col(part.as_str()).lt(lit(ScalarValue::Date32(Some(cutoff_day as i32))))).await?;
        t = t2;
        let micros = cutoff.timestamp_micros();
        let ts = ScalarValue::TimestampMicrosecond(Some(micros), Some(Arc::from(schema::UTC)));
        let (t3, _) = t.delete().with_predicate(col("eventtime").lt(lit(ts))).await?;
        t = t3;
    }
    let after_retention = table::figures(&t)?.event_count;
    r.expired_events_deleted = before.saturating_sub(after_retention);

    // Compaction, one day at a time, sorted by eventtime again so time pruning stays sharp.
    let quiet = |day: &String| opts.compact_before.as_ref().is_none_or(|before| day < before);
    for day in days_with_several_files(&t)?.into_iter().filter(quiet) {
        let filters = [(part.as_str(), FilterOp::Eq, FilterValue::Scalar(day.as_str()))];
        let target = NonZeroU64::new(opts.target_file_bytes).unwrap_or(NonZeroU64::MIN);
        let (t2, metrics) = t
            .optimize()
            .with_filters(&filters)
            .with_type(OptimizeType::ZOrder(vec!["eventtime".to_string()]))
            .with_target_size(target)
            .with_writer_properties(super::parquet::writer_properties(&Default::default(), rec.schema()))
            .await?;
        t = t2;
        if metrics.num_files_removed > 0 {
            r.days_compacted += 1;
            r.files_compacted += metrics.num_files_removed;
        }
    }

    let (mut t, v) =
        t.vacuum().with_retention_period(opts.vacuum_retain).with_enforce_retention_duration(false).await?;
    r.files_vacuumed = v.files_deleted.len() as u64;
    // What delta-rs committed above, recorded (and signed) in a commit of its own.
    super::integrity::seal(&mut t, rec.signer()?.as_ref()).await?;
    r.events_after = table::figures(&t)?.event_count;
    Ok(())
}

/// Whether any file may hold events older than `cutoff` (from file statistics).
fn has_files_before(t: &deltalake::DeltaTable, cutoff: &DateTime<Utc>) -> Result<bool, StoreError> {
    let f = table::figures(t)?;
    Ok(match f.first_event.as_deref().map(DateTime::parse_from_rfc3339) {
        Some(Ok(first)) => first.with_timezone(&Utc) < *cutoff,
        // No statistics: let the delete itself decide.
        Some(Err(_)) => true,
        None => f.file_count > 0 && f.first_day.is_some_and(|d| d < cutoff.format("%Y-%m-%d").to_string()),
    })
}

fn days_with_several_files(t: &deltalake::DeltaTable) -> Result<Vec<String>, StoreError> {
    let snap = t.snapshot()?;
    let part = schema::PARTITION_COLUMN;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for file in snap.log_data().iter() {
        if let Some(Some(day)) = file.partition_values_map().get(part).cloned() {
            *counts.entry(day).or_default() += 1;
        }
    }
    Ok(counts.into_iter().filter(|(_, n)| *n > 1).map(|(d, _)| d).collect())
}

/// Deletes a store's table and quarantine, then its catalog entry.
async fn purge(store: &Store, rec: &EdsRecord) -> Result<(), StoreError> {
    for prefix in [rec.table_path.clone(), format!("quarantine/{}", rec.id)] {
        let objects = store.objects();
        let paths: Vec<ObjectPath> =
            objects.list(Some(&ObjectPath::from(prefix.as_str()))).map_ok(|m| m.location).try_collect().await?;
        for p in paths {
            match objects.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    // Local stores: the folders the objects were in go too.
    if let super::StoreLocation::Local(root) = store.location() {
        for dir in [root.join(&rec.table_path), root.join("quarantine").join(rec.id.to_string())] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Invalid(format!("cannot remove {}: {e}", dir.display()))),
            }
        }
    }
    let id = rec.id;
    store
        .change_catalog(|cat| {
            cat.event_data_stores.retain(|e| e.id != id);
            Ok(())
        })
        .await
}
