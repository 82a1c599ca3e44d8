//! The writer: collects decoded batches per event day, drops events the store already holds,
//! and commits — many sources at a time — sorted, zstd-compressed Parquet files plus the
//! ledger of completed sources, in one atomic Delta commit.
//!
//! A day is encoded as soon as it is quiet (no row of it arrived for a while), while decoding
//! goes on: sources are read in delivery order, so a day is complete a little after the next
//! one began. Encoding alongside decoding keeps both cores busy through a commit and holds a
//! few days in memory instead of a whole commit's worth.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{filter_record_batch, interleave_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::arrow::datatypes::{Date32Type, TimestampMicrosecondType};
#[allow(deprecated)]
use datafusion::parquet::arrow::async_reader::ParquetObjectReader;
use datafusion::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use datafusion::parquet::file::properties::WriterProperties;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::Action;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use futures::TryStreamExt;
use indexmap::IndexMap;
use object_store::ObjectStoreExt;
use object_store::PutPayload;
use rustc_hash::FxHashSet;
use sha2::{Digest, Sha256};
use tokio::task::{JoinError, JoinSet};

use super::quarantine::QuarantineItem;
use super::worker::{SourceReport, ToWriter};
use super::{IngestError, IngestReport};
use crate::schema::event_text::{original, EventTextError, Referenced};
use crate::schema::{self, CHECKSUM_COLUMN};
use crate::store::selectors::{self, AdvancedEventSelector};
use crate::store::table::{CommitLedger, COMMIT_INFO_KEY};
use crate::store::{parquet, EdsRecord, Store};

/// Rows per sorted chunk handed to the Parquet encoder: each chunk is a copy of its rows, so
/// small chunks keep the encoders' memory small.
const CHUNK_ROWS: usize = 8 * 1024;
/// A day no row arrived for while this much more was decoded is encoded without waiting for the
/// commit. In delivery order a day's last events come with the next day's first deliveries;
/// later stragglers only make another file for the day.
const DEFAULT_QUIET_BYTES: usize = 48 * 1024 * 1024;
/// Dedup keys kept in memory; past this, keys of committed days are dropped and re-read
/// from the table if those days come up again.
const SEEN_KEYS_LIMIT: usize = 8_000_000;
/// Quarantine messages printed in full before only counting.
const MESSAGES_SHOWN: usize = 20;
/// Quarantine messages kept for the report (the quarantine files hold every one).
const MESSAGES_KEPT: usize = 1_000;
/// Rejected input buffered before it is written to a quarantine file.
const QUARANTINE_BUFFER_BYTES: usize = 32 * 1024 * 1024;

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
    /// Rows waiting to be encoded, per event day.
    days: BTreeMap<i32, DayRows>,
    /// Decoded bytes of the rows in `days` (the memory they hold).
    buffered_bytes: usize,
    /// Decoded bytes stored since the last commit: sets the commits' pace.
    uncommitted_bytes: usize,
    /// Decoded bytes seen so far: the clock that tells when a day has gone quiet.
    decoded_bytes: usize,
    /// Numbers the buffered batches, so a day holds each of its batches once.
    batch_seq: u64,
    /// Days being encoded, at most one per core.
    encoders: JoinSet<Result<Encoded, IngestError>>,
    /// Files encoded for the next commit.
    encoded: Encoded,
    seen: HashMap<i32, FxHashSet<u128>>,
    seen_total: usize,
    done: Vec<SourceReport>,
    quarantine: Vec<QuarantineItem>,
    quarantine_bytes: usize,
    quarantine_files: u32,
    /// Events with `eventtime` before this (µs since the epoch) are past retention.
    retention_cutoff_micros: i64,
    selectors: Option<Vec<AdvancedEventSelector>>,
    /// The table was created when `eventjsonchecksum` was stored: its files must still get it.
    legacy_checksum: bool,
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
        let props = parquet::writer_properties(&config.parquet());
        let legacy_checksum = crate::store::table::stores_checksum(&table);
        let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(rec.retention_period));
        Self {
            store,
            rec,
            table,
            config,
            props,
            run_id,
            days: BTreeMap::new(),
            buffered_bytes: 0,
            uncommitted_bytes: 0,
            decoded_bytes: 0,
            batch_seq: 0,
            encoders: JoinSet::new(),
            encoded: Encoded::default(),
            seen: HashMap::new(),
            seen_total: 0,
            done: Vec::new(),
            quarantine: Vec::new(),
            quarantine_bytes: 0,
            quarantine_files: 0,
            retention_cutoff_micros: cutoff.timestamp_micros(),
            selectors,
            legacy_checksum,
            report: IngestReport::default(),
        }
    }

    /// Drops events already past the store's retention, then those its selectors exclude.
    fn admit(&mut self, batch: RecordBatch) -> Result<RecordBatch, IngestError> {
        let times = batch
            .column_by_name("eventtime")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| IngestError::Internal("decoded batch without eventtime".into()))?;
        let cutoff = self.retention_cutoff_micros;
        let fresh: BooleanArray = times.iter().map(|t| Some(t.is_some_and(|t| t >= cutoff))).collect();
        let kept = fresh.true_count();
        self.report.expired += (batch.num_rows() - kept) as u64;
        let batch = if kept == batch.num_rows() { batch } else { filter_record_batch(&batch, &fresh)? };
        let Some(sel) = &self.selectors else { return Ok(batch) };
        let keep = selectors::mask(sel, &batch)?;
        let n = keep.true_count();
        self.report.filtered += (batch.num_rows() - n) as u64;
        Ok(if n == batch.num_rows() { batch } else { filter_record_batch(&batch, &keep)? })
    }

    pub async fn handle(&mut self, msg: ToWriter) -> Result<(), IngestError> {
        match msg {
            ToWriter::Batch(batch) => {
                let batch = self.admit(batch)?;
                self.buffer(batch).await?;
                // Normally the decode threads stop once a commit is due and the caller commits
                // (`commit_due`); a single huge source does not stop, so memory is bounded here.
                let over = |bytes: usize, limit: usize| bytes >= limit + limit / 4;
                if over(self.uncommitted_bytes, self.config.commit_bytes)
                    || over(self.buffered_bytes, self.config.buffer_bytes)
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
                self.quarantine_bytes += item.raw.as_ref().map_or(0, String::len)
                    + item.raw_base64.as_ref().map_or(0, String::len)
                    + item.reason.len();
                self.quarantine.push(item);
                if self.quarantine_bytes >= QUARANTINE_BUFFER_BYTES {
                    // A flood of bad input must not fill memory: write it out now.
                    self.write_quarantine().await?;
                }
            }
            ToWriter::SourceDone(r) => {
                self.report.files += 1;
                self.report.insights_skipped += r.insights;
                self.report.digests_skipped += r.digests;
                if r.failed {
                    self.report.files_failed += 1;
                }
                self.done.push(r);
            }
        }
        Ok(())
    }

    /// Files each row of `batch` under its day, unless its event is already stored or was
    /// seen earlier in this run. Rows are not copied here: each day keeps the batches its rows
    /// lie in and gathers them, in time order, when it is encoded.
    async fn buffer(&mut self, batch: RecordBatch) -> Result<(), IngestError> {
        let days = day_values(&batch)?;
        let runs = day_runs(&days);
        for &(day, _) in &runs {
            if !self.seen.contains_key(&day) {
                let existing = self.load_day_keys(day).await?;
                self.seen_total += existing.len();
                self.seen.insert(day, existing);
            }
        }
        let keys = event_keys(&batch)?;
        let batch_bytes = batch.get_array_memory_size();
        self.decoded_bytes += batch_bytes;
        self.batch_seq += 1;
        let mut kept = 0usize;
        let mut start = 0usize;
        for (day, end) in runs {
            let seen = self.seen.entry(day).or_default();
            let fresh: Vec<u32> = (start..end).filter(|&row| seen.insert(keys[row])).map(|row| row as u32).collect();
            start = end;
            // A day gets an entry only with a row to write (a re-run adds no empty files).
            if fresh.is_empty() {
                continue;
            }
            let rows = self.days.entry(day).or_default();
            if rows.last_seq != self.batch_seq {
                rows.batches.push(batch.clone());
                rows.last_seq = self.batch_seq;
            }
            let b = (rows.batches.len() - 1) as u32;
            // A batch's memory is shared by its days: each carries its share.
            let bytes = batch_bytes * fresh.len() / batch.num_rows().max(1);
            rows.bytes += bytes;
            rows.touched = self.decoded_bytes;
            rows.rows.extend(fresh.iter().map(|&r| (b, r)));
            kept += fresh.len();
            self.buffered_bytes += bytes;
            self.uncommitted_bytes += bytes;
        }
        self.seen_total += kept;
        self.report.duplicates_skipped += (batch.num_rows() - kept) as u64;
        Ok(())
    }

    /// Starts encoding the days that have gone quiet, oldest first. With every core already
    /// encoding, waits for one to finish: decoding pauses rather than buffer without bound.
    async fn encode_quiet_days(&mut self) -> Result<(), IngestError> {
        while let Some(joined) = self.encoders.try_join_next() {
            self.take_encoded(joined)?;
        }
        while let Some(day) = quiet_day(&self.days, self.decoded_bytes, self.config.quiet_bytes) {
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
        let Some(rows) = self.days.remove(&day) else { return Ok(()) };
        self.buffered_bytes -= rows.bytes;
        tracing::trace!(
            "encoding day {day}: {} rows, {} MiB; {} MiB still buffered, {} encoders running",
            rows.rows.len(),
            rows.bytes >> 20,
            self.buffered_bytes >> 20,
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

    /// Dedup keys of the events already stored for one day. Reads the `eventid` column; only a
    /// file holding events without an id is read again with their text.
    async fn load_day_keys(&self, day: i32) -> Result<FxHashSet<u128>, IngestError> {
        let mut keys = FxHashSet::default();
        let Ok(snap) = self.table.snapshot() else { return Ok(keys) };
        let part = schema::cloudtrail().partition_column();
        let day_str = day_string(day);
        let files: Vec<String> = snap
            .log_data()
            .iter()
            .filter(|f| f.partition_values_map().get(part).cloned().flatten().as_deref() == Some(day_str.as_str()))
            .map(|f| f.path().into_owned())
            .collect();
        let store = self.table.log_store().object_store(None);
        for path in files {
            let path = object_store::path::Path::from_url_path(&path)
                .map_err(|e| IngestError::Internal(format!("bad file path {path}: {e}")))?;
            let mut without_id = false;
            for b in read_columns(&store, &path, &["eventid"]).await? {
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
                for b in read_columns(&store, &path, &columns).await? {
                    keys.extend(event_keys(&b)?);
                }
            }
        }
        Ok(keys)
    }

    /// Writes the buffered quarantine items to a new file of this run.
    async fn write_quarantine(&mut self) -> Result<(), IngestError> {
        if self.quarantine.is_empty() {
            return Ok(());
        }
        self.quarantine_files += 1;
        let name = format!("{}-{:04}", self.run_id, self.quarantine_files);
        let path = self.store.quarantine_path(&self.rec.id, &name);
        let mut body = Vec::new();
        for item in self.quarantine.drain(..) {
            serde_json::to_writer(&mut body, &item).map_err(|e| IngestError::Internal(e.to_string()))?;
            body.push(b'\n');
        }
        self.quarantine_bytes = 0;
        self.store.objects().put(&path, PutPayload::from(body)).await.map_err(crate::store::StoreError::from)?;
        self.report.quarantine_files.push(self.store.display_path(&path));
        Ok(())
    }

    /// A commit's worth was decoded, or too much waits unencoded: time to stop decoding and
    /// [`flush`](Self::flush).
    pub fn commit_due(&self) -> bool {
        self.uncommitted_bytes >= self.config.commit_bytes || self.buffered_bytes >= self.config.buffer_bytes
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
        let days: Vec<i32> = self.days.keys().copied().collect();
        for day in days {
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
        let ledger =
            CommitLedger { sources: done.iter().filter(|r| !r.unreadable).map(|r| r.key.clone()).collect(), events };
        if actions.is_empty() && ledger.sources.is_empty() {
            return Ok(());
        }
        let metadata = serde_json::to_value(&ledger).map_err(|e| IngestError::Internal(e.to_string()))?;
        let props = CommitProperties::default()
            .with_metadata([(COMMIT_INFO_KEY.to_string(), metadata)])
            .with_cleanup_expired_logs(Some(false));
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![schema::cloudtrail().partition_column().to_string()]),
            predicate: None,
        };
        CommitBuilder::from(props)
            .with_actions(actions)
            .build(Some(self.table.snapshot()?), self.table.log_store(), operation)
            .await?;
        self.table.update_state().await?;
        self.report.events_added += events;
        self.report.commits += 1;
        if self.seen_total > SEEN_KEYS_LIMIT {
            // Everything in `seen` is committed now, so it can be re-read from the table.
            self.seen.clear();
            self.seen_total = 0;
        }
        Ok(())
    }
}

/// One event day's rows waiting to be encoded.
#[derive(Default)]
struct DayRows {
    /// The decoded batches holding the day's rows (a batch may hold other days' rows too).
    batches: Vec<RecordBatch>,
    /// (index into `batches`, row) of each row to store, in arrival order.
    rows: Vec<(u32, u32)>,
    /// This day's share of the batches' memory.
    bytes: usize,
    /// The writer's `decoded_bytes` when a row of this day last arrived.
    touched: usize,
    /// Sequence number of the last batch in `batches`.
    last_seq: u64,
}

/// Files written for the next commit and the events in them.
#[derive(Default)]
struct Encoded {
    adds: Vec<deltalake::kernel::Add>,
    events: u64,
}

/// The oldest day no row arrived for while `quiet` more bytes were decoded (`now` is the
/// decoded bytes so far).
fn quiet_day(days: &BTreeMap<i32, DayRows>, now: usize, quiet: usize) -> Option<i32> {
    days.iter().find(|(_, d)| now - d.touched >= quiet).map(|(&day, _)| day)
}

fn parallelism() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Writes one day's rows, sorted by `eventtime`, into its partition; returns the new files.
async fn encode_day(
    mut writer: RecordBatchWriter,
    day: i32,
    day_rows: DayRows,
    legacy_checksum: bool,
) -> Result<Encoded, IngestError> {
    let mut partition = IndexMap::new();
    partition.insert(schema::cloudtrail().partition_column().to_string(), delta_kernel::expressions::Scalar::Date(day));
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

fn day_string(day: i32) -> String {
    chrono::NaiveDate::from_epoch_days(day).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

/// The event day of each row of a decoded batch.
fn day_values(batch: &RecordBatch) -> Result<Vec<i32>, IngestError> {
    batch
        .column_by_name(schema::cloudtrail().partition_column())
        .and_then(|c| c.as_primitive_opt::<Date32Type>())
        .map(|d| d.values().to_vec())
        .ok_or_else(|| IngestError::Internal("batch without a day column".into()))
}

/// Runs of equal days: (day, end of the run). Decoded batches come in long runs, as sources
/// mostly hold one day each.
fn day_runs(days: &[i32]) -> Vec<(i32, usize)> {
    let mut runs: Vec<(i32, usize)> = Vec::new();
    for (i, &d) in days.iter().enumerate() {
        match runs.last_mut() {
            Some((day, end)) if *day == d => *end = i + 1,
            _ => runs.push((d, i + 1)),
        }
    }
    runs
}

/// Some columns of one data file.
async fn read_columns(
    store: &Arc<dyn object_store::ObjectStore>,
    path: &object_store::path::Path,
    names: &[&str],
) -> Result<Vec<RecordBatch>, IngestError> {
    // Deprecated upstream in favour of hand-written readers; still the simplest correct one.
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(Arc::clone(store), path.clone());
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), names.iter().copied());
    Ok(builder.with_projection(mask).build()?.try_collect().await?)
}

/// One key per row identifying the event: its `eventID` (a UUID), else a hash of it, else a
/// hash of the original event text (`batch` then holds the columns that text refers to).
fn event_keys(batch: &RecordBatch) -> Result<Vec<u128>, IngestError> {
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
    use super::*;
    use datafusion::arrow::array::{Date32Array, Int32Array};

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

    #[test]
    fn rows_are_filed_by_day_runs() {
        assert_eq!(day_runs(&[]), vec![]);
        assert_eq!(day_runs(&[5, 5, 6, 5, 5]), vec![(5, 2), (6, 3), (5, 5)]);

        let days = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(schema::cloudtrail().partition_column(), DataType::Date32, false)])),
            vec![Arc::new(Date32Array::from(vec![3, 4]))],
        )
        .expect("batch");
        assert_eq!(day_values(&days).ok(), Some(vec![3, 4]));
        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, false)])),
            vec![Arc::new(Int32Array::from(vec![1]))],
        )
        .expect("batch");
        assert!(day_values(&other).is_err(), "a batch without a day column is an internal error");
    }
}
