//! The generated 30-day trail and its ingested store that the benchmarks share, built once and
//! cached under target/bench-data (a `.complete` marker says a build finished; the store's
//! marker also names the storage format, so a store written by an older version is rebuilt).

use std::path::PathBuf;

use traillake::ingest::{self, IngestOptions};
use traillake::store::Store;

/// Changes whenever what ingest writes changes (stored checksum, event text by reference, …).
const STORE_FORMAT: &str = "event text with references (2026-11-23)";

/// (trail folder, store folder) for `events` events, generating and ingesting when absent.
pub(crate) fn cached(events: u64, rt: &tokio::runtime::Runtime) -> (PathBuf, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let trail = root.join(format!("trail-{events}-30"));
    let store_dir = root.join(format!("query-store-{events}"));
    if !trail.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&trail);
        let opts = traillake::demo::GenerateOptions { events, days: 30, ..Default::default() };
        traillake::demo::generate(&trail, &opts).expect("generate trail");
        std::fs::write(trail.join(".complete"), b"").expect("marker");
    }
    let marker = store_dir.join(".complete");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(STORE_FORMAT) {
        let _ = std::fs::remove_dir_all(&store_dir);
        let store = Store::open(store_dir.to_str().expect("utf8")).expect("store");
        let srcs = vec![trail.display().to_string()];
        let report = rt
            .block_on(ingest::ingest(&store, None, &srcs, IngestOptions { progress: false, ..Default::default() }))
            .expect("ingest");
        assert_eq!(report.events_added, events, "{}", report.summary());
        std::fs::write(&marker, STORE_FORMAT).expect("marker");
    }
    (trail, store_dir)
}
