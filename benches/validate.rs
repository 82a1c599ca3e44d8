//! `ingest --validate` against plain `ingest` (issue: tamper evidence; target ≤ 10% more time).
//!
//! Generates the bench trail with signed digests (default 200k events over 30 days; cached
//! under target/bench-data), then alternates the release binary's `ingest` and
//! `ingest --validate --public-key …` into fresh stores, several rounds, and reports each
//! round, the best and the mean of each, and their ratios. Both runs write the same store
//! (the integrity records of `eds verify` included); the difference is the hashing of every
//! log file and the reading and checking of the digests.
//!
//! `cargo bench --bench validate` (env BENCH_EVENTS, BENCH_DAYS, BENCH_ROUNDS).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (events, days, rounds) = (env("BENCH_EVENTS", 200_000), env("BENCH_DAYS", 30), env("BENCH_ROUNDS", 5));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let trail = root.join(format!("trail-{events}-{days}-digests"));
    let keys = root.join(format!("trail-{events}-{days}-digests.keys/public-keys.json"));
    let bin = env!("CARGO_BIN_EXE_traillake");
    if !trail.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&trail);
        let ok = Command::new(bin)
            .args(["generate", "--digests", "--out", path(&trail), "--events", &events.to_string()])
            .args(["--days", &days.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "generating the trail failed");
        std::fs::write(trail.join(".complete"), b"").expect("marker");
    }
    println!("trail: {events} events over {days} days with digests ({})", trail.display());
    let mut plain = Vec::new();
    let mut validated = Vec::new();
    for round in 0..rounds {
        for validate in [false, true] {
            let store = root.join(format!("store-validate-{validate}"));
            let _ = std::fs::remove_dir_all(&store);
            let mut cmd = Command::new(bin);
            cmd.args(["--store", path(&store), "ingest", path(&trail), "--no-progress", "--format", "json"]);
            if validate {
                cmd.args(["--validate", "--public-key", path(&keys)]);
            }
            let t = Instant::now();
            let out = cmd.output().expect("run traillake");
            let secs = t.elapsed().as_secs_f64();
            assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
            println!(
                "round {round}: ingest{} {secs:.3}s ({} events; {} files validated)",
                if validate { " --validate" } else { "" },
                report["eventsAdded"],
                report["filesValidated"]
            );
            if validate {
                assert!(report["filesValidated"].as_u64() > Some(0) && report["filesInvalid"] == 0, "{report}");
                validated.push(secs);
            } else {
                plain.push(secs);
            }
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::MAX, f64::min);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!("ingest: best {:.3}s, mean {:.3}s", best(&plain), mean(&plain));
    println!("ingest --validate: best {:.3}s, mean {:.3}s", best(&validated), mean(&validated));
    println!(
        "--validate costs {:+.1}% (best vs best), {:+.1}% (mean vs mean)",
        (best(&validated) / best(&plain) - 1.0) * 100.0,
        (mean(&validated) / mean(&plain) - 1.0) * 100.0
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}
