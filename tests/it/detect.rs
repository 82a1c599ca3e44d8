//! Rules on ingest and `--follow`: alerts equal what an independent EventBridge pattern
//! evaluator (moto's) selects, exactly once across re-runs and a killed run; a follower stores
//! each delivered file once through `kill -9`; the webhook is retried.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// Rules using every matcher EventBridge has, each matching some of the generated events.
const RULES: &str = r#"[
  {"Name": "iam-creates-deletes", "EventPattern": {"source": ["aws.iam"], "detail": {"eventName": [{"prefix": "Create"}, {"prefix": "Delete"}]}}},
  {"Name": "denied", "EventPattern": "{\"detail\": {\"errorCode\": [{\"wildcard\": \"*Denied*\"}]}}"},
  {"Name": "console-sign-in", "EventPattern": {"detail-type": ["AWS Console Sign In via CloudTrail"]}},
  {"Name": "roles-outside-us-east-1", "EventPattern": {"detail": {"userIdentity": {"type": ["AssumedRole"]}, "awsRegion": [{"anything-but": ["us-east-1"]}], "eventName": [{"suffix": "Object"}]}}},
  {"Name": "big-downloads", "EventPattern": {"detail": {"additionalEventData": {"bytesTransferredOut": [{"numeric": [">", 1000000]}]}}}},
  {"Name": "no-error-kms", "EventPattern": {"source": ["aws.kms"], "detail": {"errorCode": [{"exists": false}]}}},
  {"Name": "getobject-any-case", "EventPattern": {"detail": {"eventName": [{"equals-ignore-case": "getobject"}]}}},
  {"Name": "from-10-net", "EventPattern": {"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}}},
  {"Name": "either", "EventPattern": {"$or": [{"detail": {"eventName": ["StopLogging", "DeleteTrail"]}}, {"detail": {"userIdentity": {"type": ["Root"]}}}]}},
  {"Name": "not-s3-prefix", "EventPattern": {"detail": {"eventSource": [{"anything-but": {"prefix": "s3"}}], "errorCode": [{"exists": true}]}}}
]"#;

fn generate(out: &Path, events: &str, days: &str) {
    let o =
        bin().args(["generate", "--out"]).arg(out).args(["--events", events, "--days", days]).output().expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
}

/// (rule, eventID) pairs of an alerts file; panics on a pair written twice.
fn alert_pairs(path: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut pairs = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("alert line is JSON");
        let pair = (v["rule"].as_str().expect("rule").to_string(), v["eventID"].as_str().expect("id").to_string());
        assert_eq!(v["event"]["eventID"], v["eventID"], "the event is in the alert");
        assert!(pairs.insert(pair.clone()), "alert {pair:?} written twice");
    }
    pairs
}

#[test]
fn rules_on_ingest_alert_exactly_the_events_eventbridge_would_and_only_once() {
    if !python_with("moto") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let (trail, store, rules, alerts) = (
        dir.path().join("trail"),
        dir.path().join("store"),
        dir.path().join("rules.json"),
        dir.path().join("alerts.ndjson"),
    );
    generate(&trail, "4000", "2");
    write(&rules, RULES);
    let ingest = |extra: &[&str]| {
        let mut args = vec!["ingest", trail.to_str().expect("utf8"), "--no-progress", "--rules"];
        args.extend([rules.to_str().expect("utf8"), "--alerts", alerts.to_str().expect("utf8")]);
        args.extend(extra);
        let o = run(&args, &store);
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    let first = ingest(&[]);
    let ours = alert_pairs(&alerts);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eventbridge_independent.py");
    let o = std::process::Command::new("python3").arg(&script).arg(&rules).arg(&trail).output().expect("python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected: Vec<(String, String)> = serde_json::from_slice(&o.stdout).expect("pairs");
    let expected: BTreeSet<(String, String)> = expected.into_iter().collect();
    let rules_json: Vec<serde_json::Value> = serde_json::from_str(RULES).expect("rules");
    for r in &rules_json {
        let name = r["Name"].as_str().expect("name");
        assert!(expected.iter().any(|(n, _)| n == name), "rule {name} matches nothing: the test would prove little");
    }
    assert_eq!(ours.len(), expected.len(), "{}", stderr(&first));
    assert_eq!(ours, expected);

    // Again: nothing new is stored, nothing is alerted twice.
    let before = std::fs::read(&alerts).expect("alerts");
    ingest(&[]);
    assert_eq!(std::fs::read(&alerts).expect("alerts"), before);

    // A run that wrote alerts and died before recording them: the next run cuts them back and
    // makes them again from the commits they were for.
    let mut f = std::fs::OpenOptions::new().append(true).open(&alerts).expect("open");
    f.write_all(b"{\"rule\":\"half-written\"").expect("append");
    drop(f);
    ingest(&[]);
    assert_eq!(std::fs::read(&alerts).expect("alerts"), before, "the unrecorded tail is cut back");
}

#[test]
fn a_bad_rules_file_is_refused_with_where_and_nothing_is_ingested() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("rules.json");
    write(&rules, r#"[{"Name": "x", "EventPattern": {"detail": {"eventName": "DeleteTrail"}}}]"#);
    write(
        &dir.path().join("t.json"),
        format!("{{\"Records\":[{}]}}", event("e1", "2026-11-15T02:13:00Z", "DeleteTrail")),
    );
    let t = dir.path().join("t.json");
    let o =
        run(&["ingest", t.to_str().expect("utf8"), "--rules", rules.to_str().expect("utf8")], &dir.path().join("s"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("rule 1: \"x\": invalid event pattern at $.detail.eventName"), "{}", stderr(&o));
}

/// Moves `files` (under `from`) to the same relative paths under `to`, each whole at once;
/// their new paths.
fn deliver(files: &[PathBuf], from: &Path, to: &Path) -> Vec<PathBuf> {
    let mut moved = Vec::new();
    for f in files {
        let dest = to.join(f.strip_prefix(from).expect("under"));
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::rename(f, &dest).expect("rename");
        moved.push(dest);
    }
    moved
}

fn follower(store: &Path, incoming: &Path, rules: &Path, alerts: &Path) -> std::process::Child {
    bin()
        .arg("--store")
        .arg(store)
        .args(["ingest", incoming.to_str().expect("utf8"), "--follow", "--interval", "1s", "--no-progress"])
        .args([
            "--commit-mb",
            "1",
            "--rules",
            rules.to_str().expect("utf8"),
            "--alerts",
            alerts.to_str().expect("utf8"),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn follower")
}

/// Waits until the store holds `n` events (it must, within a generous time).
fn wait_for_events(store: &Path, n: i64) {
    let started = Instant::now();
    loop {
        let o = run(&["query", "SELECT count(*) AS n FROM \"default\"", "--format", "csv"], store);
        let got: i64 = stdout(&o).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(-1);
        if got == n {
            return;
        }
        assert!(got <= n, "more events than delivered: {got} > {n}");
        assert!(started.elapsed() < Duration::from_secs(60), "still {got} of {n} events after a minute");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn distinct_events(files: &[PathBuf]) -> i64 {
    let mut ids = BTreeSet::new();
    for f in files {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(f).expect("open")).read_to_string(&mut text).expect("gunzip");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        for r in v["Records"].as_array().expect("records") {
            ids.insert(r["eventID"].as_str().expect("id").to_string());
        }
    }
    ids.len() as i64
}

#[test]
fn follow_stores_each_delivered_file_once_through_kill_9_and_alerts_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let (staged, incoming, store) = (dir.path().join("staged"), dir.path().join("incoming"), dir.path().join("store"));
    let (rules, alerts) = (dir.path().join("rules.json"), dir.path().join("alerts.ndjson"));
    generate(&staged, "3000", "3");
    write(&rules, RULES);
    std::fs::create_dir_all(&incoming).expect("mkdir");
    let mut files: Vec<PathBuf> =
        files_under(&staged).into_iter().filter(|p| p.to_string_lossy().contains("/CloudTrail/")).collect();
    files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    assert!(files.len() >= 9, "{} files", files.len());
    let thirds: Vec<Vec<PathBuf>> = files.chunks(files.len().div_ceil(3)).map(<[PathBuf]>::to_vec).collect();

    let mut child = follower(&store, &incoming, &rules, &alerts);
    let mut delivered = Vec::new();
    // First third, file by file: each is stored while the follower runs.
    for f in &thirds[0] {
        delivered.extend(deliver(std::slice::from_ref(f), &staged, &incoming));
        wait_for_events(&store, distinct_events(&delivered));
    }
    // Second third at once, killed while (or right after) it is ingested.
    delivered.extend(deliver(&thirds[1], &staged, &incoming));
    std::thread::sleep(Duration::from_millis(1700));
    child.kill().expect("kill -9");
    let _ = child.wait();
    // Restarted: the rest of the second third, then the last third.
    let mut child = follower(&store, &incoming, &rules, &alerts);
    wait_for_events(&store, distinct_events(&delivered));
    delivered.extend(deliver(&thirds[2], &staged, &incoming));
    wait_for_events(&store, distinct_events(&delivered));
    let alerted_before_stop = alert_pairs(&alerts);

    // SIGTERM stops it cleanly.
    let term = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let status = child.wait().expect("wait");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("stopped:"), "{err}");

    let o =
        run(&["query", "SELECT count(*) - count(DISTINCT eventid) AS dup FROM \"default\"", "--format", "csv"], &store);
    assert_eq!(stdout(&o).lines().nth(1), Some("0"), "no event stored twice");

    // The alerts equal those of one plain ingest of the whole trail with the same rules.
    let (store2, alerts2) = (dir.path().join("store2"), dir.path().join("alerts2.ndjson"));
    let o = run(
        &[
            "ingest",
            incoming.to_str().expect("utf8"),
            "--no-progress",
            "--rules",
            rules.to_str().expect("utf8"),
            "--alerts",
            alerts2.to_str().expect("utf8"),
        ],
        &store2,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let once = alert_pairs(&alerts2);
    assert!(!once.is_empty());
    assert_eq!(alert_pairs(&alerts), once, "follow through kill -9 alerts each (rule, event) once");
    assert_eq!(alerted_before_stop, once);
}

/// A webhook endpoint on 127.0.0.1 that answers 503 to the first `failures` requests.
fn flaky_webhook(failures: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(0usize));
    let d = Arc::clone(&delivered);
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let (d, seen) = (Arc::clone(&d), Arc::clone(&seen));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut conn = conn;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let n = {
                        let mut s = seen.lock().expect("lock");
                        *s += 1;
                        *s
                    };
                    let status = if n <= failures { "503 Service Unavailable" } else { "200 OK" };
                    if n > failures {
                        d.lock().expect("lock").push(String::from_utf8_lossy(&body).into_owned());
                    }
                    let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                    if conn.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, delivered)
}

#[test]
fn alerts_are_posted_to_the_webhook_which_is_retried_when_it_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let (trail, rules, alerts) = (dir.path().join("trail"), dir.path().join("rules.json"), dir.path().join("a.ndjson"));
    generate(&trail, "1500", "1");
    write(
        &rules,
        r#"[{"Name": "console-sign-in", "EventPattern": {"detail-type": ["AWS Console Sign In via CloudTrail"]}}]"#,
    );
    let (url, delivered) = flaky_webhook(3);
    let o = run(
        &[
            "ingest",
            trail.to_str().expect("utf8"),
            "--no-progress",
            "--format",
            "json",
            "--rules",
            rules.to_str().expect("utf8"),
            "--alerts",
            alerts.to_str().expect("utf8"),
            "--webhook",
            &url,
        ],
        &dir.path().join("store"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json summary");
    let written: Vec<String> = std::fs::read_to_string(&alerts).expect("alerts").lines().map(str::to_string).collect();
    assert!(!written.is_empty());
    let hook = &summary["alerts"]["webhook"];
    assert_eq!(hook["delivered"], written.len(), "{summary}");
    assert_eq!((hook["failed"].as_u64(), hook["pending"].as_u64()), (Some(0), Some(0)), "{summary}");
    assert!(hook["retries"].as_u64() >= Some(3), "{summary}");
    let got = delivered.lock().expect("lock").clone();
    assert_eq!(got, written, "every alert delivered once, in order");
}
