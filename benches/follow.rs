//! `ingest --follow` benchmark (issue: follow and detections): a trail delivered file by file
//! at a steady event rate into a folder a follower watches; reports the lag from each file's
//! delivery to the commit that makes it queryable (p50, p99, max) and the follower's RSS over
//! time (sampled each second, summarised per minute: flat means no growth).
//!
//! `cargo bench --bench follow` (env BENCH_RATE events/s, default 5000; BENCH_SECONDS, 600).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (rate, seconds) = (env("BENCH_RATE", 5000), env("BENCH_SECONDS", 600));
    let events = rate * seconds;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let bin = env!("CARGO_BIN_EXE_traillake");
    // One day's worth, so the files come many per account and Region as CloudTrail delivers them.
    let trail = root.join(format!("follow-trail-{events}"));
    if !trail.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&trail);
        let ok = Command::new(bin)
            .args(["generate", "--out", path(&trail), "--events", &events.to_string(), "--days", "1"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "generating the trail failed");
        std::fs::write(trail.join(".complete"), b"").expect("marker");
    }
    let mut files: Vec<(PathBuf, u64)> = files_under(&trail)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail/"))
        .map(|p| {
            let n = count_events(&p);
            (p, n)
        })
        .collect();
    // Delivery order: the stamp in the name (account_CloudTrail_region_YYYYMMDDTHHMMZ_…).
    files.sort_by_key(|(p, _)| {
        p.file_name().map(|n| n.to_string_lossy().split('_').nth(3).unwrap_or_default().to_string())
    });
    let total: u64 = files.iter().map(|(_, n)| n).sum();
    println!("follow: {} files, {total} events delivered at {rate} events/s over ~{seconds}s", files.len());

    let work = root.join("follow-run");
    let _ = std::fs::remove_dir_all(&work);
    let (incoming, store) = (work.join("incoming"), work.join("store"));
    std::fs::create_dir_all(&incoming).expect("mkdir");
    let mut follower = Command::new(bin)
        .arg("--store")
        .arg(path(&store))
        .args(["ingest", path(&incoming), "--follow", "--interval", "1s", "--no-progress"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the follower");
    let pid = follower.id();

    let started = Instant::now();
    let mut delivered_at: HashMap<String, Instant> = HashMap::new();
    let mut lags: Vec<f64> = Vec::new();
    let mut rss: Vec<(u64, u64)> = Vec::new();
    let mut seen_commits: HashSet<PathBuf> = HashSet::new();
    let mut next = 0;
    let mut sent = 0u64;
    let mut last_sample = Instant::now() - Duration::from_secs(1);
    while lags.len() < files.len() {
        // Deliver what the rate allows by now (each file whole, by rename).
        while next < files.len() && sent as f64 <= rate as f64 * started.elapsed().as_secs_f64() {
            let (src, n) = &files[next];
            let dest = incoming.join(src.strip_prefix(&trail).expect("under the trail"));
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            std::fs::copy(src, dest.with_extension("tmp")).expect("copy");
            std::fs::rename(dest.with_extension("tmp"), &dest).expect("rename");
            delivered_at.insert(canonical_uri(&dest), Instant::now());
            sent += n;
            next += 1;
        }
        for key in new_commit_sources(&store, &mut seen_commits) {
            let uri = key.rsplit_once('#').map_or(key.as_str(), |(u, _)| u).to_string();
            if let Some(t) = delivered_at.remove(&uri) {
                lags.push(t.elapsed().as_secs_f64());
            }
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            rss.push((started.elapsed().as_secs(), rss_kib(pid)));
            last_sample = Instant::now();
        }
        assert!(started.elapsed() < Duration::from_secs(seconds * 3 + 120), "the follower fell behind for good");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = follower.wait();

    lags.sort_by(f64::total_cmp);
    let pct = |p: f64| lags[((lags.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "lag from delivery to queryable: p50 {:.2}s, p99 {:.2}s, max {:.2}s over {} files ({:.0} events/s delivered)",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        lags.len(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    println!("follower RSS per minute (MiB, min / max of the samples):");
    for minute in 0..=(rss.last().map_or(0, |r| r.0) / 60) {
        let m: Vec<u64> = rss.iter().filter(|(s, _)| s / 60 == minute).map(|(_, r)| *r).collect();
        if let (Some(lo), Some(hi)) = (m.iter().min(), m.iter().max()) {
            println!("  minute {minute:>2}: {:>5.0} / {:>5.0}", *lo as f64 / 1024.0, *hi as f64 / 1024.0);
        }
    }
}

/// Source keys recorded by commits not seen before.
fn new_commit_sources(store: &Path, seen: &mut HashSet<PathBuf>) -> Vec<String> {
    let mut out = Vec::new();
    for table in std::fs::read_dir(store.join("eds")).into_iter().flatten().flatten() {
        for commit in std::fs::read_dir(table.path().join("_delta_log")).into_iter().flatten().flatten() {
            let p = commit.path();
            if p.extension().is_none_or(|e| e != "json") || seen.contains(&p) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else { continue };
            seen.insert(p);
            for line in text.lines().filter(|l| l.starts_with("{\"commitInfo\"")) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                if let Some(sources) = v["commitInfo"]["traillake"]["sources"].as_array() {
                    out.extend(sources.iter().filter_map(|s| s.as_str().map(str::to_string)));
                }
            }
        }
    }
    out
}

fn canonical_uri(p: &Path) -> String {
    let abs = p.canonicalize().expect("canonical");
    url::Url::from_file_path(abs).map(|u| u.to_string()).expect("file URL")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn count_events(p: &Path) -> u64 {
    let mut text = Vec::new();
    let file = std::fs::File::open(p).expect("open");
    flate2::read::GzDecoder::new(file).read_to_end(&mut text).expect("gunzip");
    memchr::memmem::find_iter(&text, b"\"eventID\"").count() as u64
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                out.push(p);
            }
        }
    }
    out
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}
