//! CloudTrail Insights benchmark (issue: Insights; target ≤ 20% of the time ingest took for
//! the same events).
//!
//! Generates the bench trail (default 1M events over 30 days; cached under target/bench-data),
//! ingests it with the release binary into a fresh store (best of the rounds), then judges the
//! whole store for both Insights types with `insights run --since <first day>` (best of the
//! rounds; each round judges everything again, so each does the whole work), and reports both
//! times, the ratio, peak RSS of each, and the Insights found.
//!
//! `cargo bench --bench insights` (env BENCH_EVENTS, BENCH_DAYS, BENCH_ROUNDS).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (events, days, rounds) = (env("BENCH_EVENTS", 1_000_000), env("BENCH_DAYS", 30), env("BENCH_ROUNDS", 3));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let trail = root.join(format!("trail-{events}-{days}"));
    let bin = env!("CARGO_BIN_EXE_traillake");
    if !trail.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&trail);
        let ok = Command::new(bin)
            .args(["generate", "--out", path(&trail), "--events", &events.to_string(), "--days", &days.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "generating the trail failed");
        std::fs::write(trail.join(".complete"), b"").expect("marker");
    }
    println!("trail: {events} events over {days} days ({})", trail.display());
    let store = root.join(format!("insights-store-{events}"));
    let traillake = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.arg("--store").arg(path(&store)).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    };
    let (mut ingest_best, mut ingest_rss) = (f64::MAX, 0);
    for round in 0..rounds {
        let _ = std::fs::remove_dir_all(&store);
        let t = Instant::now();
        let (ok, rss) = run_measured(&mut traillake(&["ingest", path(&trail), "--no-progress"]));
        let secs = t.elapsed().as_secs_f64();
        assert!(ok, "ingest failed");
        println!("round {round}: ingest {secs:.3}s, peak RSS {:.0} MiB", rss as f64 / 1024.0);
        if secs < ingest_best {
            (ingest_best, ingest_rss) = (secs, rss);
        }
    }
    let setup = [
        vec!["eds", "create", "bench-insights", "--kind", "insights"],
        vec![
            "eds",
            "update",
            "default",
            "--insight-selectors",
            r#"[{"InsightType":"ApiCallRateInsight"},{"InsightType":"ApiErrorRateInsight"}]"#,
            "--insights-destination",
            "bench-insights",
        ],
    ];
    for args in setup {
        let out = traillake(&args).output().expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let (mut best, mut best_rss, mut last) = (f64::MAX, 0, String::new());
    for round in 0..rounds {
        let mut cmd = traillake(&["insights", "run", "default", "--since", "2000-01-01", "--format", "json"]);
        cmd.stderr(Stdio::inherit());
        let t = Instant::now();
        let child = cmd.spawn().expect("run");
        let (ok, rss, out) = wait_measured(child);
        let secs = t.elapsed().as_secs_f64();
        assert!(ok, "insights run failed");
        let report: serde_json::Value = serde_json::from_str(&out).expect("report");
        println!(
            "round {round}: insights run {secs:.3}s, peak RSS {:.0} MiB ({} series, {} Insights)",
            rss as f64 / 1024.0,
            report["series"],
            report["insightsFound"]
        );
        if secs < best {
            (best, best_rss) = (secs, rss);
        }
        last = out;
    }
    let report: serde_json::Value = serde_json::from_str(&last).expect("report");
    println!(
        "\ningest best {ingest_best:.3}s (peak RSS {:.0} MiB); insights run best {best:.3}s (peak RSS {:.0} MiB) = {:.1}% of ingest",
        ingest_rss as f64 / 1024.0,
        best_rss as f64 / 1024.0,
        best / ingest_best * 100.0
    );
    println!("Insights found over {} series: {}", report["series"], report["insightsFound"]);
    for e in report["events"].as_array().into_iter().flatten().filter(|e| e["insightState"] == "Start") {
        println!("  {} {} {}:{}", e["eventTime"], e["insightType"], e["insightEventSource"], e["insightEventName"]);
    }
}

/// Runs a command; returns success and its peak RSS in KiB (from wait4's rusage).
fn run_measured(cmd: &mut Command) -> (bool, i64) {
    let Ok(child) = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn() else { return (false, 0) };
    let (ok, rss, _) = wait_measured(child);
    (ok, rss)
}

/// Waits for `child` (its stdout read first); success, peak RSS in KiB, stdout.
fn wait_measured(mut child: std::process::Child) -> (bool, i64, String) {
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 on our own child with valid pointers to a status word and a zeroed rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, ru.ru_maxrss, out)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}
