//! Detections over what ingest stores: EventBridge-style rules evaluated on the events each
//! ingest commit added (`alerts`, delivered to a file or stdout and a webhook: `webhook`), read
//! back from the committed files (`events`) so an alert is made only for an event that is
//! stored, exactly once per event and rule across restarts; and Sigma rules run as Lake SQL
//! over a store (`sigma`, `traillake detect`).

pub mod alerts;
pub mod events;
pub mod sigma;
pub mod webhook;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A rules file the user gave is not usable.
    #[error("{0}")]
    Rules(String),
    #[error("cannot write alerts to {path}: {reason}")]
    Output { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Parquet error: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error(transparent)]
    EventText(#[from] crate::schema::event_text::EventTextError),
    #[error("internal error: {0}")]
    Internal(String),
}
