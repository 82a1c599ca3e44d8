//! Containers, compression detection, type drift and bad input, end to end through ingest.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_container_format_ingests() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("in");
    let e = |i: u32| event(&format!("00000000-0000-4000-8000-{i:012}"), "2026-09-02T10:00:00Z", "DescribeInstances");
    // {"Records": [...]} gzip, named .json (detected by content)
    write(&d.join("records.json"), gzip(format!("{{\"Records\":[{},{}]}}", e(1), e(2)).as_bytes()));
    // bare array, pretty-printed
    write(&d.join("array.json"), format!("[\n  {},\n  {}\n]\n", e(3), e(4)));
    // one event per line, gzip named .jsonl
    write(&d.join("lines.jsonl"), gzip(format!("{}\n{}\n", e(5), e(6)).as_bytes()));
    // CloudWatch Logs subscription envelope
    let msg = serde_json::to_string(&e(7)).expect("json");
    write(
        &d.join("cw.json"),
        format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"1","logEvents":[{{"id":"1","timestamp":1,"message":{msg}}}]}}"#
        ),
    );
    // a digest: recognised, skipped
    write(
        &d.join("AWSLogs/1/CloudTrail-Digest/us-east-1/2026/09/02/d.json.gz"),
        gzip(br#"{"digestStartTime":"x","logFiles":[]}"#),
    );
    // an Insights record: counted, not stored
    write(
        &d.join("insight.json"),
        r#"{"Records":[{"eventVersion":"1.08","eventTime":"2026-09-02T10:00:00Z","eventType":"AwsCloudTrailInsight","eventID":"x","eventCategory":"Insight"}]}"#,
    );
    // ignored by name inside a folder
    write(&d.join("README.md"), "not a trail");

    let store = store_in(tmp.path());
    let r = ingest_paths(&store, None, &[&d]).await;
    assert_eq!(r.events_added, 7, "{}", r.summary());
    assert_eq!((r.insights_skipped, r.digests_skipped, r.ignored_files), (1, 1, 1));
    assert_eq!(r.quarantined_records, 0, "{:?}", r.messages);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(
        count(&store, "SELECT count(DISTINCT eventid) FROM default WHERE eventTime > '2026-09-01 00:00:00'").await,
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_quarantined_and_good_neighbours_kept() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path().join("in");
    let good = |i: u32| event(&format!("10000000-0000-4000-8000-{i:012}"), "2026-09-03T10:00:00.250Z", "RunInstances");
    let huge = format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-09-03T10:00:00Z","eventID":"big","requestParameters":{{"blob":"{}"}}}}"#,
        "x".repeat(1_100_000)
    );
    let near_max = format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-09-03T11:00:00Z","eventID":"10000000-0000-4000-8000-00000000aaaa","eventName":"Big","requestParameters":{{"blob":"{}"}}}}"#,
        "y".repeat(1_000_000)
    );
    let mut invalid_utf8 =
        br#"{"eventVersion":"1.08","eventTime":"2026-09-03T10:00:00Z","eventID":"u","userAgent":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(b"\"}");
    let mut lines = Vec::new();
    for l in [
        good(1).into_bytes(),
        b"{\"eventVersion\":\"1.08\", broken json}".to_vec(),
        br#"{"hello":"not cloudtrail"}"#.to_vec(),
        br#"{"eventVersion":"1.08","eventID":"no-time","eventName":"X"}"#.to_vec(),
        huge.into_bytes(),
        invalid_utf8,
        near_max.into_bytes(),
        good(2).into_bytes(),
    ] {
        lines.extend_from_slice(&l);
        lines.push(b'\n');
    }
    write(&d.join("mixed.ndjson"), &lines);
    // truncated gzip: the complete records before the cut are still read
    let body = format!("{{\"Records\":[{},{}]}}", good(3), good(4));
    let gz = gzip(body.as_bytes());
    write(&d.join("cut.json.gz"), &gz[..gz.len() - 30]);
    // a file that is not JSON at all
    write(&d.join("garbage.json"), [0u8, 1, 2, 3, 255, 10]);

    let store = store_in(tmp.path());
    let r = ingest_paths(&store, None, &[&d]).await;
    let msgs = r.messages.join("\n");
    assert_eq!(r.exit_code(), 3);
    for needle in [
        "mixed.ndjson: record 2",
        "invalid JSON",
        "not a CloudTrail event",
        "no parseable eventTime",
        "exceeds",
        "invalid UTF-8",
        "cut.json.gz",
        "garbage.json",
    ] {
        assert!(msgs.contains(needle), "missing {needle:?} in:\n{msgs}");
    }
    // good(1), good(2), the 1 MB event, and whatever of cut.json.gz decompressed intact
    let stored = count(&store, "SELECT count(*) FROM default").await;
    assert!((3..=5).contains(&stored), "{stored} stored\n{}", r.summary());
    assert_eq!(count(&store, "SELECT count(*) FROM default WHERE eventName = 'Big'").await, 1);
    assert_eq!(
        count(&store, "SELECT count(*) FROM default WHERE eventid LIKE '10000000-0000-4000-8000-00000000000%'").await
            as u64,
        stored as u64 - 1
    );
    let q: String = r.quarantine_files.iter().map(|f| std::fs::read_to_string(f).expect("read")).collect();
    assert_eq!(q.lines().count() as u64, r.quarantined_records);
    assert!(q.contains("not cloudtrail") && q.contains("raw_base64"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_ingestible_exits_1() {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join("bad.json");
    write(&f, "{\"Records\":[{\"eventVersion\":");
    let out = run(&["ingest", f.to_str().expect("utf8"), "--no-progress"], &tmp.path().join("store"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.json"), "{}", stderr(&out));
    // Not JSON at all, and JSON that is not CloudTrail: nothing usable either.
    let g = tmp.path().join("notes.txt");
    write(&g, "meeting notes\n{\"hello\":\"world\"}\n");
    let out = run(&["ingest", g.to_str().expect("utf8"), "--no-progress"], &tmp.path().join("store"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a CloudTrail event"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_drift_is_kept() {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join("drift.json");
    write(
        &f,
        r#"{"Records":[
      {"eventVersion":"1.08","eventTime":"2026-09-04T00:00:01Z","eventID":"20000000-0000-4000-8000-000000000001","eventName":"A",
       "requestParameters":"a string","responseElements":12,"readOnly":"false","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com","sessionContext":"odd"},
       "resources":[{"ARN":"arn:aws:s3:::b"},{"ARNPrefix":"arn:aws:s3:::b/p/","accountId":"1"}],"sessionCredentialFromConsole":"true","managementEvent":"yes","futureField":{"x":1}},
      {"eventVersion":"1.08","eventTime":"2026-09-04T00:00:02Z","eventID":"20000000-0000-4000-8000-000000000002","eventName":{"nested":true},
       "requestParameters":{"n":1,"b":true,"o":{"k":[1,2]},"z":null},"resources":"not a list","userIdentity":null}
    ]}"#,
    );
    let store = store_in(tmp.path());
    let r = ingest_paths(&store, None, &[&f]).await;
    assert_eq!((r.events_added, r.quarantined_records), (2, 0), "{:?}", r.messages);
    let rows = query_json(
        &store,
        "SELECT eventName AS n, requestParameters['o'] AS o, requestParameters['n'] AS num, readOnly AS ro, \
        cardinality(resources) AS res, userIdentity.invokedBy AS inv, sessionCredentialFromConsole AS scfc \
        FROM default ORDER BY eventTime",
    )
    .await;
    assert_eq!(rows[0]["n"], "A");
    assert_eq!(rows[0]["ro"], false);
    assert_eq!(rows[0]["res"], 2);
    assert_eq!(rows[0]["inv"], "s3.amazonaws.com");
    assert_eq!(rows[0]["scfc"], "true");
    assert_eq!(rows[1]["n"], r#"{"nested":true}"#);
    assert_eq!(rows[1]["o"], r#"{"k":[1,2]}"#);
    assert_eq!(rows[1]["num"], "1");
    // Unknown fields stay in the original text.
    assert_eq!(count(&store, "SELECT count(*) FROM default WHERE eventjson LIKE '%futureField%'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_records_is_written_out_as_it_comes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let f = tmp.path().join("flood.ndjson");
    let bad = format!("{{\"not\":\"cloudtrail\",\"pad\":\"{}\"}}\n", "z".repeat(1000));
    let mut body = bad.repeat(40_000);
    body.push_str(&event("60000000-0000-4000-8000-000000000001", "2026-10-05T00:00:00Z", "Good"));
    write(&f, body);
    let store = store_in(tmp.path());
    let r = ingest_paths(&store, None, &[&f]).await;
    assert_eq!((r.events_added, r.quarantined_records), (1, 40_000));
    assert!(r.quarantine_files.len() >= 2, "quarantine written in pieces: {:?}", r.quarantine_files);
    let lines: usize =
        r.quarantine_files.iter().map(|q| std::fs::read_to_string(q).expect("read").lines().count()).sum();
    assert_eq!(lines, 40_000);
    assert!(r.messages.len() <= 1_000);
}
