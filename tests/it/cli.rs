//! The command line as scripts use it: exit codes, stdout/stderr, formats.

use crate::common::*;

#[test]
fn eds_create_list_describe_and_query_formats() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    let out = run(&["eds", "create", "audit"], &st);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "create prints the id alone: {id:?}");
    assert_eq!(run(&["eds", "create", "audit"], &st).status.code(), Some(1), "duplicate names refused");

    let f = tmp.path().join("e.json");
    write(
        &f,
        format!(
            "{{\"Records\":[{},{}]}}",
            event("40000000-0000-4000-8000-000000000001", "2026-10-01T00:00:00Z", "A"),
            event("40000000-0000-4000-8000-000000000002", "2026-10-02T00:00:00Z", "B")
        ),
    );
    let ing = run(&["ingest", f.to_str().expect("p"), "--eds", &id, "--no-progress", "--format", "json"], &st);
    assert_eq!(ing.status.code(), Some(0), "{}", stderr(&ing));
    let rep: serde_json::Value = serde_json::from_str(&stdout(&ing)).expect("report json");
    assert_eq!(rep["eventsAdded"], 2);

    let list: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["eds", "list", "--format", "json"], &st))).expect("json");
    assert_eq!(list[0]["name"], "audit");
    let d: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["eds", "describe", "audit", "--format", "json"], &st))).expect("json");
    assert_eq!(d["eventCount"], 2);
    assert_eq!(d["id"], id.as_str());
    assert!(d["arn"].as_str().is_some_and(|a| a.ends_with(&id)));
    assert!(d["sizeBytes"].as_u64().is_some_and(|s| s > 0));

    let sql = format!("SELECT eventName, eventTime FROM {id} ORDER BY eventTime");
    let csv = run(&["query", &sql, "--format", "csv"], &st);
    assert_eq!(stdout(&csv), "eventname,eventtime\nA,2026-10-01 00:00:00.000\nB,2026-10-02 00:00:00.000\n");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&["query", &sql, "--format", "json"], &st))).expect("json");
    assert_eq!(
        json,
        serde_json::json!([{"eventname": "A", "eventtime": "2026-10-01 00:00:00.000"}, {"eventname": "B", "eventtime": "2026-10-02 00:00:00.000"}])
    );
    let table = stdout(&run(&["query", &sql], &st));
    assert!(table.contains("| A         | 2026-10-01 00:00:00.000 |") && table.contains("2 rows · "), "{table}");

    // NDJSON: one object per line; Parquet to a file, read back by the engine's own reader.
    let nd = run(&["query", &sql, "--format", "ndjson"], &st);
    assert_eq!(
        stdout(&nd),
        "{\"eventname\":\"A\",\"eventtime\":\"2026-10-01 00:00:00.000\"}\n{\"eventname\":\"B\",\"eventtime\":\"2026-10-02 00:00:00.000\"}\n"
    );
    let pq = tmp.path().join("out.parquet");
    let o = run(&["query", &sql, "--format", "parquet", "-o", pq.to_str().expect("p"), "--stats"], &st);
    assert!(o.status.success(), "{}", stderr(&o));
    let file = std::fs::File::open(&pq).expect("parquet written");
    let rows: usize = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch").num_rows())
        .sum();
    assert_eq!(rows, 2);
    let st_line = stderr(&o);
    assert!(
        st_line.contains("events matched 2")
            && st_line.contains("events scanned 2")
            && st_line.contains("CloudTrail Lake would charge $"),
        "--stats prints the statistics to stderr: {st_line}"
    );

    // Saved query files: header, parameters as quoted literals, {{eds}} the only store.
    let q = tmp.path().join("by-name.sql");
    write(
        &q,
        "-- name: by-name\n-- description: events of one name\n-- param: name A The event name\n-- param: n 10 Rows\nSELECT eventName FROM {{eds}} WHERE eventName = {{name}} LIMIT {{n}}\n",
    );
    let qp = q.to_str().expect("p");
    assert_eq!(stdout(&run(&["query", "-f", qp, "--format", "csv"], &st)), "eventname\nA\n");
    assert_eq!(stdout(&run(&["query", "-f", qp, "--param", "name=B", "--format", "csv"], &st)), "eventname\nB\n");
    let inj = run(&["query", "-f", qp, "--param", "name=x' OR '1'='1", "--format", "csv"], &st);
    assert_eq!(stdout(&inj), "eventname\n", "a value is a literal, not SQL: {}", stderr(&inj));
    let unknown = run(&["query", "-f", qp, "--param", "nmae=B"], &st);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("unknown parameter `nmae`"), "{}", stderr(&unknown));
    let not_number = run(&["query", "-f", qp, "--param", "n=1;DROP"], &st);
    assert!(stderr(&not_number).contains("takes a number"), "{}", stderr(&not_number));

    let bad = run(&["query", "SELEC nope"], &st);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).starts_with("error: "), "{}", stderr(&bad));
    let dml = run(&["query", &format!("DELETE FROM {id}")], &st);
    assert_eq!(dml.status.code(), Some(1));
    let missing = run(&["eds", "describe", "nope"], &st);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn demo_runs_offline_and_finds_the_planted_incident() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    let trail = tmp.path().join("trail");
    let out = run(&["demo", "--out", trail.to_str().expect("p"), "--events", "2000"], &st);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stdout(&out);
    assert!(s.contains("arn:aws:iam::222222222222:user/mallory"), "{s}");
    assert!(s.contains("StopLogging") && s.contains("203.0.113.50"), "{s}");
    assert!(trail.join("AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail").is_dir());
    // The demo's trail has signed digests, validated as it was ingested, and the store verifies.
    assert!(
        stderr(&out).contains("files valid against their digests, 0 not covered by any digest, 0 invalid"),
        "{}",
        stderr(&out)
    );
    let keys = tmp.path().join("trail.keys/public-keys.json");
    let v = bin().args(["validate-logs"]).arg(&trail).arg("--public-key").arg(&keys).output().expect("run");
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let v = run(&["eds", "verify", "demo"], &st);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    // A second demo run ingests nothing twice.
    let again = run(&["demo", "--out", trail.to_str().expect("p"), "--events", "2000"], &st);
    assert!(stderr(&again).contains("0 events added"), "{}", stderr(&again));
}

/// A store with two events (A and B), named "audit"; returns the store path and the id.
fn two_event_store(tmp: &std::path::Path) -> (std::path::PathBuf, String) {
    let st = tmp.join("store");
    let out = run(&["eds", "create", "audit"], &st);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    let f = tmp.join("e.json");
    write(
        &f,
        format!(
            "{{\"Records\":[{},{}]}}",
            event("41000000-0000-4000-8000-000000000001", "2026-10-01T00:00:00Z", "A"),
            event("41000000-0000-4000-8000-000000000002", "2026-10-02T00:00:00Z", "B")
        ),
    );
    let ing = run(&["ingest", f.to_str().expect("p"), "--eds", "audit", "--no-progress"], &st);
    assert_eq!(ing.status.code(), Some(0), "{}", stderr(&ing));
    (st, id)
}

/// Mistakes in what the user asked exit 1 with one clear line; only internal faults exit 2.
#[test]
fn user_mistakes_exit_1_and_an_unknown_table_names_the_stores_there_are() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (st, id) = two_event_store(tmp.path());
    let mistakes = [
        "SELECT * FROM nosuch",
        "SELECT eventnmae FROM audit",
        "SELECT eventname + 1 FROM audit",
        "SELECT * FROM audit a JOIN audit b ON a.useridentity = 'x'",
        "SELECT CAST(eventname AS INTEGER) FROM audit",
        "SELECT json_extract_scalar(eventjson, 'not a path') FROM audit",
    ];
    for sql in mistakes {
        let out = run(&["query", sql], &st);
        assert_eq!(out.status.code(), Some(1), "{sql}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error: "), "{sql}: {}", stderr(&out));
    }
    let unknown = stderr(&run(&["query", "SELECT * FROM nosuch"], &st));
    assert!(unknown.contains("nosuch") && unknown.contains("audit") && unknown.contains(&id), "{unknown}");
    let empty = tmp.path().join("empty");
    let none = stderr(&run(&["query", "SELECT * FROM nosuch"], &empty));
    assert!(none.contains("no event data stores yet"), "{none}");

    // Command-line mistakes are the user's too (clap alone would exit 2).
    for args in [&["--badflag"][..], &["query", "--format", "xml", "SELECT 1"], &["eds", "nosuchcommand"]] {
        let out = run(args, &st);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(run(&["--help"], &st).status.code(), Some(0));
    assert_eq!(run(&["--version"], &st).status.code(), Some(0));
}

/// SQL as people paste it: starting with a `--` comment, or piped in on standard input.
#[test]
fn query_text_may_start_with_a_comment_or_come_on_stdin() {
    use std::io::Write;
    let tmp = tempfile::tempdir().expect("tmp");
    let (st, _) = two_event_store(tmp.path());
    let sql = "-- returns both events\nSELECT eventName FROM audit ORDER BY eventName";
    let out = run(&["query", sql, "--format", "csv"], &st);
    assert_eq!(stdout(&out), "eventname\nA\nB\n", "{}", stderr(&out));
    let out = run(&["query", "--format", "csv", sql], &st);
    assert_eq!(stdout(&out), "eventname\nA\nB\n", "flags before the text: {}", stderr(&out));
    let out = run(&["query", "--stats", "--format", "csv", "SELECT count(*) AS n FROM audit"], &st);
    assert_eq!(stdout(&out), "n\n2\n", "flags stay flags: {}", stderr(&out));
    assert!(stderr(&out).contains("events matched"), "{}", stderr(&out));

    let piped = |args: &[&str], input: &str| {
        let mut child = bin()
            .arg("--store")
            .arg(&st)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("wait")
    };
    for args in [
        &["query", "--format", "csv"][..],
        &["query", "-", "--format", "csv"],
        &["query", "-f", "-", "--format", "csv"],
    ] {
        let out = piped(args, sql);
        assert_eq!(stdout(&out), "eventname\nA\nB\n", "{args:?}: {}", stderr(&out));
    }
    let out = piped(
        &["query", "-f", "-", "--format", "csv", "--param", "name=B"],
        "-- param: name A\nSELECT eventName FROM {{eds}} WHERE eventName = {{name}}",
    );
    assert_eq!(stdout(&out), "eventname\nB\n", "a saved query on stdin: {}", stderr(&out));
    let out = piped(&["query"], "  \n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no SQL"), "{}", stderr(&out));
}

/// `eds list` is a table whose columns line up whatever the status or name length.
#[test]
fn eds_list_columns_line_up() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    for name in ["abc", "a-store-with-a-name-longer-than-twenty-four"] {
        let out = run(&["eds", "create", name], &st);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(run(&["eds", "stop-ingestion", "abc"], &st).status.success());
    let out = stdout(&run(&["eds", "list"], &st));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for column in ["NAME", "STATUS", "CREATED"] {
        let at = lines[0].find(column).expect("header");
        for line in &lines[1..] {
            assert!(line[..at].ends_with("  ") && !line[at..].starts_with(' '), "{column} misaligned:\n{out}");
        }
    }
    assert!(out.contains("STOPPED_INGESTION") && out.contains("366 days"), "{out}");
}

/// Generated SQL (a tool that writes `1 + 1 + …` or an OR per value) planned on a stack deep
/// enough, instead of killing the process with a stack overflow; nesting past the parser's
/// limit is a clear error.
#[test]
fn deep_generated_statements_answer_or_fail_clearly_never_crash() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (st, _) = two_event_store(tmp.path());
    let sum = format!("SELECT {} AS n", vec!["1"; 2500].join(" + "));
    let out = run(&["query", &sum, "--format", "csv"], &st);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n2500\n");
    let ors = vec!["eventname = 'A'"; 2500].join(" OR ");
    let out = run(&["query", &format!("SELECT count(*) AS n FROM audit WHERE {ors}"), "--format", "csv"], &st);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n1\n");
    let nested = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let out = run(&["query", &nested], &st);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("recursion limit"), "{}", stderr(&out));
}
