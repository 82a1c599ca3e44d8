//! The generated 30-day trail and its ingested store that the benchmarks share, built once and
//! cached under target/bench-data (a `.complete` marker says a build finished).

use std::path::PathBuf;

use traillake::ingest::{self, IngestOptions};
use traillake::store::Store;

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
    if !store_dir.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&store_dir);
        let store = Store::open(store_dir.to_str().expect("utf8")).expect("store");
        let srcs = vec![trail.display().to_string()];
        let report = rt
            .block_on(ingest::ingest(&store, None, &srcs, IngestOptions { progress: false, ..Default::default() }))
            .expect("ingest");
        assert_eq!(report.events_added, events, "{}", report.summary());
        std::fs::write(store_dir.join(".complete"), b"").expect("marker");
    }
    (trail, store_dir)
}
