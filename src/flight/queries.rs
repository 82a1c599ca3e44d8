//! Running statements: their ids (for `CancelFlightInfo`), the cap on how many run at once, and
//! bindings of prepared statements for clients that ignore updated handles. All tables are
//! bounded so a long-lived server's memory does not grow with the number of queries served.

use std::sync::{Arc, Mutex};

use arrow_flight::CancelStatus;
use indexmap::IndexMap;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// Statement ids remembered for cancellation (oldest finished ones are forgotten first).
const TRACKED_QUERIES: usize = 10_000;
/// Prepared statements whose bound parameters the server keeps.
const TRACKED_BINDINGS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Planned,
    Running,
    Finished,
}

pub(crate) struct QueryEntry {
    cancel: watch::Sender<bool>,
    phase: Mutex<Phase>,
}

impl QueryEntry {
    pub(crate) fn cancelled(&self) -> watch::Receiver<bool> {
        self.cancel.subscribe()
    }

    pub(crate) fn set(&self, phase: Phase) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase;
        }
    }

    fn phase(&self) -> Phase {
        self.phase.lock().map(|p| *p).unwrap_or(Phase::Finished)
    }
}

pub(crate) struct Queries {
    entries: Mutex<IndexMap<String, Arc<QueryEntry>>>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    bindings: Mutex<IndexMap<String, String>>,
}

impl Queries {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Self {
            entries: Mutex::new(IndexMap::new()),
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
            max_concurrent: max_concurrent.max(1),
            bindings: Mutex::new(IndexMap::new()),
        }
    }

    /// The entry of a statement id, created when the id is new (a ticket planned before a restart).
    pub(crate) fn entry(&self, id: &str) -> Arc<QueryEntry> {
        let Ok(mut entries) = self.entries.lock() else {
            return Arc::new(QueryEntry { cancel: watch::channel(false).0, phase: Mutex::new(Phase::Planned) });
        };
        if let Some(e) = entries.get(id) {
            return Arc::clone(e);
        }
        if entries.len() >= TRACKED_QUERIES {
            // Forget the oldest statement that is not running.
            if let Some(i) = entries.values().position(|e| e.phase() != Phase::Running) {
                entries.shift_remove_index(i);
            }
        }
        let e = Arc::new(QueryEntry { cancel: watch::channel(false).0, phase: Mutex::new(Phase::Planned) });
        entries.insert(id.to_string(), Arc::clone(&e));
        e
    }

    /// Cancels a statement: a running one stops at once, a planned one will refuse to start.
    pub(crate) fn cancel(&self, id: &str) -> CancelStatus {
        let entry = self.entries.lock().ok().and_then(|m| m.get(id).cloned());
        match entry {
            None => CancelStatus::NotCancellable,
            Some(e) => match e.phase() {
                Phase::Finished => CancelStatus::NotCancellable,
                Phase::Planned | Phase::Running => {
                    e.cancel.send_replace(true);
                    CancelStatus::Cancelled
                }
            },
        }
    }

    /// A slot to run one statement, or a clear refusal when all are taken.
    pub(crate) fn slot(&self) -> Result<OwnedSemaphorePermit, Status> {
        Arc::clone(&self.slots).try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "server busy: {} queries are already running, the most this server runs at once \
                 (traillake serve --max-concurrent-queries); retry when one finishes",
                self.max_concurrent
            ))
        })
    }

    pub(crate) fn bind(&self, handle_id: &str, params: String) {
        if let Ok(mut b) = self.bindings.lock() {
            if b.len() >= TRACKED_BINDINGS && !b.contains_key(handle_id) {
                b.shift_remove_index(0);
            }
            b.insert(handle_id.to_string(), params);
        }
    }

    pub(crate) fn bound(&self, handle_id: &str) -> Option<String> {
        self.bindings.lock().ok().and_then(|b| b.get(handle_id).cloned())
    }

    pub(crate) fn unbind(&self, handle_id: &str) {
        if let Ok(mut b) = self.bindings.lock() {
            b.shift_remove(handle_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_marks_planned_and_running_statements_only() {
        let q = Queries::new(1);
        assert_eq!(q.cancel("unknown"), CancelStatus::NotCancellable);
        let e = q.entry("a");
        let rx = e.cancelled();
        assert_eq!(q.cancel("a"), CancelStatus::Cancelled);
        assert!(*rx.borrow());
        let f = q.entry("b");
        f.set(Phase::Finished);
        assert_eq!(q.cancel("b"), CancelStatus::NotCancellable);
    }

    #[test]
    fn slots_are_capped_and_released() {
        let q = Queries::new(1);
        let held = q.slot().expect("first");
        let refused = q.slot().expect_err("second");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        drop(held);
        assert!(q.slot().is_ok());
    }
}
