//! Exactly once: `kill -9` at arbitrary points of an ingest, re-run, and every event is stored
//! exactly once.

use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

/// A generated trail under `dir`, and its number of events.
fn trail_in(dir: &std::path::Path, events: u64, days: u32) -> (std::path::PathBuf, u64) {
    let trail = dir.join("trail");
    let opts = traillake::demo::GenerateOptions { events, days, ..Default::default() };
    let g = traillake::demo::generate(&trail, &opts).expect("generate");
    (trail, g.events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_then_rerun_stores_every_event_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (trail, events) = trail_in(tmp.path(), 30_000, 10);
    let st = tmp.path().join("store");
    // Small commits so kills land between, during and after commits.
    let delays_ms = [150u64, 400, 700, 1000, 1500];
    for d in delays_ms {
        let mut child = bin()
            .arg("--store")
            .arg(&st)
            .args(["ingest", trail.to_str().expect("p"), "--no-progress"])
            .env("TRAILLAKE_COMMIT_MB", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(d));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let out = run(&["ingest", trail.to_str().expect("p"), "--no-progress"], &st);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = store_in(tmp.path());
    assert_eq!(count(&store, "SELECT count(*) FROM default").await, events as i64);
    assert_eq!(count(&store, "SELECT count(DISTINCT eventid) FROM default").await, events as i64);
    // And once more: nothing new.
    let out = run(&["ingest", trail.to_str().expect("p"), "--no-progress", "--format", "json"], &st);
    let rep: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(rep["eventsAdded"], 0);
    assert_eq!(rep["files"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_of_many_commits_stores_every_event_once() {
    // Each commit ends a generation of decode threads and starts the next: no source may be
    // lost or read twice across them.
    let tmp = tempfile::tempdir().expect("tmp");
    let (trail, events) = trail_in(tmp.path(), 20_000, 5);
    let st = tmp.path().join("store");
    let out = bin()
        .arg("--store")
        .arg(&st)
        .args(["ingest", trail.to_str().expect("p"), "--no-progress", "--format", "json", "--commit-mb", "2"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rep: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(rep["eventsAdded"], events);
    assert!(rep["commits"].as_u64().is_some_and(|c| c >= 5), "{rep}");
    let store = store_in(tmp.path());
    assert_eq!(count(&store, "SELECT count(DISTINCT eventid) FROM default").await, events as i64);
    let out = run(&["ingest", trail.to_str().expect("p"), "--no-progress", "--format", "json"], &st);
    let again: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(again["sourcesAlreadyIngested"], rep["files"], "{again}");
    assert_eq!(again["eventsAdded"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_encoded_while_decoding_goes_on_hold_every_event_once_in_time_order() {
    // Here a day is quiet as soon as a batch without its rows arrives: days are encoded while
    // later ones are still decoded, stragglers make more files, and one commit holds them all.
    let tmp = tempfile::tempdir().expect("tmp");
    let (trail, events) = trail_in(tmp.path(), 20_000, 5);
    let store = store_in(tmp.path());
    let writer = traillake::ingest::WriterConfig { quiet_bytes: 1, ..Default::default() };
    let opts = traillake::ingest::IngestOptions { progress: false, writer, ..Default::default() };
    let rep = traillake::ingest::ingest(&store, None, &[trail.display().to_string()], opts).await.expect("ingest");
    assert_eq!((rep.events_added, rep.commits), (events, 1), "{rep:?}");
    assert!(rep.files_written >= 5, "at least one file per day: {rep:?}");
    assert_eq!(count(&store, "SELECT count(DISTINCT eventid) FROM default").await, events as i64);
    let mut rows = 0;
    let files = data_files(&tmp.path().join("store"));
    assert_eq!(files.len() as u64, rep.files_written);
    for f in files {
        let times = event_times(&f);
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{} is not sorted by eventtime", f.display());
        rows += times.len() as u64;
    }
    assert_eq!(rows, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_waiting_unencoded_makes_commits_due_whatever_the_commit_size() {
    // No day ever goes quiet (as when the input's days come interleaved): the buffer bound alone
    // must end generations and commit, or memory would grow with the input.
    let tmp = tempfile::tempdir().expect("tmp");
    let (trail, events) = trail_in(tmp.path(), 20_000, 5);
    let store = store_in(tmp.path());
    let writer = traillake::ingest::WriterConfig {
        commit_bytes: usize::MAX / 2,
        buffer_bytes: 4 * 1024 * 1024,
        quiet_bytes: usize::MAX / 2,
        ..Default::default()
    };
    let opts = traillake::ingest::IngestOptions { progress: false, writer, ..Default::default() };
    let rep = traillake::ingest::ingest(&store, None, &[trail.display().to_string()], opts).await.expect("ingest");
    assert_eq!(rep.events_added, events, "{rep:?}");
    assert!(rep.commits >= 3, "{rep:?}");
    assert_eq!(count(&store, "SELECT count(DISTINCT eventid) FROM default").await, events as i64);
    let again = ingest_paths(&store, None, &[&trail]).await;
    assert_eq!((again.sources_already_ingested, again.events_added), (rep.files, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_long_source_over_many_days_commits_as_it_goes() {
    // A single source never ends a generation: commits come from the writer itself, with days
    // encoded early between them; the source enters the ledger with the last one.
    let tmp = tempfile::tempdir().expect("tmp");
    let events: Vec<String> = (0..6000u32)
        .map(|i| {
            let t = format!("2026-10-{:02}T{:02}:{:02}:00Z", 1 + i / 2000, (i % 2000) / 84, (i % 84) % 60);
            event(&format!("60000000-0000-4000-8000-{i:012}"), &t, "GetObject")
        })
        .collect();
    let src = tmp.path().join("export.json");
    write(&src, format!("{{\"Records\":[{}]}}", events.join(",")));
    let store = store_in(tmp.path());
    let writer = traillake::ingest::WriterConfig { commit_bytes: 1024 * 1024, quiet_bytes: 1, ..Default::default() };
    let opts = traillake::ingest::IngestOptions { progress: false, writer, ..Default::default() };
    let rep = traillake::ingest::ingest(&store, None, &[src.display().to_string()], opts).await.expect("ingest");
    assert_eq!(rep.events_added, 6000, "{rep:?}");
    assert!(rep.commits >= 3, "{rep:?}");
    assert_eq!(count(&store, "SELECT count(DISTINCT eventid) FROM default").await, 6000);
    let again = ingest_paths(&store, None, &[&src]).await;
    assert_eq!((again.sources_already_ingested, again.events_added), (1, 0));
}

/// The `eventtime` values of a data file, in file order (µs since the epoch).
fn event_times(path: &std::path::Path) -> Vec<i64> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    let mut out = Vec::new();
    for column in parquet_column(path, "eventtime") {
        let times = column.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(times.null_count(), 0);
        out.extend(times.values().iter().copied());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_events_from_other_files_are_not_duplicated() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a.json");
    let b = tmp.path().join("copy/b.json.gz");
    // Two events with an eventID, two hand-made ones without (told apart by their text).
    let no_id = |name: &str| {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"2026-10-01T02:00:00Z","eventSource":"s3.amazonaws.com","eventName":"{name}"}}"#
        )
    };
    let body = format!(
        "{{\"Records\":[{},{},{},{}]}}",
        event("50000000-0000-4000-8000-000000000001", "2026-10-01T00:00:00Z", "A"),
        event("50000000-0000-4000-8000-000000000002", "2026-10-01T01:00:00Z", "B"),
        no_id("C"),
        no_id("D")
    );
    write(&a, &body);
    write(&b, gzip(body.as_bytes()));
    let store = store_in(tmp.path());
    let r1 = ingest_paths(&store, None, &[&a]).await;
    let r2 = ingest_paths(&store, None, &[&b]).await;
    assert_eq!((r1.events_added, r2.events_added, r2.duplicates_skipped), (4, 0, 4));
    assert_eq!(count(&store, "SELECT count(*) FROM default").await, 4);
    // A new event without an id on the same day is still added.
    let c = tmp.path().join("c.json");
    write(&c, format!("{{\"Records\":[{},{}]}}", no_id("C"), no_id("E")));
    let r3 = ingest_paths(&store, None, &[&c]).await;
    assert_eq!((r3.events_added, r3.duplicates_skipped), (1, 1));
    assert_eq!(count(&store, "SELECT count(*) FROM default WHERE eventid IS NULL").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ingests_at_once_still_store_every_event_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (trail, events) = trail_in(tmp.path(), 8_000, 3);
    let st = tmp.path().join("store");
    // Both runs also race to create the EDS "default": one creates it, the other uses it.
    let spawn = || {
        bin()
            .arg("--store")
            .arg(&st)
            .args(["ingest", trail.to_str().expect("p"), "--no-progress"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let store = store_in(tmp.path());
    assert_eq!(store.catalog().await.expect("catalog").event_data_stores.len(), 1);
    assert_eq!(count(&store, "SELECT count(*) FROM default").await, events as i64);
    assert_eq!(count(&store, "SELECT count(DISTINCT eventid) FROM default").await, events as i64);
}
