//! One statement streaming its result to a client: each batch brought to the wire shape,
//! stopped at once on cancellation or at its deadline, and logged with its statistics when it
//! ends (its concurrency slot given back before the client sees the end).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::error::FlightError;
use futures::StreamExt;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tonic::Status;

use super::queries::{Phase, QueryEntry};
use super::service::status_of;
use super::wire::to_wire;
use crate::engine::{QueryStats, QueryStream};

pub(crate) struct QueryLog {
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) sql: String,
}

/// One statement streaming its result; stops on cancellation or at its deadline.
pub(crate) struct Running {
    pub(crate) stream: QueryStream,
    pub(crate) schema: SchemaRef,
    pub(crate) cancelled: watch::Receiver<bool>,
    pub(crate) deadline: tokio::time::Instant,
    pub(crate) timeout: Duration,
    pub(crate) entry: Arc<QueryEntry>,
    /// The query's concurrency slot, given back as soon as the query ends (see `finish`).
    pub(crate) slot: Option<OwnedSemaphorePermit>,
    pub(crate) done: bool,
    pub(crate) stats: Arc<Mutex<Option<QueryStats>>>,
    pub(crate) log: QueryLog,
}

impl Running {
    pub(crate) async fn next(&mut self) -> Option<Result<RecordBatch, FlightError>> {
        if self.done {
            return None;
        }
        let next = tokio::select! {
            biased;
            _ = self.cancelled.wait_for(|c| *c) => Err(Status::cancelled(format!("query {} was cancelled", self.log.id))),
            _ = tokio::time::sleep_until(self.deadline) => Err(Status::deadline_exceeded(format!(
                "query {} ran longer than {} s and was stopped (traillake serve --query-timeout); narrow the time range or the columns",
                self.log.id,
                self.timeout.as_secs()
            ))),
            b = self.stream.next() => Ok(b),
        };
        let item = match next {
            Ok(None) => {
                self.finish(None);
                return None;
            }
            Ok(Some(Ok(b))) => {
                to_wire(&b, &self.schema).map_err(|e| Status::internal(format!("result conversion: {e}")))
            }
            Ok(Some(Err(e))) => Err(status_of(e)),
            Err(status) => Err(status),
        };
        if let Err(status) = &item {
            self.finish(Some(status));
        }
        Some(item.map_err(FlightError::from))
    }

    fn finish(&mut self, failure: Option<&Status>) {
        self.done = true;
        // The slot is free before the client sees the end or the error: a client that retries
        // at once (after a timeout, say) must not be told the server is busy with its own
        // finished query, which would hold the slot until the response stream is dropped.
        self.slot = None;
        self.entry.set(Phase::Finished);
        let stats = self.stream.stats();
        let sql: String = self.log.sql.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
        match failure {
            None => tracing::info!(
                query_id = %self.log.id, user = %self.log.user, rows = stats.rows_returned,
                events_scanned = stats.events_scanned, bytes_scanned = stats.bytes_scanned,
                ms = stats.execution_time.as_millis() as u64, %sql, "query finished"
            ),
            Some(s) => tracing::warn!(
                query_id = %self.log.id, user = %self.log.user, code = ?s.code(), error = %s.message(),
                ms = stats.execution_time.as_millis() as u64, %sql, "query failed"
            ),
        }
        if let Ok(mut slot) = self.stats.lock() {
            *slot = Some(stats);
        }
    }
}
