//! Ingest: trail files → an event data store, exactly once.
//!
//! Pipeline (one way, bounded at every step):
//! `sources` lists objects in delivery order and drops those the ledger already holds →
//! a feeder fetches them → one `worker` per core splits (`split`, tokenizing each record in the
//! same pass: `tape`) and decodes (`decode`) them into Arrow batches →
//! the `writer` drops already-stored events, sorts each day by `eventtime`, encodes each day to
//! Parquet once it is complete (while decoding goes on) and commits the files plus the ledger of
//! completed sources in one Delta commit per few hundred MB.

pub mod decode;
pub mod digests;
pub mod follow;
mod gunzip;
pub mod kinds;
pub mod progress;
pub mod quarantine;
pub mod sources;
pub mod split;
pub mod time;
pub mod worker;
pub mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::human::human_bytes;
use crate::schema::Kind;
use crate::store::{table, EdsRecord, EdsStatus, Store, StoreError};
pub use writer::{WriterConfig, DEFAULT_COMMIT_MB};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read source {source_name}: {reason}")]
    Source { source_name: String, reason: String },
    #[error("event data store {name} is {status}: {hint}")]
    NotIngestible { name: String, status: EdsStatus, hint: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Delta table error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("Arrow error: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("Parquet error: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error(transparent)]
    EventText(#[from] crate::schema::event_text::EventTextError),
    #[error("{0}")]
    MixedKinds(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What an ingest run did.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    pub eds_id: String,
    pub eds_name: String,
    /// The store's kind.
    pub kind: crate::schema::Kind,
    /// Sources read in this run.
    pub files: u64,
    pub events_added: u64,
    /// Sources skipped because the ledger says they were ingested before.
    pub sources_already_ingested: u64,
    /// Events dropped because the store already held them (same `eventID`).
    pub duplicates_skipped: u64,
    pub quarantined_records: u64,
    /// Sources that could not be read to their end.
    pub files_failed: u64,
    /// Events not stored because an advanced event selector excluded them.
    pub filtered: u64,
    /// Events not stored because their `eventTime` is already past the store's retention.
    pub expired: u64,
    /// CloudTrail Insights records met by a store of another kind.
    pub insights_skipped: u64,
    /// Other records not of the store's kind (CloudTrail events met by an Insights store).
    pub other_kinds_skipped: u64,
    /// Sources not read because their delivery folder holds another kind (`CloudTrail/` files
    /// for an Insights store).
    pub sources_other_kind: u64,
    pub digests_skipped: u64,
    /// `--validate`: sources whose hash matched a valid digest.
    pub files_validated: u64,
    /// `--validate`: sources no digest names.
    pub files_not_covered: u64,
    /// `--validate`: sources whose hash did not match, or whose digest failed its own checks
    /// (quarantined unless `--allow-invalid`).
    pub files_invalid: u64,
    /// `--validate`: digests that failed their own checks (signature, location, chain).
    pub digests_invalid: u64,
    /// Files inside folders that are not trail files by name (README, LICENSE, …).
    pub ignored_files: u64,
    pub input_bytes: u64,
    pub stored_bytes: u64,
    pub files_written: u64,
    pub commits: u64,
    pub elapsed_seconds: f64,
    pub events_per_second: f64,
    pub quarantine_files: Vec<String>,
    #[serde(skip)]
    pub messages: Vec<String>,
    /// When the most recently written source read was written (`--follow` reports the lag).
    #[serde(skip)]
    pub newest_source: Option<std::time::SystemTime>,
}

impl IngestReport {
    /// Exit status per the command-line contract: 0 all ingested, 3 some input quarantined,
    /// 1 nothing could be ingested.
    pub fn exit_code(&self) -> i32 {
        if self.quarantined_records == 0 {
            0
        } else if self.events_added == 0 && self.duplicates_skipped == 0 {
            // Something was wrong and no event in this run was usable.
            1
        } else {
            3
        }
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "ingested into {} ({}): {} files, {} events added, {} already-ingested sources skipped, \
             {} duplicate events skipped, {} quarantined, {} filtered by selectors, {} past retention, \
             {} Insights events and {} digests skipped\n\
             input {} → stored {} in {} files, {} commits; {:.2}s, {:.0} events/s",
            self.eds_name,
            self.eds_id,
            self.files,
            self.events_added,
            self.sources_already_ingested,
            self.duplicates_skipped,
            self.quarantined_records,
            self.filtered,
            self.expired,
            self.insights_skipped,
            self.digests_skipped,
            human_bytes(self.input_bytes),
            human_bytes(self.stored_bytes),
            self.files_written,
            self.commits,
            self.elapsed_seconds,
            self.events_per_second,
        );
        if self.files_validated + self.files_not_covered + self.files_invalid > 0 {
            s.push_str(&format!(
                "\nlog file validation: {} files valid against their digests, {} not covered by any digest, {} invalid; \
                 {} digests failed their own checks",
                self.files_validated, self.files_not_covered, self.files_invalid, self.digests_invalid
            ));
        }
        if self.other_kinds_skipped > 0 {
            s.push_str(&format!(
                "\n{} events of another kind skipped (this store holds {} events only)",
                self.other_kinds_skipped, self.kind
            ));
        }
        if self.ignored_files > 0 {
            s.push_str(&format!("\n{} files in folders ignored (not trail-file names)", self.ignored_files));
        }
        for q in &self.quarantine_files {
            s.push_str(&format!("\nquarantine: {q}"));
        }
        if self.quarantined_records > 0 {
            s.push_str(
                "\nquarantined input is kept with the reason for each record; fix the source and ingest it again \
                 (events already stored are not added twice)",
            );
        }
        s
    }
}

#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    pub writer: WriterConfig,
    /// Decode threads; 0 = one per core.
    pub threads: usize,
    pub progress: bool,
    /// Validate each source against the CloudTrail digests among the sources.
    pub validate: bool,
    /// With `validate`: ingest invalid sources anyway (their status is recorded).
    pub allow_invalid: bool,
    /// With `validate`: keys to check the digests' signatures with.
    pub public_keys: crate::keys::PublicKeys,
    /// The channel (name or ARN) events from outside AWS arrive on (default: the store's name).
    pub channel: Option<String>,
    /// Kinds of the sources another run takes care of (`ingest --config-eds …`): their
    /// delivery folders are skipped here rather than refused.
    pub routed: Vec<Kind>,
    /// Sources written less than this long ago are left for a later run (`--follow`: a file
    /// still being copied in is not read half-written).
    pub settle: Duration,
    /// An `s3://` prefix holding nothing lists nothing rather than failing (`--follow`).
    pub empty_ok: bool,
    /// Set to stop after the commit under way (Ctrl-C in `--follow`); the sources not yet
    /// committed are read by the next run.
    pub stop: Option<Arc<AtomicBool>>,
}

/// Ingests `sources` into the EDS named `eds` (or the default EDS): one pass of named steps.
pub async fn ingest(
    store: &Store,
    eds: Option<&str>,
    sources: &[String],
    options: IngestOptions,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let _memory = crate::allocator::IngestMemory::new();
    let rec = ingestible(store, eds).await?;
    // One ingest per event data store at a time: two runs reading the same sources at once
    // would each think the other's events are new.
    let _lock = store
        .lock(&format!("ingest-{}", rec.id), || {
            tracing::warn!("another ingest into this event data store is running; waiting for it to finish")
        })
        .await?;
    let tbl = table::open(store, &rec).await?;
    let plan = plan(&tbl, &rec, sources, &options).await?;

    let counters = Arc::new(progress::Counters::default());
    let progress = progress::Progress::start(plan.todo.len() as u64, Arc::clone(&counters), options.progress);
    let run_id =
        format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let selectors = rec.selectors().map_err(|e| IngestError::Store(StoreError::Invalid(e.to_string())))?;
    let mut writer =
        writer::Writer::new(store, &rec, tbl, options.writer.clone(), run_id, selectors).with_signer(rec.signer()?);
    let (feeder, jobs) = feed(plan.todo);
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    let shape = kinds::ShapeContext::new(options.channel.as_deref().unwrap_or(&rec.name), chrono::Utc::now());
    let stop = options.stop.clone().unwrap_or_default();
    let decoded =
        decode_and_commit(&mut writer, (rec.kind, shape), jobs, threads, counters, plan.validation, stop).await;
    feeder.abort();
    decoded?;
    progress.finish();
    Ok(final_report(writer.report, plan.before, started))
}

/// Stores `records` (event JSON texts) in the EDS named `eds` as one source named `key`,
/// exactly once like any source: a key already in the ledger adds nothing, and events already
/// stored (same `eventID`) are skipped. For events made rather than read (detected Insights).
pub async fn ingest_records(
    store: &Store,
    eds: &str,
    key: &str,
    records: &[String],
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let rec = ingestible(store, Some(eds)).await?;
    let _lock = store
        .lock(&format!("ingest-{}", rec.id), || {
            tracing::warn!("another ingest into this event data store is running; waiting for it to finish")
        })
        .await?;
    let tbl = table::open(store, &rec).await?;
    let before =
        IngestReport { eds_id: rec.id.to_string(), eds_name: rec.name.clone(), kind: rec.kind, ..Default::default() };
    if table::ingested_sources(&tbl).await?.contains(key) {
        let report = IngestReport { sources_already_ingested: 1, ..before.clone() };
        return Ok(final_report(report, before, started));
    }
    let run_id = format!("{}-records", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let selectors = rec.selectors().map_err(|e| IngestError::Store(StoreError::Invalid(e.to_string())))?;
    let mut writer =
        writer::Writer::new(store, &rec, tbl, WriterConfig::default(), run_id, selectors).with_signer(rec.signer()?);
    let mut builder = decode::EventBatchBuilder::new(rec.kind);
    let mut report = worker::SourceReport { key: key.to_string(), display: key.to_string(), ..Default::default() };
    for (i, text) in records.iter().enumerate() {
        match builder.push(text.as_bytes()) {
            decode::Outcome::Stored => report.events += 1,
            decode::Outcome::OtherKind(_) => report.other_kinds += 1,
            // Our own records: a rejection is a defect, not bad input.
            decode::Outcome::Rejected(why) => {
                return Err(IngestError::Internal(format!("record {i} of {key} was rejected: {why}")))
            }
        }
    }
    if builder.rows() > 0 {
        writer.handle(worker::ToWriter::Batch(builder.finish()?)).await?;
    }
    writer.handle(worker::ToWriter::SourceDone(report)).await?;
    writer.flush().await?;
    Ok(final_report(writer.report, before, started))
}

/// The store to ingest into, if it accepts events.
async fn ingestible(store: &Store, eds: Option<&str>) -> Result<EdsRecord, IngestError> {
    let rec = store.resolve_or_default(eds).await?;
    match rec.status {
        EdsStatus::Enabled => Ok(rec),
        status => Err(IngestError::NotIngestible {
            name: rec.name.clone(),
            status,
            hint: match status {
                EdsStatus::StoppedIngestion => {
                    format!("ingestion was stopped; `traillake eds start-ingestion {}` accepts events again", rec.name)
                }
                _ => format!("it accepts no events; `traillake eds restore {}` brings it back first", rec.name),
            },
        }),
    }
}

/// What a run will read: the listed sources the ledger does not hold yet, in delivery order,
/// and the report's figures known before decoding.
struct Plan {
    todo: Vec<sources::SourceObject>,
    before: IngestReport,
    validation: Option<worker::Validation>,
}

async fn plan(
    tbl: &deltalake::DeltaTable,
    rec: &EdsRecord,
    sources: &[String],
    options: &IngestOptions,
) -> Result<Plan, IngestError> {
    let ledger = table::ingested_sources(tbl).await?;
    let listing = sources::list(sources, options.empty_ok).await?;
    let (validation, digests_invalid) = match options.validate {
        true => validation(&listing.objects, options).await?,
        false => (None, 0),
    };
    let mut before = IngestReport {
        eds_id: rec.id.to_string(),
        eds_name: rec.name.clone(),
        kind: rec.kind,
        ignored_files: listing.ignored.len() as u64,
        digests_invalid,
        ..Default::default()
    };
    let mut todo = Vec::new();
    let mut unrouted = std::collections::BTreeSet::new();
    let settled_before = std::time::SystemTime::now() - options.settle;
    for o in listing.objects {
        if ledger.contains(&o.key) {
            before.sources_already_ingested += 1;
        } else if !options.settle.is_zero() && o.modified.is_some_and(|m| m > settled_before) {
            // Still being written, perhaps: the next run reads it.
        } else if o.digest_by_path {
            before.digests_skipped += 1;
        } else if let Some(k) = sources::kind_by_path(&o.key).filter(|&k| other_folder(rec.kind, k)) {
            // A store reads only its own delivery folders of an `AWSLogs/` tree; the others'
            // are another run's (`ingest --config-eds …`) or refused below.
            if rec.kind == Kind::Cloudtrail && !options.routed.contains(&k) {
                unrouted.insert(k);
            }
            before.sources_other_kind += 1;
        } else {
            before.input_bytes += o.size;
            before.newest_source = before.newest_source.max(o.modified);
            todo.push(o);
        }
    }
    if !unrouted.is_empty() {
        let found: Vec<String> = unrouted.iter().map(|k: &Kind| format!("{} ({})", k.event_category(), k)).collect();
        let flags: Vec<String> = unrouted.iter().map(|k| format!("--{k}-eds NAME")).collect();
        return Err(IngestError::MixedKinds(format!(
            "the sources hold records of other kinds than {}'s CloudTrail events: {}; name a store for each with {} \
             (`traillake eds create NAME --kind KIND`), or ingest only the CloudTrail/ folders",
            rec.name,
            found.join(", "),
            flags.join(" ")
        )));
    }
    Ok(Plan { todo, before, validation })
}

/// Whether a delivery folder of kind `folder` is not read by a store of kind `store`. A
/// CloudTrail store reads `CloudTrail-Insight/` too, counting its records as Insights skipped.
fn other_folder(store: Kind, folder: Kind) -> bool {
    folder != store && !(store == Kind::Cloudtrail && folder == Kind::Insights)
}

/// `--validate`: the digests among the sources checked (signature, location, chain) and each
/// log file's expected hash; the hashing itself happens as the decode threads read the files.
async fn validation(
    objects: &[sources::SourceObject],
    options: &IngestOptions,
) -> Result<(Option<worker::Validation>, u64), IngestError> {
    use digests::validate::{check_digests, expectations, Catalogue, ValidateOptions, Verdict};
    let opts = ValidateOptions { keys: options.public_keys.clone(), chain_heads_only: true, ..Default::default() };
    let catalogue = Catalogue::from_objects(objects.to_vec(), &opts).await?;
    let (report, named) = check_digests(&catalogue, &opts);
    let bad: Vec<_> = report.digests.iter().filter(|d| d.verdict != Verdict::Valid).collect();
    for d in bad.iter().take(20) {
        tracing::warn!("digest {} failed validation: {}", d.file, d.reasons.join("; "));
    }
    let expected = Arc::new(expectations(&named));
    Ok((Some(worker::Validation { expected, allow_invalid: options.allow_invalid }), bad.len() as u64))
}

/// The feeder: fetches the sources, a few in flight so S3 latency overlaps decoding, and
/// queues them for the decode threads.
fn feed(todo: Vec<sources::SourceObject>) -> (tokio::task::JoinHandle<()>, Jobs) {
    let (work_tx, work_rx) = mpsc::channel::<(sources::SourceObject, std::io::Result<sources::Fetched>)>(4);
    let feeder = tokio::spawn(async move {
        let mut fetched = futures::stream::iter(todo)
            .map(|o| async move {
                let f = o.fetch().await;
                (o, f)
            })
            .buffered(4);
        while let Some(job) = fetched.next().await {
            if work_tx.send(job).await.is_err() {
                break;
            }
        }
    });
    (feeder, Arc::new(Mutex::new(work_rx)))
}

/// Decodes every queued source and commits, in generations, one per commit: once a commit's
/// worth has been decoded (the writer encodes quiet days meanwhile), the decode threads finish
/// their current source, hand over what they built and end; the days still open are then
/// encoded and the commit written while no decode thread lives. An allocator can give the
/// memory of a thread that ended to the encoders, but not that of a thread blocked waiting to
/// send: this spares the encoders fresh memory, the costliest thing an ingest touches here
/// (alternating A/B runs on the bench trail: ~10% faster, 80 MB less peak RSS).
async fn decode_and_commit(
    writer: &mut writer::Writer<'_>,
    (kind, shape): (Kind, kinds::ShapeContext),
    jobs: Jobs,
    threads: usize,
    counters: Arc<progress::Counters>,
    validation: Option<worker::Validation>,
    stop: Arc<AtomicBool>,
) -> Result<(), IngestError> {
    let commit_due = Arc::new(AtomicBool::new(false));
    let sources_left = Arc::new(AtomicBool::new(true));
    let mut idle: Vec<worker::Worker> = Vec::new();
    while sources_left.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
        let generation = Instant::now();
        commit_due.store(false, Ordering::Relaxed);
        let (out_tx, mut out_rx) = mpsc::channel::<worker::ToWriter>(4);
        let mut handles = Vec::new();
        for i in 0..threads {
            let w = match idle.pop() {
                Some(w) => w.reconnect(out_tx.clone()),
                None => {
                    worker::Worker::new(kind, shape.clone(), out_tx.clone(), Arc::clone(&counters), validation.clone())
                }
            };
            handles.push(spawn_decoder(i, w, Arc::clone(&jobs), Arc::clone(&commit_due), Arc::clone(&sources_left))?);
        }
        drop(out_tx);
        let mut result = Ok(());
        while let Some(msg) = out_rx.recv().await {
            if let Err(e) = writer.handle(msg).await {
                result = Err(e);
                break;
            }
            if writer.commit_due() || stop.load(Ordering::Relaxed) {
                commit_due.store(true, Ordering::Relaxed);
            }
        }
        // On a writer error, closing the channel stops the workers at their next send.
        drop(out_rx);
        for h in handles {
            match tokio::task::spawn_blocking(move || h.join()).await {
                Ok(Ok(w)) => idle.push(w),
                _ => result = result.and(Err(IngestError::Internal("a decode thread failed".into()))),
            }
        }
        result?;
        let decoded = generation.elapsed();
        writer.flush().await?;
        tracing::debug!(
            "generation: decoded in {:.3}s, committed in {:.3}s",
            decoded.as_secs_f64(),
            (generation.elapsed() - decoded).as_secs_f64()
        );
    }
    Ok(())
}

/// The writer's report completed with what was known before decoding, and the pace.
fn final_report(mut report: IngestReport, before: IngestReport, started: Instant) -> IngestReport {
    report.eds_id = before.eds_id;
    report.eds_name = before.eds_name;
    report.kind = before.kind;
    report.sources_other_kind = before.sources_other_kind;
    report.sources_already_ingested = before.sources_already_ingested;
    report.digests_skipped += before.digests_skipped;
    report.digests_invalid = before.digests_invalid;
    report.ignored_files = before.ignored_files;
    report.input_bytes = before.input_bytes;
    report.newest_source = before.newest_source;
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    report.elapsed_seconds = elapsed.as_secs_f64();
    report.events_per_second = report.events_added as f64 / elapsed.as_secs_f64();
    report
}

/// Sources waiting for a decode thread (fetched, or the error fetching them).
type Jobs = Arc<Mutex<mpsc::Receiver<(sources::SourceObject, std::io::Result<sources::Fetched>)>>>;

/// Starts decode thread `i` of a generation: it decodes sources until a commit is due or none
/// are left (then clears `sources_left`), sends what it built, and gives its worker back.
fn spawn_decoder(
    i: usize,
    mut w: worker::Worker,
    jobs: Jobs,
    commit_due: Arc<AtomicBool>,
    sources_left: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<worker::Worker>, IngestError> {
    std::thread::Builder::new()
        .name(format!("traillake-decode-{i}"))
        .spawn(move || {
            while !commit_due.load(Ordering::Relaxed) {
                let job = match jobs.lock() {
                    Ok(mut r) => r.blocking_recv(),
                    Err(_) => None,
                };
                let Some((src, fetched)) = job else {
                    sources_left.store(false, Ordering::Relaxed);
                    break;
                };
                if !w.process(&src, fetched) {
                    return w.disconnect();
                }
            }
            w.flush();
            w.disconnect()
        })
        .map_err(|e| IngestError::Internal(format!("cannot start a decode thread: {e}")))
}
