//! Event data store lifecycle, retention and advanced event selectors, through the command
//! line as users run them.

use std::path::Path;

use chrono::{Duration, Utc};
use serde_json::Value;

use crate::common::*;

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "stdout: {}\nstderr: {}", stdout(out), stderr(out));
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn trail(path: &Path, events: &[String]) {
    write(path, format!("{{\"Records\":[{}]}}", events.join(",")));
}

fn ingest(st: &Path, file: &Path, eds: &str) -> std::process::Output {
    run(&["ingest", file.to_str().expect("path"), "--eds", eds, "--no-progress", "--format", "json"], st)
}

fn count_of(st: &Path, eds: &str) -> i64 {
    let out = run(&["query", &format!("SELECT count(*) AS n FROM \"{eds}\""), "--format", "json"], st);
    json(&out)[0]["n"].as_i64().expect("n")
}

fn event_id(n: u32) -> String {
    format!("60000000-0000-4000-8000-{n:012}")
}

#[test]
fn settings_are_validated_and_stopped_stores_refuse_ingest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    let rec = json(&run(
        &[
            "eds",
            "create",
            "audit",
            "--retention-period",
            "30",
            "--no-termination-protection-enabled",
            "--format",
            "json",
        ],
        &st,
    ));
    assert_eq!(rec["retentionPeriod"], 30);
    assert_eq!(rec["terminationProtectionEnabled"], false);
    assert_eq!(rec["status"], "ENABLED");
    let defaults = json(&run(&["eds", "create", "other", "--format", "json"], &st));
    assert_eq!(defaults["retentionPeriod"], 366);
    assert_eq!(defaults["terminationProtectionEnabled"], true);

    for bad in ["6", "3654"] {
        let out = run(&["eds", "create", "short", "--retention-period", bad], &st);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("7 to 3653 days"), "{}", stderr(&out));
    }
    let out = run(&["eds", "update", "audit", "--name", "other"], &st);
    assert_eq!(out.status.code(), Some(1), "names stay unique");

    // Update by ARN; the name changes, the id stays.
    let arn = rec["arn"].as_str().expect("arn");
    let upd =
        json(&run(&["eds", "update", arn, "--name", "audit-2", "--retention-period", "90", "--format", "json"], &st));
    assert_eq!((upd["name"].as_str(), upd["retentionPeriod"].as_u64()), (Some("audit-2"), Some(90)));
    assert_eq!(upd["id"], rec["id"]);

    let f = tmp.path().join("t.json");
    let now = Utc::now();
    trail(&f, &[event(&event_id(1), &iso(now - Duration::hours(2)), "RunInstances")]);
    let stopped = json(&run(&["eds", "stop-ingestion", "audit-2", "--format", "json"], &st));
    assert_eq!(stopped["status"], "STOPPED_INGESTION");
    let refused = ingest(&st, &f, "audit-2");
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("start-ingestion"), "{}", stderr(&refused));
    assert_eq!(count_of(&st, "audit-2"), 0, "a stopped store stays queryable");
    assert_eq!(run(&["eds", "stop-ingestion", "audit-2"], &st).status.code(), Some(1), "already stopped");
    assert_eq!(json(&run(&["eds", "start-ingestion", "audit-2", "--format", "json"], &st))["status"], "ENABLED");
    assert_eq!(json(&ingest(&st, &f, "audit-2"))["eventsAdded"], 1);
    assert_eq!(run(&["eds", "start-ingestion", "audit-2"], &st).status.code(), Some(1), "already enabled");
}

#[test]
fn delete_waits_seven_days_restore_brings_the_data_back_then_maintenance_purges() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    let id = stdout(&run(&["eds", "create", "gone"], &st)).trim().to_string();
    let f = tmp.path().join("t.json");
    let now = Utc::now();
    trail(&f, &[1, 2, 3].map(|n| event(&event_id(n), &iso(now - Duration::hours(n.into())), "RunInstances")));
    assert_eq!(json(&ingest(&st, &f, "gone"))["eventsAdded"], 3);

    let refused = run(&["eds", "delete", "gone"], &st);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("termination protection"), "{}", stderr(&refused));
    json(&run(&["eds", "update", "gone", "--no-termination-protection-enabled", "--format", "json"], &st));
    let deleted = json(&run(&["eds", "delete", &id, "--format", "json"], &st));
    assert_eq!(deleted["status"], "PENDING_DELETION");
    assert!(deleted["deletedTimestamp"].is_string());

    // Not queryable, not ingestible, not updatable, still listed.
    let q = run(&["query", &format!("SELECT count(*) FROM {id}")], &st);
    assert_eq!(q.status.code(), Some(1));
    assert!(stderr(&q).contains("PENDING_DELETION"), "{}", stderr(&q));
    assert_eq!(ingest(&st, &f, "gone").status.code(), Some(1));
    assert_eq!(run(&["eds", "update", "gone", "--retention-period", "30"], &st).status.code(), Some(1));
    let list = json(&run(&["eds", "list", "--format", "json"], &st));
    assert_eq!(list[0]["status"], "PENDING_DELETION");

    // Maintenance inside the window leaves it; restore brings it back with its data.
    let m = json(&run(&["eds", "maintain", "--format", "json"], &st));
    assert_eq!(m[0]["action"], "waiting");
    assert_eq!(json(&run(&["eds", "restore", "gone", "--format", "json"], &st))["status"], "ENABLED");
    assert_eq!(count_of(&st, "gone"), 3);
    assert_eq!(run(&["eds", "restore", "gone"], &st).status.code(), Some(1), "only pending stores restore");

    // Deleted again and 8 days later: purged, files and catalog entry gone.
    json(&run(&["eds", "delete", "gone", "--format", "json"], &st));
    let later = iso(now + Duration::days(8));
    let m = json(&run(&["eds", "maintain", "--now", &later, "--format", "json"], &st));
    assert_eq!(m[0]["action"], "purged");
    assert!(!st.join("eds").join(&id).exists(), "table files removed");
    assert_eq!(json(&run(&["eds", "list", "--format", "json"], &st)), serde_json::json!([]));
    assert_eq!(run(&["eds", "describe", &id], &st).status.code(), Some(1));
}

#[test]
fn retention_applies_at_ingest_and_at_maintenance() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    json(&run(&["eds", "create", "week", "--retention-period", "7", "--format", "json"], &st));
    let now = Utc::now();
    let f = tmp.path().join("a.json");
    trail(
        &f,
        &[
            event(&event_id(1), &iso(now - Duration::days(1)), "Fresh"),
            event(&event_id(2), &iso(now - Duration::days(30)), "Old"),
        ],
    );
    let rep = json(&ingest(&st, &f, "week"));
    assert_eq!((rep["eventsAdded"].as_u64(), rep["expired"].as_u64()), (Some(1), Some(1)));

    // A store with the default retention keeps all; lowering it acts at the next maintenance,
    // by eventTime, also inside the boundary day.
    json(&run(&["eds", "create", "year", "--format", "json"], &st));
    let times = [
        now - Duration::days(1),
        now - Duration::days(7) + Duration::hours(1),
        now - Duration::days(7) - Duration::hours(1),
        now - Duration::days(40),
    ];
    // Three runs into the same days: several small files for compaction to merge.
    for (i, t) in times.iter().enumerate() {
        let f = tmp.path().join(format!("y{i}.json"));
        trail(
            &f,
            &[event(&event_id(10 + i as u32), &iso(*t), "Call"), event(&event_id(20 + i as u32), &iso(*t), "Call")],
        );
        assert_eq!(json(&ingest(&st, &f, "year"))["eventsAdded"], 2);
    }
    let f = tmp.path().join("y-extra.json");
    trail(&f, &[event(&event_id(30), &iso(times[0] + Duration::minutes(5)), "Call")]);
    json(&ingest(&st, &f, "year"));
    assert_eq!(count_of(&st, "year"), 9);
    json(&run(&["eds", "update", "year", "--retention-period", "7", "--format", "json"], &st));
    assert_eq!(count_of(&st, "year"), 9, "lowering retention waits for maintenance");

    let files_before = json(&run(&["eds", "describe", "year", "--format", "json"], &st))["fileCount"].as_u64();
    let m = json(&run(&["eds", "maintain", "year", "--vacuum-retain-hours", "0", "--format", "json"], &st));
    assert_eq!(m[0]["action"], "maintained");
    assert_eq!(m[0]["expiredEventsDeleted"], 4, "{m}");
    assert_eq!(count_of(&st, "year"), 5);
    let ids = json(&run(&["query", "SELECT eventID AS id FROM year ORDER BY eventTime", "--format", "json"], &st));
    let kept: Vec<&str> = ids.as_array().expect("rows").iter().filter_map(|r| r["id"].as_str()).collect();
    assert!(kept.contains(&event_id(11).as_str()) && !kept.contains(&event_id(12).as_str()), "{kept:?}");
    // Rewritten files keep each event's text restorable (it refers to the row's own columns).
    let texts = json(&run(&["query", "SELECT eventID AS id, eventjson AS j FROM year", "--format", "json"], &st));
    for r in texts.as_array().expect("rows") {
        let text: serde_json::Value = serde_json::from_str(r["j"].as_str().expect("text")).expect("event JSON");
        assert_eq!(text["eventID"], r["id"], "{r}");
    }
    assert!(m[0]["daysCompacted"].as_u64() >= Some(1), "the day written twice is compacted: {m}");
    let files_after = json(&run(&["eds", "describe", "year", "--format", "json"], &st))["fileCount"].as_u64();
    assert!(files_after < files_before, "{files_before:?} → {files_after:?}");
    assert!(m[0]["filesVacuumed"].as_u64() > Some(0), "{m}");
}

/// An event with the fields selectors look at.
fn data_event(
    n: u32,
    category: &str,
    name: &str,
    read_only: bool,
    resources: &[(&str, &str)],
    console: bool,
) -> String {
    let res: Vec<String> = resources.iter().map(|(t, a)| format!(r#"{{"type":"{t}","ARN":"{a}"}}"#)).collect();
    format!(
        r#"{{"eventVersion":"1.10","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/s"}},
        "eventTime":"{}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1",
        "eventID":"{}","readOnly":{read_only},"eventType":"AwsApiCall","eventCategory":"{category}",
        "resources":[{}]{}}}"#,
        iso(Utc::now() - Duration::hours(1)),
        event_id(n),
        res.join(","),
        if console { r#","sessionCredentialFromConsole":"true""# } else { "" }
    )
}

#[test]
fn advanced_event_selectors_filter_at_ingest_with_aws_semantics() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    let selectors = r#"[
      {"Name": "management writes", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]},
        {"Field": "readOnly", "Equals": ["false"]}]},
      {"Name": "prod object writes not from the console", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::prod/"], "NotEndsWith": [".tmp"]},
        {"Field": "eventName", "StartsWith": ["Put", "Delete"], "NotEquals": ["PutObjectTagging"]},
        {"Field": "sessionCredentialFromConsole", "NotEquals": ["true"]}]}
    ]"#;
    let sel_file = tmp.path().join("selectors.json");
    write(&sel_file, selectors);
    let arg = format!("file://{}", sel_file.display());
    let rec = json(&run(&["eds", "create", "filtered", "--advanced-event-selectors", &arg, "--format", "json"], &st));
    assert_eq!(rec["advancedEventSelectors"][1]["Name"], "prod object writes not from the console");

    let bucket = ("AWS::S3::Bucket", "arn:aws:s3:::prod");
    let events = [
        data_event(1, "Management", "CreateUser", false, &[], false), // kept: selector 1
        data_event(2, "Management", "ListUsers", true, &[], false),   // read-only: dropped
        data_event(3, "Data", "PutObject", false, &[bucket, ("AWS::S3::Object", "arn:aws:s3:::prod/a.json")], false), // kept: second resource matches
        data_event(4, "Data", "PutObject", false, &[("AWS::S3::Object", "arn:aws:s3:::dev/a.json")], false), // wrong prefix
        data_event(5, "Data", "PutObject", false, &[("AWS::S3::Object", "arn:aws:s3:::prod/x.tmp")], false), // NotEndsWith
        data_event(6, "Data", "PutObjectTagging", false, &[("AWS::S3::Object", "arn:aws:s3:::prod/b")], false), // NotEquals
        data_event(7, "Data", "GetObject", true, &[("AWS::S3::Object", "arn:aws:s3:::prod/b")], false), // not Put/Delete
        data_event(8, "Data", "DeleteObject", false, &[("AWS::S3::Object", "arn:aws:s3:::prod/c")], true), // console
        data_event(9, "Data", "DeleteObject", false, &[("AWS::S3::Object", "arn:aws:s3:::prod/c")], false), // kept
    ];
    let f = tmp.path().join("t.json");
    trail(&f, &events);
    let rep = json(&ingest(&st, &f, "filtered"));
    assert_eq!((rep["eventsAdded"].as_u64(), rep["filtered"].as_u64()), (Some(3), Some(6)), "{rep}");
    let ids = json(&run(&["query", "SELECT eventID AS id FROM filtered ORDER BY eventID", "--format", "json"], &st));
    let kept: Vec<&str> = ids.as_array().expect("rows").iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(kept, [event_id(1), event_id(3), event_id(9)]);

    // Invalid selectors are refused with the reason; clearing them keeps everything again.
    let bad = run(
        &[
            "eds",
            "update",
            "filtered",
            "--advanced-event-selectors",
            r#"[{"FieldSelectors":[{"Field":"eventName","Equals":["x"]}]}]"#,
        ],
        &st,
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("eventCategory is required"), "{}", stderr(&bad));
    let cleared =
        json(&run(&["eds", "update", "filtered", "--clear-advanced-event-selectors", "--format", "json"], &st));
    assert!(cleared.get("advancedEventSelectors").is_none(), "{cleared}");
}

#[test]
fn concurrent_catalog_changes_are_not_lost() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    json(&run(&["eds", "create", "shared", "--format", "json"], &st));
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut c = bin();
            c.arg("--store").arg(&st);
            if i % 2 == 0 {
                c.args(["eds", "create", &format!("store-{i}")]);
            } else {
                c.args(["eds", "update", "shared", "--retention-period", &(100 + i).to_string()]);
            }
            c.stdout(std::process::Stdio::null()).spawn().expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let list = json(&run(&["eds", "list", "--format", "json"], &st));
    let names: Vec<&str> = list.as_array().expect("list").iter().filter_map(|e| e["name"].as_str()).collect();
    for i in [0, 2, 4, 6] {
        assert!(names.contains(&format!("store-{i}").as_str()), "{names:?}");
    }
    assert_eq!(names.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_is_safe_while_queries_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    json(&run(&["eds", "create", "busy", "--format", "json"], &st));
    let now = Utc::now();
    for i in 0..3u32 {
        let f = tmp.path().join(format!("b{i}.json"));
        trail(
            &f,
            &[
                event(&event_id(100 + i), &iso(now - Duration::hours(1 + i64::from(i))), "Recent"),
                event(&event_id(200 + i), &iso(now - Duration::days(20)), "Old"),
            ],
        );
        json(&ingest(&st, &f, "busy"));
    }
    json(&run(&["eds", "update", "busy", "--retention-period", "7", "--format", "json"], &st));
    // A query planned on the snapshot before maintenance ...
    let engine = traillake::engine::Engine::open(&store_in(tmp.path())).await.expect("engine");
    let planned = engine.plan("SELECT count(eventID) AS n FROM busy WHERE eventName <> ''").await.expect("plan");
    // ... maintenance deletes, compacts and vacuums (sparing files removed < 1 hour ago) ...
    let m = json(&run(&["eds", "maintain", "busy", "--format", "json"], &st));
    assert_eq!(m[0]["expiredEventsDeleted"], 3, "{m}");
    assert!(m[0]["filesCompacted"].as_u64() > Some(0), "{m}");
    // ... and the query still reads its snapshot in full.
    use futures::TryStreamExt;
    let batches: Vec<_> =
        planned.execute().await.expect("execute").try_collect().await.expect("old snapshot still readable");
    let n = batches[0].column(0).as_any().downcast_ref::<arrow::array::Int64Array>().expect("count").value(0);
    assert_eq!(n, 6);
    assert_eq!(count_of(&st, "busy"), 3, "a new query sees the maintained store");
}
