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
