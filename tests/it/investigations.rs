//! The investigation library and `lookup` on the demo trail: every saved query finds what the
//! generator planted, and every lookup attribute agrees with the SQL that means the same.

use std::collections::BTreeSet;

use traillake::investigate::library::Library;
use traillake::investigate::saved::DefaultStores;

use crate::common::*;

/// What each saved query must show on the demo store: a value only the planted incident has.
const PLANTED: &[(&str, &str)] = &[
    ("access-denied-bursts", "user/mallory"),
    ("activity-from-ip", "CreateUser"),
    ("activity-of-access-key", "GetObject"),
    ("activity-of-role-session", "RunInstances"),
    ("api-volume-by-user-agent", "aws-cli/2.15.30"),
    ("cloudtrail-tampering", "StopLogging"),
    ("console-logins-by-ip", "203.0.113.50"),
    ("console-logins-without-mfa", "user/mallory"),
    ("cross-account-activity", "333333333333"),
    ("destructive-actions", "prod-logs-archive"),
    ("errors-by-principal", "user/mallory"),
    ("failed-console-logins-by-ip", "203.0.113.50"),
    ("first-use-of-region", "ap-southeast-1"),
    ("iam-policies-attached", "AdministratorAccess"),
    ("iam-users-and-keys-created", "backup-svc"),
    ("kms-key-deletion", "ScheduleKeyDeletion"),
    ("large-s3-downloads", "backup-svc"),
    ("mfa-and-password-changes", "DeactivateMFADevice"),
    ("new-principals", "mallory-pivot"),
    ("role-trust-policy-changes", "444455556666"),
    ("root-account-activity", "203.0.113.50"),
    ("s3-bucket-exposure-changes", "PutBucketPolicy"),
    ("s3-reads-from-unexpected-networks", "backup-svc"),
    ("secrets-and-parameters-read", "prod/db-password"),
    ("security-groups-open-to-world", "sg-0abc1234def567890"),
    ("security-services-disabled", "DeleteDetector"),
    ("ssm-sessions", "i-0a1b2c3d4e5f60718"),
    ("unusual-instance-types", "p4d.24xlarge"),
    ("insights-with-top-callers", "DeleteSnapshot"),
    ("events-behind-insights", "user/mallory"),
    ("config-changes-with-calls", "AuthorizeSecurityGroupIngress"),
    ("outside-sign-ins-from-new-addresses", "203.0.113.50"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_saved_query_finds_the_planted_incident() {
    let tmp = tempfile::tempdir().expect("tmp");
    demo_store(tmp.path()).await;
    let st = tmp.path().join("store");
    let store = store_in(tmp.path());
    let lib = Library::builtin().expect("library");
    let names: BTreeSet<&str> = lib.entries().iter().map(|e| e.name.as_str()).collect();
    let planted: BTreeSet<&str> = PLANTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, planted, "every saved query has a planted scenario to find (and only those exist)");
    assert!(names.len() >= 25);
    for (name, marker) in PLANTED {
        let entry = lib.get(name).expect("entry");
        let sql = entry
            .query
            .render(&Default::default(), &DefaultStores::of(&store).await.expect("stores"))
            .expect("render with defaults");
        let rows = query_json(&store, &sql).await;
        let text = serde_json::to_string(&rows).expect("json");
        assert!(!rows.is_empty() && text.contains(marker), "{name}: expected {marker:?} in {text}");
    }
    // The same through the command line, with a parameter.
    let out = run(&["queries", "run", "activity-from-ip", "--param", "ip=198.51.100.10", "--format", "json"], &st);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert!(!stdout(&out).contains("CreateUser") && rows.as_array().is_some_and(|r| !r.is_empty()));
    let bad = run(&["queries", "run", "activity-from-ip", "--param", "nope=1"], &st);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("unknown parameter"), "{}", stderr(&bad));
    let listed = run(&["queries", "list", "--format", "json"], &st);
    let list: serde_json::Value = serde_json::from_str(&stdout(&listed)).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(PLANTED.len()));
    let shown = stdout(&run(&["queries", "show", "kms-key-deletion"], &st));
    assert!(shown.starts_with("-- name: kms-key-deletion") && shown.contains("ScheduleKeyDeletion"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_agrees_with_sql_for_every_attribute() {
    let tmp = tempfile::tempdir().expect("tmp");
    demo_store(tmp.path()).await;
    let st = tmp.path().join("store");
    let store = store_in(tmp.path());
    let some_id = query_json(&store, "SELECT eventID AS id FROM demo WHERE eventName = 'StopLogging'").await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Each attribute with SQL written independently of lookup's own translation.
    let cases: Vec<(&str, String, String)> = vec![
        ("EventId", some_id.clone(), format!("eventID = '{some_id}'")),
        ("EventName", "ConsoleLogin".into(), "eventName = 'ConsoleLogin'".into()),
        ("ReadOnly", "false".into(), "readOnly = false".into()),
        ("Username", "mallory".into(), "userIdentity.type = 'IAMUser' AND userIdentity.userName = 'mallory'".into()),
        (
            "ResourceType",
            "AWS::KMS::Key".into(),
            "eventID IN (SELECT eventID FROM demo CROSS JOIN UNNEST(resources) AS t(r) WHERE r.type = 'AWS::KMS::Key')".into(),
        ),
        (
            "ResourceName",
            "prod-customer-data".into(),
            "eventID IN (SELECT eventID FROM demo CROSS JOIN UNNEST(resources) AS t(r) WHERE r.arn = 'arn:aws:s3:::prod-customer-data')".into(),
        ),
        ("EventSource", "kms.amazonaws.com".into(), "eventSource = 'kms.amazonaws.com'".into()),
        ("AccessKeyId", "AKIAEXAMPLEBACKUPKEY".into(), "userIdentity.accessKeyId = 'AKIAEXAMPLEBACKUPKEY'".into()),
    ];
    for (key, value, cond) in cases {
        let attr = format!("AttributeKey={key},AttributeValue={value}");
        let out = run(
            &[
                "lookup",
                "--lookup-attributes",
                &attr,
                "--start-time",
                "2000-01-01",
                "--max-results",
                "100000",
                "--format",
                "json",
            ],
            &st,
        );
        assert!(out.status.success(), "{key}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        let events = v["Events"].as_array().expect("Events");
        let got: BTreeSet<String> = events.iter().filter_map(|e| e["EventId"].as_str().map(str::to_string)).collect();
        let rows = query_json(&store, &format!("SELECT eventID AS id FROM demo WHERE {cond}")).await;
        let want: BTreeSet<String> = rows.iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect();
        assert!(!want.is_empty(), "{key}: the demo has matching events");
        assert_eq!(got, want, "{key}={value}");
        // Newest first, in the AWS CLI's shape.
        let times: Vec<&str> = events.iter().filter_map(|e| e["EventTime"].as_str()).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{key}: newest first");
        assert!(events[0]["CloudTrailEvent"].as_str().is_some_and(|c| c.contains(&value)), "{key}");
    }
    // The default window is the last 90 days before --end-time, and --max-results caps.
    let out = run(&["lookup", "--end-time", "2026-11-16", "--max-results", "5", "--format", "json"], &st);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["Events"].as_array().map(Vec::len), Some(5));
    let bad = run(&["lookup", "--lookup-attributes", "AttributeKey=Region,AttributeValue=x"], &st);
    assert_eq!(bad.status.code(), Some(1));
}
