//! The writer: collects decoded batches per event day, drops events the store already holds,
//! and commits — many sources at a time — sorted, zstd-compressed Parquet files plus the
//! ledger of completed sources, in one atomic Delta commit.
//!
//! A day is encoded as soon as it is quiet (no row of it arrived for a while), while decoding
//! goes on: sources are read in delivery order, so a day is complete a little after the next
//! one began. Encoding alongside decoding keeps both cores busy through a commit and holds a
//! few days in memory instead of a whole commit's worth.
//!
//! One file per job: `admit` (retention and selectors), `dedup` (event keys, stored and seen),
//! `days` (filing rows under their day and choosing which day to encode), `encode` (a day to
//! Parquet files); quarantine buffering is `ingest::quarantine`'s. This file ties them together
//! and owns the commit.

mod admit;
mod days;
mod dedup;
mod encode;

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::file::properties::WriterProperties;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::Action;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::RecordBatchWriter;
use deltalake::DeltaTable;
use tokio::task::{JoinError, JoinSet};

use super::digests::validate::SourceValidation;
use super::quarantine::QuarantineBuffer;
use super::worker::{SourceReport, ToWriter};
use super::{IngestError, IngestReport};
use crate::schema;
use crate::store::selectors::AdvancedEventSelector;
use crate::store::table::{CommitLedger, COMMIT_INFO_KEY};
use crate::store::{integrity, parquet, EdsRecord, Store};
use admit::Admission;
use days::DayBuffer;
use dedup::Seen;
use encode::{encode_day, parallelism, Encoded};

/// A day no row arrived for while this much more was decoded is encoded without waiting for the
/// commit. In delivery order a day's last events come with the next day's first deliveries;
/// later stragglers only make another file for the day.
const DEFAULT_QUIET_BYTES: usize = 48 * 1024 * 1024;
/// Quarantine messages printed in full before only counting.
const MESSAGES_SHOWN: usize = 20;
/// Quarantine messages kept for the report (the quarantine files hold every one).
const MESSAGES_KEPT: usize = 1_000;

/// Decoded data per commit by default, in MiB: how much work a run killed at the worst moment
/// does again (about 700k events). Days that went quiet are already written as files, so
/// this bounds the rework, not memory ([`DEFAULT_BUFFER_MB`] does that). Each commit ends a
/// generation of decode threads, which costs the ingest about 45 ms: the bench trail, one
/// commit now instead of two, took 3.4% and 7.6% less time in two alternating A/B runs.
pub const DEFAULT_COMMIT_MB: usize = 2048;

/// Decoded data held unencoded that makes a commit due, by default, in MiB. When the input's
/// days come interleaved, so that none goes quiet, all of it is buffered and peak RSS is about
/// 2.4× this (decoders, encoders and allocator slack around the buffer): 320 kept a 1M-event
/// ingest near 760 MiB, under the 1 GiB budget with room for larger events.
pub const DEFAULT_BUFFER_MB: usize = 320;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Decoded data (Arrow bytes) per commit at most.
    pub commit_bytes: usize,
    /// Decoded data buffered, not yet encoded, that makes a commit due (bounds memory).
    pub buffer_bytes: usize,
    pub zstd_level: i32,
    pub bloom_filters: bool,
    /// Decoded bytes after a day's last row that make it quiet: encoded before the commit.
    pub quiet_bytes: usize,
}

impl WriterConfig {
    /// The Parquet settings this writer encodes with.
    pub fn parquet(&self) -> parquet::ParquetSettings {
        parquet::ParquetSettings { zstd_level: self.zstd_level, bloom_filters: self.bloom_filters }
    }
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            commit_bytes: DEFAULT_COMMIT_MB * 1024 * 1024,
            buffer_bytes: DEFAULT_BUFFER_MB * 1024 * 1024,
            zstd_level: 1,
            bloom_filters: false,
            quiet_bytes: DEFAULT_QUIET_BYTES,
        }
    }
}

pub struct Writer<'a> {
    store: &'a Store,
    rec: &'a EdsRecord,
    table: DeltaTable,
    config: WriterConfig,
    props: WriterProperties,
    run_id: String,
    admission: Admission,
    /// Rows waiting to be encoded, per event day.
    days: DayBuffer,
    /// Keys of the events stored or taken in this run.
    seen: Seen,
    /// Decoded bytes stored since the last commit: sets the commits' pace.
    uncommitted_bytes: usize,
    /// Days being encoded, at most one per core.
    encoders: JoinSet<Result<Encoded, IngestError>>,
    /// Files encoded for the next commit.
    encoded: Encoded,
    /// Sources completed since the last commit: the ledger of the next one.
    done: Vec<SourceReport>,
    quarantine: QuarantineBuffer,
    /// The table was created when `eventjsonchecksum` was stored: its files must still get it.
    legacy_checksum: bool,
    /// Signs each commit's integrity record, when the store is signed.
    signer: Option<crate::keys::SigningKey>,
    pub report: IngestReport,
}

impl<'a> Writer<'a> {
    pub fn new(
        store: &'a Store,
        rec: &'a EdsRecord,
        table: DeltaTable,
        config: WriterConfig,
        run_id: String,
        selectors: Option<Vec<AdvancedEventSelector>>,
    ) -> Self {
        let props = parquet::writer_properties(&config.parquet(), rec.schema());
        let legacy_checksum = crate::store::table::stores_checksum(&table);
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(rec.retention_period));
        Self {
            store,
            rec,
            table,
            config,
            props,
            run_id,
            admission: Admission { retention_cutoff_micros: cutoff.timestamp_micros(), selectors },
            days: DayBuffer::default(),
            seen: Seen::default(),
            uncommitted_bytes: 0,
            encoders: JoinSet::new(),
            encoded: Encoded::default(),
            done: Vec::new(),
            quarantine: QuarantineBuffer::default(),
            legacy_checksum,
            signer: None,
            report: IngestReport::default(),
        }
    }

    /// Signs the integrity record of every commit with `key`.
    pub fn with_signer(mut self, key: Option<crate::keys::SigningKey>) -> Self {
        self.signer = key;
        self
    }

    pub async fn handle(&mut self, msg: ToWriter) -> Result<(), IngestError> {
        match msg {
            ToWriter::Batch(batch) => {
                let admitted = self.admission.admit(batch)?;
                self.report.expired += admitted.expired;
                self.report.filtered += admitted.filtered;
                self.buffer(admitted.batch).await?;
                // Normally the decode threads stop once a commit is due and the caller commits
                // (`commit_due`); a single huge source does not stop, so memory is bounded here.
                let over = |bytes: usize, limit: usize| bytes >= limit + limit / 4;
                if over(self.uncommitted_bytes, self.config.commit_bytes)
                    || over(self.days.buffered_bytes(), self.config.buffer_bytes)
                {
                    self.flush().await?;
                } else {
                    self.encode_quiet_days().await?;
                }
            }
            ToWriter::Quarantine(item) => {
                if self.report.quarantined_records < MESSAGES_SHOWN as u64 {
                    tracing::warn!("quarantined {}", item.message());
                }
                self.report.quarantined_records += 1;
                if self.report.messages.len() < MESSAGES_KEPT {
                    self.report.messages.push(item.message());
                }
                if self.quarantine.push(item) {
                    // A flood of bad input must not fill memory: write it out now.
                    self.write_quarantine().await?;
                }
            }
            ToWriter::SourceDone(r) => {
                self.report.files += 1;
                self.report.insights_skipped += r.insights;
                self.report.other_kinds_skipped += r.other_kinds;
                self.report.digests_skipped += r.digests;
                if r.failed {
                    self.report.files_failed += 1;
                }
                match r.validation {
                    Some(SourceValidation::Valid) => self.report.files_validated += 1,
                    Some(SourceValidation::NotCovered) => self.report.files_not_covered += 1,
                    Some(SourceValidation::Invalid | SourceValidation::DigestInvalid) => self.report.files_invalid += 1,
                    None => {}
                }
                self.done.push(r);
            }
        }
        Ok(())
    }

    /// Files each row of `batch` under its day, unless its event is already stored or was
    /// seen earlier in this run.
    async fn buffer(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        let runs = days::day_runs(&days::day_values(&batch)?);
        for &(day, _) in &runs {
            self.seen.load(&self.table, day).await?;
        }
        let keys = dedup::event_keys(&batch)?;
        let mut start = 0usize;
        let mut fresh = Vec::with_capacity(runs.len());
        for (day, end) in runs {
            fresh.push((day, self.seen.fresh(day, &keys, start..end)));
            start = end;
        }
        let kept: usize = fresh.iter().map(|(_, rows)| rows.len()).sum();
        self.uncommitted_bytes += self.days.file(&batch, fresh);
        self.report.duplicates_skipped += (batch.num_rows() - kept) as u64;
        Ok(())
    }

    /// Starts encoding the days that have gone quiet, oldest first. With every core already
    /// encoding, waits for one to finish: decoding pauses rather than buffer without bound.
    async fn encode_quiet_days(&mut self) -> Result<(), IngestError> {
        while let Some(joined) = self.encoders.try_join_next() {
            self.take_encoded(joined)?;
        }
        while let Some(day) = self.days.quiet_day(self.config.quiet_bytes) {
            self.encode(day).await?;
        }
        Ok(())
    }

    /// Hands one buffered day to an encoder thread, once one of the cores is free for it.
    async fn encode(&mut self, day: i32) -> Result<(), IngestError> {
        if self.encoders.len() >= parallelism() {
            if let Some(joined) = self.encoders.join_next().await {
                self.take_encoded(joined)?;
            }
        }
        let Some(rows) = self.days.take(day) else { return Ok(()) };
        tracing::trace!(
            "encoding day {day}: {} rows, {} MiB; {} MiB still buffered, {} encoders running",
            rows.rows.len(),
            rows.bytes >> 20,
            self.days.buffered_bytes() >> 20,
            self.encoders.len()
        );
        let writer = RecordBatchWriter::for_table(&self.table)?.with_writer_properties(self.props.clone());
        let legacy = self.legacy_checksum;
        // Encoding is CPU work with a little I/O at its end: it runs on a blocking thread of
        // its own, so the runtime's threads stay free to receive decoded batches meanwhile.
        let runtime = tokio::runtime::Handle::current();
        self.encoders.spawn_blocking(move || runtime.block_on(encode_day(writer, day, rows, legacy)));
        Ok(())
    }

    fn take_encoded(&mut self, joined: Result<Result<Encoded, IngestError>, JoinError>) -> Result<(), IngestError> {
        let done = joined.map_err(|e| IngestError::Internal(format!("encoder task failed: {e}")))??;
        for add in &done.adds {
            self.report.stored_bytes += add.size.max(0) as u64;
            self.report.files_written += 1;
        }
        self.encoded.adds.extend(done.adds);
        self.encoded.events += done.events;
        Ok(())
    }

    /// Writes the buffered quarantine items to a new file of this run.
    async fn write_quarantine(&mut self) -> Result<(), IngestError> {
        if let Some(file) = self.quarantine.write(self.store, &self.rec.id, &self.run_id).await? {
            self.report.quarantine_files.push(file);
        }
        Ok(())
    }

    /// A commit's worth was decoded, or too much waits unencoded: time to stop decoding and
    /// [`flush`](Self::flush).
    pub fn commit_due(&self) -> bool {
        self.uncommitted_bytes >= self.config.commit_bytes || self.days.buffered_bytes() >= self.config.buffer_bytes
    }

    /// Writes everything buffered and commits it with the ledger of completed sources.
    pub async fn flush(&mut self) -> Result<(), IngestError> {
        let nothing_encoded = self.encoders.is_empty() && self.encoded.adds.is_empty();
        if self.days.is_empty() && nothing_encoded && self.done.is_empty() && self.quarantine.is_empty() {
            return Ok(());
        }
        // Quarantine first: once the ledger names a source, its rejects must already be kept.
        self.write_quarantine().await?;

        let encoding = std::time::Instant::now();
        for day in self.days.waiting() {
            self.encode(day).await?;
        }
        while let Some(joined) = self.encoders.join_next().await {
            self.take_encoded(joined)?;
        }
        let Encoded { adds, events } = std::mem::take(&mut self.encoded);
        let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        tracing::debug!(
            "commit of {} MiB of decoded batches in {} files; {:.3}s to finish encoding",
            self.uncommitted_bytes >> 20,
            actions.len(),
            encoding.elapsed().as_secs_f64()
        );
        self.uncommitted_bytes = 0;

        // Sources that could not be fetched at all are left out: a re-run should try them again.
        let done: Vec<SourceReport> = std::mem::take(&mut self.done);
        let recorded = || done.iter().filter(|r| !r.unreadable && !r.rejected_invalid);
        let ledger = CommitLedger {
            sources: recorded().map(|r| r.key.clone()).collect(),
            events,
            validation: recorded().filter_map(|r| Some((r.key.clone(), r.validation?.as_str().to_string()))).collect(),
        };
        if actions.is_empty() && ledger.sources.is_empty() {
            return Ok(());
        }
        let metadata = serde_json::to_value(&ledger).map_err(|e| IngestError::Internal(e.to_string()))?;
        // Tamper evidence: the files' hashes and the chain, in the same commit (`store::integrity`).
        let files: Vec<(String, i64)> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Add(add) => Some((add.path.clone(), add.size)),
                _ => None,
            })
            .collect();
        let version = self.table.version().map_or(0, |v| v as i64 + 1);
        let record = integrity::record_for(&self.table, version, "ingest", &files, self.signer.as_ref()).await?;
        let record = serde_json::to_value(&record).map_err(|e| IngestError::Internal(e.to_string()))?;
        // No silent retry at another version: the record names the version it expects
        // (the ingest lock means no other traillake writer commits meanwhile).
        let props = CommitProperties::default()
            .with_metadata([(COMMIT_INFO_KEY.to_string(), metadata), (integrity::RECORD_KEY.to_string(), record)])
            .with_cleanup_expired_logs(Some(false))
            .with_max_retries(0);
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![schema::PARTITION_COLUMN.to_string()]),
            predicate: None,
        };
        CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(self.table.snapshot()?), self.table.log_store(), operation)
            .await?;
        self.table.update_state().await?;
        self.report.events_added += events;
        self.report.commits += 1;
        self.seen.committed();
        Ok(())
    }
}
