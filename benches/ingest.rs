//! Ingest benchmark (issue: event data stores from trail files).
//!
//! Generates a gzip trail in the CloudTrail layout (default 200k events over 30 days; cached
//! under target/bench-data), then runs the release binary's `ingest` on it and reports
//! events/s, peak RSS and stored bytes vs the gzipped input, alternating with DuckDB's JSON →
//! Parquet conversion of the same trail on the same machine (if `duckdb` for Python is
//! installed), best of three rounds each.
//!
//! `cargo bench --bench ingest` (env BENCH_EVENTS, BENCH_DAYS to change the size).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() {
    let events: u64 = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let days: u32 = std::env::var("BENCH_DAYS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let trail = root.join(format!("trail-{events}-{days}"));
    let bin = env!("CARGO_BIN_EXE_traillake");
    if !trail.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&trail);
        let ok = Command::new(bin)
            .args([
                "generate",
                "--out",
                trail.to_str().unwrap_or_default(),
                "--events",
                &events.to_string(),
                "--days",
                &days.to_string(),
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "generating the trail failed");
        std::fs::write(trail.join(".complete"), b"").expect("marker");
    }
    let gz_bytes = dir_bytes(&trail, |p| p.to_string_lossy().ends_with(".gz"));
    println!("trail: {events} events over {days} days, {:.1} MB gzip ({})", gz_bytes as f64 / 1e6, trail.display());

    // Rounds alternate traillake and DuckDB, best of each: this machine's speed drifts by tens
    // of percent over minutes, and alternating exposes both to the same phases.
    let duckdb = Command::new("python3").args(["-c", "import duckdb"]).output().is_ok_and(|o| o.status.success());
    if !duckdb {
        println!("duckdb: not measured (pip install duckdb)");
    }
    let mut best = f64::MAX;
    let mut best_duckdb: Option<DuckDbRun> = None;
    let mut last = None;
    for run in 0..ROUNDS {
        let store = root.join(format!("store-{events}-{run}"));
        let _ = std::fs::remove_dir_all(&store);
        let t = Instant::now();
        let (ok, rss_kib) = run_measured(Command::new(bin).args([
            "--store",
            store.to_str().unwrap_or_default(),
            "ingest",
            trail.to_str().unwrap_or_default(),
            "--no-progress",
        ]));
        let secs = t.elapsed().as_secs_f64();
        assert!(ok, "ingest failed");
        let stored = dir_bytes(&store.join("eds"), |p| p.extension().is_some_and(|e| e == "parquet"));
        println!(
            "round {run}: traillake ingest {secs:.2}s = {:.0} events/s, peak RSS {:.0} MiB, stored {:.1} MB = {:.2}x gzip input",
            events as f64 / secs,
            rss_kib as f64 / 1024.0,
            stored as f64 / 1e6,
            stored as f64 / gz_bytes as f64
        );
        best = best.min(secs);
        last = Some(store);
        if duckdb {
            let Some(d) = run_duckdb(&trail, &root) else {
                println!("round {run}: duckdb failed");
                continue;
            };
            println!(
                "round {run}: duckdb JSON->Parquet {:.2}s = {:.0} events/s (COPY statement alone {:.2}s), peak RSS {:.0} MiB, {:.1} MB parquet (without the event text)",
                d.secs,
                events as f64 / d.secs,
                d.statement_secs,
                d.rss_kib as f64 / 1024.0,
                d.parquet_bytes as f64 / 1e6
            );
            best_duckdb = Some(match best_duckdb {
                None => d,
                Some(b) => {
                    DuckDbRun { secs: b.secs.min(d.secs), statement_secs: b.statement_secs.min(d.statement_secs), ..d }
                }
            });
        }
    }
    println!("traillake best: {:.0} events/s", events as f64 / best);
    if let Some(d) = best_duckdb {
        println!(
            "duckdb best: {:.0} events/s whole process, {:.0} events/s COPY statement alone",
            events as f64 / d.secs,
            events as f64 / d.statement_secs
        );
        println!("traillake / duckdb speed, best of {ROUNDS} each: {:.2}x (both whole processes)", d.secs / best);
        println!("traillake / duckdb statement alone, best of {ROUNDS} each: {:.2}x", d.statement_secs / best);
    }
    if let Some(s) = last {
        println!("last store kept at {}", s.display());
    }
}

/// Rounds of the comparison (each: one traillake ingest, one DuckDB conversion).
const ROUNDS: usize = 3;

/// One DuckDB conversion of the trail.
struct DuckDbRun {
    /// The whole process: Python's start, `import duckdb` and the statement.
    secs: f64,
    /// DuckDB's own time for the COPY statement.
    statement_secs: f64,
    rss_kib: i64,
    parquet_bytes: u64,
}

/// DuckDB's JSON → Parquet conversion of the trail, as the issue states it.
fn run_duckdb(trail: &Path, root: &Path) -> Option<DuckDbRun> {
    let out = root.join("duckdb.parquet");
    let script = format!(
        "import duckdb,time; t=time.time(); duckdb.sql(\"COPY (SELECT unnest(r) FROM (SELECT unnest(Records) r FROM read_json('{}/**/*.json.gz'))) TO '{}' (FORMAT parquet)\"); print(time.time()-t)",
        trail.display(),
        out.display()
    );
    let out_file = root.join("duckdb-seconds.txt");
    let _ = std::fs::remove_file(&out_file);
    let stdout = std::fs::File::create(&out_file).ok()?;
    let t = Instant::now();
    let (ok, rss_kib) = run_measured(Command::new("python3").args(["-c", &script]).stdout(stdout));
    let secs = t.elapsed().as_secs_f64();
    if !ok {
        return None;
    }
    let statement_secs = std::fs::read_to_string(&out_file).ok()?.split_whitespace().last()?.parse().ok()?;
    let parquet_bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    Some(DuckDbRun { secs, statement_secs, rss_kib, parquet_bytes })
}

/// Runs a command; returns success and its peak RSS in KiB (from wait4's rusage).
fn run_measured(cmd: &mut Command) -> (bool, i64) {
    let Ok(child) = cmd.spawn() else { return (false, 0) };
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 on our own child with valid pointers to a status word and a zeroed rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, ru.ru_maxrss)
}

fn dir_bytes(dir: &Path, keep: impl Fn(&Path) -> bool + Copy) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p, keep)
            } else if keep(&p) {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            } else {
                0
            }
        })
        .sum()
}
