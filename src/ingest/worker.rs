//! A decode worker: reads whole sources, splits them into records, decodes the records into
//! Arrow batches and hands batches, rejected records and per-source reports to the writer.
//! One worker runs per core; each owns its builders, so decoding needs no locks.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use tokio::sync::mpsc;

use super::decode::{EventBatchBuilder, Outcome};
use super::digests::validate::{Expectations, SourceValidation};
use super::progress::Counters;
use super::quarantine::QuarantineItem;
use super::sources::{open_decoded, Decoded, Fetched, SourceObject};
use super::split::{Piece, Splitter, QUARANTINE_PREFIX_BYTES};
use crate::schema;
use crate::tape::Doc;

/// Rows per batch handed to the writer.
const BATCH_ROWS: usize = 4 * 1024;
/// Event text per batch, so a run of 1 MB events does not make a huge batch.
const BATCH_JSON_BYTES: usize = 8 * 1024 * 1024;

/// What a worker sends the writer.
pub enum ToWriter {
    Batch(RecordBatch),
    Quarantine(QuarantineItem),
    /// Every row of this source has been sent before this message.
    SourceDone(SourceReport),
}

/// What one source contained.
#[derive(Debug, Default, Clone)]
pub struct SourceReport {
    pub key: String,
    pub display: String,
    pub events: u64,
    pub insights: u64,
    /// Records of a kind other than the store's and not Insights (CloudTrail events met by an
    /// Insights store).
    pub other_kinds: u64,
    pub digests: u64,
    pub rejected: u64,
    /// The source could not be read to its end (corrupt gzip, broken JSON structure).
    pub failed: bool,
    /// The source could not be fetched or opened at all (worth retrying: not recorded as done).
    pub unreadable: bool,
    /// With `--validate`: what its digest says of it.
    pub validation: Option<SourceValidation>,
    /// Failed validation and was quarantined whole (not recorded as done: a restored copy is
    /// read again).
    pub rejected_invalid: bool,
}

/// `ingest --validate`: each source's expected hash, and whether invalid sources are kept.
#[derive(Clone)]
pub struct Validation {
    pub expected: Expectations,
    pub allow_invalid: bool,
}

pub struct Worker {
    builder: EventBatchBuilder,
    validation: Option<Validation>,
    pending: Vec<SourceReport>,
    /// None between generations of decode threads (see `ingest::ingest`).
    tx: Option<mpsc::Sender<ToWriter>>,
    counters: Arc<Counters>,
}

impl Worker {
    pub fn new(
        kind: schema::Kind,
        shape: super::kinds::ShapeContext,
        tx: mpsc::Sender<ToWriter>,
        counters: Arc<Counters>,
        validation: Option<Validation>,
    ) -> Self {
        let builder = EventBatchBuilder::new(kind).with_shape(shape);
        Self { builder, validation, pending: Vec::new(), tx: Some(tx), counters }
    }

    /// The same worker (and its sized builders), sending to another writer channel.
    pub fn reconnect(self, tx: mpsc::Sender<ToWriter>) -> Self {
        Self { tx: Some(tx), ..self }
    }

    /// Lets go of the writer channel, so the writer sees the end of this generation's messages
    /// while the worker is kept for the next one.
    pub fn disconnect(mut self) -> Self {
        self.tx = None;
        self
    }

    fn send(&self, msg: ToWriter) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.blocking_send(msg).is_ok())
    }

    /// Sends the rows built so far, then the reports of the sources they complete.
    pub fn flush(&mut self) -> bool {
        if self.builder.rows() > 0 {
            match self.builder.finish() {
                Ok(batch) => {
                    if !self.send(ToWriter::Batch(batch)) {
                        return false;
                    }
                }
                Err(e) => {
                    // Our own builders disagree with the schema: a defect, not bad input.
                    tracing::error!("internal error building a batch: {e}");
                    return false;
                }
            }
        }
        for r in std::mem::take(&mut self.pending) {
            if !self.send(ToWriter::SourceDone(r)) {
                return false;
            }
        }
        true
    }

    /// Processes one source completely. Returns false if the writer has gone away.
    pub fn process(&mut self, src: &SourceObject, fetched: io::Result<Fetched>) -> bool {
        let mut report = SourceReport { key: src.key.clone(), display: src.display.clone(), ..Default::default() };
        let reader = fetched.and_then(open_decoded);
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                report.failed = true;
                report.unreadable = true;
                let item = QuarantineItem::file(src, 0, format!("cannot read the source: {e}"));
                self.counters.quarantined.fetch_add(1, Ordering::Relaxed);
                self.pending.push(report);
                return self.send(ToWriter::Quarantine(item));
            }
        };
        let reader = match self.validation.clone() {
            Some(v) => match self.validated(&v, src, reader, &mut report) {
                Some(r) => r,
                None => {
                    self.pending.push(report);
                    return true;
                }
            },
            None => reader,
        };
        let mut splitter = match reader {
            Decoded::Whole(data) => Splitter::whole(Box::new(io::empty()) as Box<dyn io::Read + Send>, data),
            Decoded::Stream(reader) => Splitter::new(reader),
        };
        let mut record_no: u64 = 0;
        let mut last_pos = 0u64;
        loop {
            let piece = match splitter.next_piece() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    // Corrupt compression: what was read is kept, the rest of the file is lost.
                    report.failed = true;
                    let reason = format!(
                        "cannot decompress or read past byte {} of the decompressed data: {e}",
                        splitter.position()
                    );
                    self.counters.quarantined.fetch_add(1, Ordering::Relaxed);
                    if !self.send(ToWriter::Quarantine(QuarantineItem::file(src, splitter.position(), reason))) {
                        return false;
                    }
                    break;
                }
            };
            let quarantine = match piece {
                Piece::Event { raw, offset, tokens } => {
                    record_no += 1;
                    self.push_event(raw, tokens, offset, record_no, src, &mut report)
                }
                Piece::Message { text, offset } => {
                    record_no += 1;
                    self.push_event(text.as_bytes(), None, offset, record_no, src, &mut report)
                }
                Piece::Digest { .. } => {
                    report.digests += 1;
                    None
                }
                Piece::Bad { offset, reason, raw } => {
                    record_no += 1;
                    report.rejected += 1;
                    if reason.starts_with("truncated") || reason.starts_with("invalid JSON") {
                        report.failed = true;
                    }
                    Some(QuarantineItem::record(src, offset, record_no, reason, &raw))
                }
            };
            let pos = splitter.position();
            self.counters.decoded_bytes.fetch_add(pos - last_pos, Ordering::Relaxed);
            last_pos = pos;
            if let Some(item) = quarantine {
                self.counters.quarantined.fetch_add(1, Ordering::Relaxed);
                if !self.send(ToWriter::Quarantine(item)) {
                    return false;
                }
            }
            if self.builder.rows() >= BATCH_ROWS || self.builder.json_bytes() >= BATCH_JSON_BYTES {
                // The batch may end mid-source: this source's report is only queued once the
                // source is finished, so it waits for a later batch.
                if !self.flush() {
                    return false;
                }
            }
        }
        self.counters.files.fetch_add(1, Ordering::Relaxed);
        self.pending.push(report);
        true
    }

    /// `--validate`: hashes the source's content (read whole: the hash must be known before any
    /// event of it is kept) and compares it with its digest's. `None` when it was rejected and
    /// quarantined whole; otherwise the content to decode.
    fn validated(
        &mut self,
        v: &Validation,
        src: &SourceObject,
        reader: Decoded,
        report: &mut SourceReport,
    ) -> Option<Decoded> {
        let Some(expected) = v.expected.get(&src.key) else {
            report.validation = Some(SourceValidation::NotCovered);
            return Some(reader);
        };
        let (data, damage) = reader.read_all();
        let status =
            match (damage.is_none() && crate::keys::sha256_hex(&data) == expected.sha256, expected.digest_valid) {
                (true, true) => SourceValidation::Valid,
                (true, false) => SourceValidation::DigestInvalid,
                (false, _) => SourceValidation::Invalid,
            };
        report.validation = Some(status);
        if matches!(status, SourceValidation::Valid) || v.allow_invalid {
            return Some(Decoded::Whole(data));
        }
        let why = match (status, damage) {
            (_, Some(e)) => format!("cannot be read to its end ({e}), so its hash cannot match {}", expected.digest),
            (SourceValidation::DigestInvalid, None) => {
                format!("the digest naming it, {}, failed validation (see `traillake validate-logs`)", expected.digest)
            }
            _ => format!(
                "its SHA-256 does not match the one digest {} recorded: changed after delivery",
                expected.digest
            ),
        };
        report.failed = true;
        report.rejected_invalid = true;
        self.counters.quarantined.fetch_add(1, Ordering::Relaxed);
        let reason = format!("failed log file validation: {why}; `--allow-invalid` ingests it anyway");
        if !self.send(ToWriter::Quarantine(QuarantineItem::file(src, 0, reason))) {
            return None;
        }
        None
    }

    fn push_event(
        &mut self,
        raw: &[u8],
        tokens: Option<Doc<'_>>,
        offset: u64,
        record_no: u64,
        src: &SourceObject,
        report: &mut SourceReport,
    ) -> Option<QuarantineItem> {
        match self.builder.push_tokens(raw, tokens) {
            Outcome::Stored => {
                report.events += 1;
                self.counters.events.fetch_add(1, Ordering::Relaxed);
                None
            }
            Outcome::OtherKind(schema::Kind::Insights) => {
                report.insights += 1;
                None
            }
            Outcome::OtherKind(_) => {
                report.other_kinds += 1;
                None
            }
            Outcome::Rejected(why) => {
                report.rejected += 1;
                let keep = &raw[..raw.len().min(QUARANTINE_PREFIX_BYTES)];
                Some(QuarantineItem::record(src, offset, record_no, why.to_string(), keep))
            }
        }
    }
}
