//! Quarantine: every record or file that could not be ingested is written, with the reason
//! and its position, under `<store>/quarantine/<eds-id>/`, one NDJSON file per commit.

use base64::Engine as _;
use serde::Serialize;

use super::sources::SourceObject;

#[derive(Debug, Clone, Serialize)]
pub struct QuarantineItem {
    /// The source object (path or `s3://` URI).
    pub source: String,
    /// Byte offset in the decompressed content.
    pub offset: u64,
    /// 1-based record number within the source, when the problem is one record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    pub reason: String,
    /// The record's text (up to 64 KiB) when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The record's bytes, base64, when it is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    /// Whole-file problems: the rest of the file could not be read.
    pub whole_file: bool,
}

impl QuarantineItem {
    pub fn record(src: &SourceObject, offset: u64, record: u64, reason: String, raw: &[u8]) -> Self {
        let (raw, raw_base64) = match std::str::from_utf8(raw) {
            Ok(s) if !s.is_empty() => (Some(s.to_string()), None),
            Ok(_) => (None, None),
            Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(raw))),
        };
        Self { source: src.display.clone(), offset, record: Some(record), reason, raw, raw_base64, whole_file: false }
    }

    pub fn file(src: &SourceObject, offset: u64, reason: String) -> Self {
        Self {
            source: src.display.clone(),
            offset,
            record: None,
            reason,
            raw: None,
            raw_base64: None,
            whole_file: true,
        }
    }

    /// One line for the user: where and why.
    pub fn message(&self) -> String {
        match self.record {
            Some(n) => format!("{}: record {n} at byte {}: {}", self.source, self.offset, self.reason),
            None => format!("{}: at byte {}: {}", self.source, self.offset, self.reason),
        }
    }
}

/// Rejected input buffered before it is written to a quarantine file.
const BUFFER_BYTES: usize = 32 * 1024 * 1024;

/// Quarantine items waiting to be written: flushed before each commit (once the ledger names a
/// source, its rejects must already be kept) and whenever `BUFFER_BYTES` of them wait, so a
/// flood of bad input cannot fill memory.
#[derive(Default)]
pub(crate) struct QuarantineBuffer {
    items: Vec<QuarantineItem>,
    bytes: usize,
    /// Files this run wrote (they are numbered).
    files: u32,
}

impl QuarantineBuffer {
    /// Keeps `item`; true when enough waits that it should be written now.
    pub(crate) fn push(&mut self, item: QuarantineItem) -> bool {
        self.bytes += item.raw.as_ref().map_or(0, String::len)
            + item.raw_base64.as_ref().map_or(0, String::len)
            + item.reason.len();
        self.items.push(item);
        self.bytes >= BUFFER_BYTES
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Writes what waits to a new NDJSON file of this run under the store's quarantine area;
    /// returns the file as the user sees it (None when nothing waited).
    pub(crate) async fn write(
        &mut self,
        store: &crate::store::Store,
        eds: &crate::store::EdsId,
        run_id: &str,
    ) -> Result<Option<String>, super::IngestError> {
        use object_store::ObjectStoreExt as _;
        if self.items.is_empty() {
            return Ok(None);
        }
        self.files += 1;
        let name = format!("{run_id}-{:04}", self.files);
        let path = store.quarantine_path(eds, &name);
        let mut body = Vec::new();
        for item in self.items.drain(..) {
            serde_json::to_writer(&mut body, &item).map_err(|e| super::IngestError::Internal(e.to_string()))?;
            body.push(b'\n');
        }
        self.bytes = 0;
        store
            .objects()
            .put(&path, object_store::PutPayload::from(body))
            .await
            .map_err(crate::store::StoreError::from)?;
        Ok(Some(store.display_path(&path)))
    }
}
