//! CloudTrail Insights end to end: a generated week of steady traffic (a rare API, a busy one
//! with a daily cycle, reads with occasional errors) with planted bursts, ingested in two parts
//! into a CloudTrail store set up for Insights; trail Insights records from a real capture
//! ingested into an Insights store.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::*;

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";
/// The trail's first minute: 2026-11-01T00:00Z.
const T0: i64 = 1_793_491_200 / 60;
const DAY: i64 = 24 * 60;
const DAYS: i64 = 8;

/// A deterministic generator (xorshift) with Poisson counts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn poisson(&mut self, lambda: f64) -> u32 {
        let l = (-lambda).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.next();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

/// One kind of steady or planted traffic.
struct Traffic {
    account: &'static str,
    region: &'static str,
    source: &'static str,
    name: &'static str,
    read_only: bool,
    principal: &'static str,
    agent: &'static str,
    error: Option<&'static str>,
    /// Events per minute at minute `m` of the trail.
    rate: Box<dyn Fn(i64) -> f64>,
}

/// A planted burst: 20 events a minute.
struct Planted {
    account: &'static str,
    region: &'static str,
    source: &'static str,
    name: &'static str,
    kind: &'static str,
    /// First minute, and how many.
    at: i64,
    minutes: i64,
    principal: &'static str,
}

const BURSTS: [Planted; 3] = [
    Planted {
        account: ACCOUNT_A,
        region: "us-east-1",
        source: "iam.amazonaws.com",
        name: "CreateAccessKey",
        kind: "ApiCallRateInsight",
        at: 7 * DAY + 3 * 60,
        minutes: 6,
        principal: "arn:aws:sts::111111111111:assumed-role/ci/bot",
    },
    Planted {
        account: ACCOUNT_B,
        region: "eu-west-1",
        source: "ec2.amazonaws.com",
        name: "RunInstances",
        kind: "ApiCallRateInsight",
        at: 7 * DAY + 10 * 60,
        minutes: 12,
        principal: "arn:aws:iam::222222222222:user/mallory",
    },
    Planted {
        account: ACCOUNT_A,
        region: "us-east-1",
        source: "sts.amazonaws.com",
        name: "AssumeRole",
        kind: "ApiErrorRateInsight",
        at: 7 * DAY + 14 * 60 + 30,
        minutes: 8,
        principal: "arn:aws:iam::111111111111:user/intruder",
    },
];

/// Where the trail is cut in two: in the middle of the error-rate burst.
const CUT: i64 = 7 * DAY + 14 * 60 + 34;

fn traffic() -> Vec<Traffic> {
    let steady = |account, region, source, name, read_only, error, rate: f64| Traffic {
        account,
        region,
        source,
        name,
        read_only,
        principal: "arn:aws:iam::111111111111:role/app",
        agent: "aws-sdk-go/1.44",
        error,
        rate: Box::new(move |_| rate),
    };
    let mut t = vec![
        steady(ACCOUNT_A, "us-east-1", "iam.amazonaws.com", "CreateAccessKey", false, None, 0.002),
        steady(ACCOUNT_B, "eu-west-1", "ec2.amazonaws.com", "RunInstances", false, None, 0.02),
        steady(ACCOUNT_A, "us-east-1", "sts.amazonaws.com", "AssumeRole", true, None, 1.5),
        steady(ACCOUNT_A, "us-east-1", "sts.amazonaws.com", "AssumeRole", true, Some("AccessDenied"), 0.01),
        steady(ACCOUNT_B, "us-east-1", "kms.amazonaws.com", "Decrypt", true, Some("ThrottlingException"), 0.05),
        // Busy, steady, with a daily cycle: never an Insight.
        Traffic {
            rate: Box::new(|m| 6.0 + 5.0 * ((m % DAY) as f64 / DAY as f64 * std::f64::consts::TAU).sin()),
            ..steady(ACCOUNT_A, "us-east-1", "ssm.amazonaws.com", "UpdateInstanceInformation", false, None, 0.0)
        },
    ];
    for Planted { account, region, source, name, kind, at, minutes, principal } in BURSTS {
        t.push(Traffic {
            account,
            region,
            source,
            name,
            read_only: kind == "ApiErrorRateInsight",
            principal,
            agent: "aws-cli/2.15.0",
            error: (kind == "ApiErrorRateInsight").then_some("AccessDenied"),
            rate: Box::new(move |m| if (at..at + minutes).contains(&m) { 20.0 } else { 0.0 }),
        });
    }
    t
}

fn event(t: &Traffic, minute: i64, second: u32, id: u64) -> Value {
    let time = chrono::DateTime::from_timestamp((T0 + minute) * 60 + i64::from(second), 0).expect("time");
    let mut e = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": t.principal, "accountId": t.account},
        "eventTime": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": t.source,
        "eventName": t.name,
        "awsRegion": t.region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": t.agent,
        "requestID": format!("req-{id}"),
        "eventID": format!("00000000-0000-4000-8000-{id:012x}"),
        "readOnly": t.read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": t.account,
        "eventCategory": "Management",
    });
    if let Some(code) = t.error {
        e["errorCode"] = json!(code);
        e["errorMessage"] = json!("not authorized");
    }
    e
}

/// Writes the trail as two folders (before and after `CUT`) of hourly files per account and
/// Region in the `AWSLogs/` layout.
fn write_trail(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut files: std::collections::BTreeMap<std::path::PathBuf, Vec<Value>> = Default::default();
    let mut id = 0u64;
    let (first, second) = (dir.join("part1"), dir.join("part2"));
    for t in traffic() {
        for m in 0..DAYS * DAY {
            let n = rng.poisson((t.rate)(m).max(0.0));
            for i in 0..n {
                id += 1;
                let part = if m < CUT { &first } else { &second };
                let hour = (T0 + m) / 60;
                let day = chrono::DateTime::from_timestamp(hour * 3600, 0).expect("time");
                let file = part.join(format!(
                    "AWSLogs/{}/CloudTrail/{}/{}/{}_CloudTrail_{}_{}Z_x.json",
                    t.account,
                    t.region,
                    day.format("%Y/%m/%d"),
                    t.account,
                    t.region,
                    day.format("%Y%m%dT%H%M"),
                ));
                files.entry(file).or_default().push(event(&t, m, (i * 7) % 60, id));
            }
        }
    }
    for (path, records) in files {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(json!({ "Records": records }).to_string().as_bytes()).expect("write");
    }
    (first, second)
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    stdout(out)
}

fn insights_list(store: &Path) -> Vec<Value> {
    let out = run(&["insights", "list", "--eds", "trail", "--format", "json"], store);
    serde_json::from_str::<Value>(&ok(&out)).expect("json").as_array().cloned().unwrap_or_default()
}

fn minute_text(m: i64) -> String {
    chrono::DateTime::from_timestamp((T0 + m) * 60, 0).expect("time").format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[test]
fn planted_bursts_become_one_insight_each_steady_traffic_none_and_reruns_add_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (part1, part2) = write_trail(dir.path());
    let store = dir.path().join("store");
    ok(&run(&["eds", "create", "trail", "--retention-period", "3653"], &store));
    ok(&run(&["eds", "create", "insights", "--kind", "insights", "--retention-period", "3653"], &store));
    let selectors = r#"[{"InsightType":"ApiCallRateInsight"},{"InsightType":"ApiErrorRateInsight"}]"#;
    ok(&run(
        &["eds", "update", "trail", "--insight-selectors", selectors, "--insights-destination", "insights"],
        &store,
    ));

    // Part one ends in the middle of the error-rate burst: that Insight is open (Start only).
    let out = run(&["ingest", "--eds", "trail", part1.to_str().expect("utf8")], &store);
    let err = stderr(&out);
    assert!(out.status.success() && err.contains("Insights over trail"), "{err}");
    let found = insights_list(&store);
    assert_eq!(found.len(), 3, "{found:#?}");
    let open: Vec<&Value> = found.iter().filter(|i| i["end"].is_null()).collect();
    assert_eq!(open.len(), 1, "{found:#?}");
    assert_eq!(open[0]["eventName"], "AssumeRole");
    let open_id = open[0]["sharedEventId"].clone();

    // Part two closes it: same sharedEventID, now with its End.
    ok(&run(&["ingest", "--eds", "trail", part2.to_str().expect("utf8")], &store));
    let found = insights_list(&store);
    assert_eq!(found.len(), BURSTS.len(), "exactly one Insight per planted burst, none for steady traffic: {found:#?}");
    for Planted { account, region, source, name, kind, at, minutes, principal } in BURSTS {
        let i = found
            .iter()
            .find(|i| i["eventName"] == name && i["eventSource"] == source)
            .unwrap_or_else(|| panic!("no Insight for {source} {name}: {found:#?}"));
        assert_eq!(i["insightType"], kind);
        assert_eq!((i["recipientAccountId"].as_str(), i["awsRegion"].as_str()), (Some(account), Some(region)));
        assert_eq!(i["start"], minute_text(at), "{i:#}");
        assert_eq!(i["end"], minute_text(at + minutes), "{i:#}");
        assert!(
            i["insightAverage"].as_f64().unwrap_or(0.0) > 10.0 * i["baselineAverage"].as_f64().unwrap_or(1.0),
            "{i:#}"
        );
        let callers = i["topAttributions"].as_array().expect("attributions");
        assert!(
            callers.iter().any(|a| a[0] == "userIdentityArn" && a[1] == principal),
            "top caller should be {principal}: {i:#}"
        );
        if kind == "ApiErrorRateInsight" {
            assert_eq!(i["errorCode"], "AccessDenied");
            assert_eq!(i["sharedEventId"], open_id, "the open Insight was closed, not found again");
        }
    }

    // The Insights events as Lake has them, queryable with SQL, Start and End paired.
    let rows = |sql: &str| -> Vec<Value> {
        let out = run(&["query", sql, "--format", "json"], &store);
        serde_json::from_str(&ok(&out)).expect("json")
    };
    let pairs = rows(
        "SELECT insightType, count(*) AS n, count(DISTINCT sharedEventID) AS pairs FROM insights \
         WHERE eventCategory = 'Insight' AND eventType = 'AwsCloudTrailInsight' GROUP BY insightType ORDER BY insightType",
    );
    assert_eq!(
        pairs,
        vec![
            json!({"insighttype": "ApiCallRateInsight", "n": 4, "pairs": 2}),
            json!({"insighttype": "ApiErrorRateInsight", "n": 2, "pairs": 1})
        ]
    );
    // From an Insight back to its events in the source store.
    let behind = rows(
        "SELECT count(*) AS n FROM trail t JOIN insights i ON t.eventName = i.insightEventName \
         AND t.eventSource = i.insightEventSource AND t.awsRegion = i.awsRegion \
         AND t.eventTime >= i.eventTime AND t.eventTime < i.eventTime + INTERVAL '12' MINUTE \
         WHERE i.insightState = 'Start' AND i.insightType = 'ApiCallRateInsight' AND i.insightEventName = 'RunInstances'",
    );
    assert!(behind[0]["n"].as_i64().unwrap_or(0) >= 200, "{behind:?}");

    // Deterministic: judging everything again adds nothing.
    let out = run(&["insights", "run", "trail", "--since", "2026-11-01", "--format", "json"], &store);
    let again: Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(again["insightsFound"], 3, "{again}");
    assert_eq!(again["eventsAdded"], 0, "{again}");
    assert_eq!(insights_list(&store).len(), 3);

    // Stricter parameters find fewer; they are options.
    let strict = ["--window", "10", "--min-events", "180", "--dry-run", "--format", "json"];
    let out = run(&[&["insights", "run", "trail", "--since", "2026-11-01"], &strict[..]].concat(), &store);
    let strict: Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(strict["insightsFound"], 1, "only the 12-minute burst holds 180 events in 10 minutes: {strict}");
    assert_eq!(strict["events"][0]["insightEventName"], "RunInstances", "{strict}");
    assert_eq!(strict["eventsAdded"], 0, "a dry run stores nothing");
    assert_eq!(insights_list(&store).len(), 3);
}

#[test]
fn insights_need_their_setup_and_the_right_kinds() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    ok(&run(&["eds", "create", "trail"], &store));
    ok(&run(&["eds", "create", "insights", "--kind", "Insight"], &store));
    let out = run(&["insights", "run", "trail"], &store);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--insight-selectors"), "{}", stderr(&out));
    let sel = r#"[{"InsightType":"ApiCallRateInsight"}]"#;
    let out = run(&["eds", "update", "trail", "--insight-selectors", sel, "--insights-destination", "trail"], &store);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("kind insights"), "{}", stderr(&out));
    let out =
        run(&["eds", "update", "insights", "--insight-selectors", sel, "--insights-destination", "insights"], &store);
    assert_eq!(out.status.code(), Some(1), "Insights are computed over CloudTrail stores only");
    let out = run(&["eds", "update", "trail", "--insight-selectors", r#"[{"InsightType":"Nope"}]"#], &store);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["lookup", "--eds", "insights"], &store);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Event history (lookup) is for CloudTrail events"), "{}", stderr(&out));
    let out = run(&["eds", "list", "--format", "json"], &store);
    let list: Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(list[1]["kind"], "insights");
    // An empty store set up for Insights: nothing to judge yet, not an error.
    ok(&run(&["eds", "update", "trail", "--insight-selectors", sel, "--insights-destination", "insights"], &store));
    let out = run(&["insights", "run", "trail"], &store);
    ok(&out);
    assert!(stderr(&out).contains("no events to judge yet"), "{}", stderr(&out));
    assert_eq!(ok(&run(&["insights", "list"], &store)), "no Insights\n");
}

#[test]
fn trail_insights_records_from_a_real_capture_go_to_an_insights_store() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    // The StreamAlert capture wraps the trail records in a test harness: unwrap them.
    let harness: Value = serde_json::from_slice(
        &std::fs::read(data.join("real/streamalert/cloudtrail_insights.json")).expect("read capture"),
    )
    .expect("json");
    let insight_file = dir.path().join("insights.json");
    std::fs::write(&insight_file, json!({"Records": harness[0]["data"]["Records"]}).to_string()).expect("write");
    let mixed = data.join("real/otel-collector-contrib/cloudtrail_log.json");
    let store = dir.path().join("store");
    ok(&run(&["eds", "create", "trail", "--retention-period", "3653"], &store));
    ok(&run(&["eds", "create", "insights", "--kind", "insights", "--retention-period", "3653"], &store));
    let files = [insight_file.to_str().expect("utf8"), mixed.to_str().expect("utf8")];
    let out = run(
        &["ingest", "--eds", "trail", "--insights-eds", "insights", "--format", "json", files[0], files[1]],
        &store,
    );
    let report: Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(report["insightsSkipped"], 2, "{report:#}");
    assert_eq!(report["insightsIngest"]["eventsAdded"], 2, "{report:#}");
    let out = run(
        &[
            "query",
            "SELECT insightEventName, insightState, insightType, insightContext.baselineDuration AS bd, \
             insightContext.attributions[1].attribute AS a FROM insights ORDER BY eventTime",
            "--format",
            "json",
        ],
        &store,
    );
    let rows: Value = serde_json::from_str(&ok(&out)).expect("json");
    // Unaliased columns come back with Lake's (lowercase) names.
    assert_eq!(rows[0]["insighteventname"], "CompleteLifecycleAction", "{rows:#}");
    assert_eq!(rows[0]["insightstate"], "Start");
    assert_eq!(rows[0]["bd"], 11336);
    assert_eq!(rows[0]["a"], "userIdentityArn");
    assert_eq!(rows[1]["insighteventname"], "UpdateInstanceInformation", "{rows:#}");
    // Again: nothing new in either store.
    let out = run(
        &["ingest", "--eds", "trail", "--insights-eds", "insights", "--format", "json", files[0], files[1]],
        &store,
    );
    let again: Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(again["insightsIngest"]["eventsAdded"], 0, "{again:#}");
    assert_eq!(again["eventsAdded"], 0, "{again:#}");
}
