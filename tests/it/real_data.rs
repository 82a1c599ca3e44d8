//! Every file of the real, adversarial captures in `../shared/data/real/`.

use crate::common::*;

/// Distinct eventIDs in the corpus (SOURCES.md/stats.txt: 452 events, two delivered twice),
/// minus the two Insights records that do not belong in a CloudTrail event data store.
/// Events older than the longest retention (3653 days, kept by the implicit "default" store)
/// are counted as past retention instead of stored: one of 2015-06-17 (trailscraper) today,
/// more as the years pass.
const VALID_EVENTS: i64 = 448;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_captures_ingest_once_and_bad_file_is_quarantined() {
    let Some(data) = shared_data() else { return };
    let tmp = tempfile::tempdir().expect("tmp");
    let store = store_in(tmp.path());
    let real = data.join("real");
    let r = ingest_paths(&store, None, &[&real]).await;

    let cutoff = chrono::Utc::now() - chrono::Duration::days(3653);
    assert!(cutoff.to_rfc3339().as_str() > "2015-06-17", "the 2015 event is past retention");
    assert!(r.expired >= 1, "{}", r.summary());
    assert_eq!(r.events_added as i64 + r.expired as i64, VALID_EVENTS, "{}", r.summary());
    let stored = r.events_added as i64;
    // The .json twin of a .json.gz, and two events repeated in the smoke-test file.
    assert_eq!(r.duplicates_skipped, 4, "{}", r.summary());
    assert_eq!(r.insights_skipped, 2);
    assert_eq!(r.digests_skipped, 1, "the otel digest file");
    // Only the truncated cloudgrep file is bad.
    assert_eq!(r.quarantined_records, 1, "{:?}", r.messages);
    assert!(r.messages[0].contains("bad_cloudtrail.json") && r.messages[0].contains("truncated"), "{:?}", r.messages);
    assert_eq!(r.exit_code(), 3);
    let q = std::fs::read_to_string(r.quarantine_files[0].as_str()).expect("quarantine file");
    assert!(q.contains("bad_cloudtrail.json") && q.contains("\"reason\""));

    let n = count(&store, "SELECT count(*) FROM default").await;
    let distinct = count(&store, "SELECT count(DISTINCT eventid) FROM default").await;
    assert_eq!((n, distinct), (stored, stored));

    // Logstash export: no eventTime, time taken from @timestamp.
    let otrf = count(
        &store,
        "SELECT count(*) FROM default WHERE eventTime BETWEEN '2020-09-14 00:00:00' AND '2020-09-15 00:00:00'",
    )
    .await;
    assert_eq!(otrf, 103);
    // CloudWatch Logs envelope event, and ARNPrefix resources.
    assert_eq!(count(&store, "SELECT count(*) FROM default WHERE eventTime = '2026-01-28 09:26:59'").await, 1);
    let prefixed = count(&store, "SELECT count(*) FROM default WHERE eventName = 'ListObjects' AND get_field(resources[1], 'arnprefix') IS NOT NULL").await;
    assert_eq!(prefixed, 7);
    // Boolean MFAUsed (type drift) stored as text; real "No" as is.
    let mfa = query_json(
        &store,
        "SELECT additionalEventData['MFAUsed'] AS m FROM default WHERE eventName = 'ConsoleLogin' ORDER BY m",
    )
    .await;
    assert_eq!(mfa, vec![serde_json::json!({"m": "No"}), serde_json::json!({"m": "true"})]);
    // sessionCredentialFromConsole is the text "true" in real events; Lake queries compare it
    // with a boolean literal, and that must find the same events as the text does.
    let as_text = count(&store, "SELECT count(*) FROM default WHERE sessionCredentialFromConsole = 'true'").await;
    let as_bool = count(&store, "SELECT count(*) FROM default WHERE sessionCredentialFromConsole = true").await;
    let present = count(&store, "SELECT count(*) FROM default WHERE sessionCredentialFromConsole IS NOT NULL").await;
    assert!(as_text > 0, "the captures hold console-credential events");
    assert_eq!((as_bool, present), (as_text, as_text));
    let not_false = count(&store, "SELECT count(*) FROM default WHERE sessionCredentialFromConsole <> false").await;
    assert_eq!(not_false, as_text);
    // Every stored event keeps its original text with a matching checksum.
    let bad = count(
        &store,
        "SELECT count(*) FROM default WHERE eventjsonchecksum IS DISTINCT FROM encode(sha256(eventjson), 'hex')",
    )
    .await;
    assert_eq!(bad, 0);
    // ... and that text is the record's bytes as the source file holds them: each is found
    // verbatim in the sources, except the CloudWatch Logs event (its text was a JSON string
    // inside the envelope, so the file holds it escaped).
    let sources = source_texts(&real);
    let rows = query_json(&store, "SELECT eventjson, eventtime FROM default").await;
    assert_eq!(rows.len() as i64, stored);
    let not_found: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            let text = r["eventjson"].as_str().expect("text");
            !sources.iter().any(|s| s.contains(text))
        })
        .collect();
    assert_eq!(not_found.len(), 1, "{not_found:?}");
    assert!(not_found[0]["eventtime"].as_str().is_some_and(|t| t.starts_with("2026-01-28")), "{not_found:?}");

    // Idempotent: a second run reads nothing new.
    let again = ingest_paths(&store, None, &[&real]).await;
    assert_eq!(again.events_added, 0);
    assert_eq!(again.files, 0, "{}", again.summary());
    assert!(again.sources_already_ingested >= 48);
    assert_eq!(count(&store, "SELECT count(*) FROM default").await, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_real_matches_duckdb_reading_the_same_json() {
    // Independent check of field mapping: DuckDB's count of events per eventName in the
    // Stratus files (bare JSON arrays) equals ours.
    let Some(data) = shared_data() else { return };
    let stratus = data.join("real/stratus-red-team");
    let duck = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import duckdb,json; print(json.dumps(duckdb.sql(\"SELECT eventName, count(DISTINCT eventID) FROM read_json_auto('{}/*.json', format='array', union_by_name=true) GROUP BY 1 ORDER BY 1\").fetchall()))",
            stratus.display()
        ))
        .output();
    let Ok(duck) = duck else { return };
    if !duck.status.success() {
        skip_or_fail(&format!("duckdb for python is not installed: {}", String::from_utf8_lossy(&duck.stderr)));
        return;
    }
    let expected: Vec<(String, i64)> = serde_json::from_slice(&duck.stdout).expect("duckdb json");
    let tmp = tempfile::tempdir().expect("tmp");
    let store = store_in(tmp.path());
    ingest_paths(&store, None, &[&stratus]).await;
    let rows = query_json(&store, "SELECT eventName AS n, count(*) AS c FROM default GROUP BY 1 ORDER BY 1").await;
    let ours: Vec<(String, i64)> =
        rows.iter().map(|r| (r["n"].as_str().unwrap_or_default().to_string(), r["c"].as_i64().unwrap_or(-1))).collect();
    assert_eq!(ours, expected);
}

/// The text of every file under `dir`, gunzipped when gzip.
fn source_texts(dir: &std::path::Path) -> Vec<String> {
    use std::io::Read;
    files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            let mut text = Vec::new();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                // A truncated gzip still gives what it has.
                let _ = flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut text);
            } else {
                text = bytes;
            }
            String::from_utf8_lossy(&text).into_owned()
        })
        .collect()
}
