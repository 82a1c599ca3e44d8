//! The error every front end reports to a person, and the one mapping from an error to the
//! process exit code: 1 for a mistake in what the user asked (bad SQL, unknown store, bad
//! input), 2 for an internal failure.

use std::io;

use crate::detect::DetectError;
use crate::engine::EngineError;
use crate::ingest::IngestError;
use crate::insights::InsightsError;
use crate::keys::KeyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Boxed: it wraps engine and ingest errors, and `Error` travels in every `Result`.
    #[error(transparent)]
    Insights(Box<InsightsError>),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// 1 for problems with what the user asked, 2 for internal failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 1,
            Error::Engine(e) if e.is_user_error() => 1,
            Error::Store(StoreError::NotFound(_) | StoreError::NameTaken(_) | StoreError::Invalid(_)) => 1,
            Error::Ingest(
                IngestError::Source { .. } | IngestError::NotIngestible { .. } | IngestError::MixedKinds(_),
            ) => 1,
            Error::Ingest(IngestError::Store(StoreError::NotFound(_))) => 1,
            Error::Key(KeyError::Read { .. } | KeyError::Format { .. } | KeyError::Write { .. }) => 1,
            Error::Insights(e) => match e.as_ref() {
                InsightsError::Usage(_) | InsightsError::Store(StoreError::NotFound(_) | StoreError::Invalid(_)) => 1,
                InsightsError::Engine(e) if e.is_user_error() => 1,
                _ => 2,
            },
            Error::Detect(
                DetectError::Rules(_)
                | DetectError::Output { .. }
                | DetectError::Store(StoreError::NotFound(_) | StoreError::Invalid(_)),
            ) => 1,
            _ => 2,
        }
    }
}

impl From<InsightsError> for Error {
    fn from(e: InsightsError) -> Self {
        Error::Insights(Box::new(e))
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        match e {
            arrow::error::ArrowError::IoError(m, io) => Error::Io(io::Error::new(io.kind(), m)),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::Engine(e.into())
    }
}
