//! Every kind of event data store: each kind's schema against Lake's published column list,
//! each kind's own input files, Lake's rejection reasons, exactly once (re-ingest, kill -9),
//! mixed folders routed or refused, and SQL across kinds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::*;

/// Lake's columns per kind, written from the Lake user guide's "supported event schemas" page
/// (as summarised in CLOUDTRAIL.md §2.5), not generated from `schemas/`. Where traillake
/// deliberately differs it says so: `relationships` and `attributions` hold one entry per
/// relationship / attribute, so they are arrays of the struct Lake's page writes; and every kind
/// ends with `eventjson, eventjsonchecksum`, which the page lists for CloudTrail events only but
/// AWS's published Config queries read (`json_parse(eventJson)`).
const LAKE_SCHEMAS: [(&str, &str); 4] = [
    (
        "insights",
        "eventversion string, eventcategory string, eventtype string, eventid string, eventtime timestamp, \
         awsregion string, recipientaccountid string, sharedeventid string, addendum map<string,string>, \
         insightsource string, insightstate string, insighteventsource string, insighteventname string, \
         insighterrorcode string, insighttype string, insightcontext struct<baselineaverage double, \
         insightaverage double, baselineduration integer, insightduration integer, attributions \
         array<struct<attribute string, insightvalue string, insightaverage double, baselinevalue string, \
         baselineaverage double, insight array<struct<value string, average double>>, \
         baseline array<struct<value string, average double>>>>>, eventjson string, eventjsonchecksum string",
    ),
    (
        "config",
        "eventversion string, eventcategory string, eventtype string, eventid string, eventtime timestamp, \
         awsregion string, recipientaccountid string, addendum map<string,string>, eventdata \
         struct<configurationitemversion string, configurationitemcapturetime string, \
         configurationitemstatus string, configurationitemstateid string, accountid string, \
         resourcetype string, resourceid string, resourcename string, arn string, awsregion string, \
         availabilityzone string, resourcecreationtime string, configuration map<string,string>, \
         supplementaryconfiguration map<string,string>, relatedevents string, relationships \
         array<struct<name string, resourcetype string, resourceid string, resourcename string>>, \
         tags map<string,string>>, eventjson string, eventjsonchecksum string",
    ),
    (
        "audit",
        "eventversion string, eventcategory string, eventtype string, eventid string, eventtime timestamp, \
         awsregion string, recipientaccountid string, addendum struct<reason string, updatedfields string, \
         originaluid string, originaleventid string>, metadata struct<ingestiontime string, channelarn string>, \
         eventdata struct<version string, useridentity struct<type string, principalid string, \
         details map<string,string>>, useragent string, eventsource string, eventname string, eventtime string, \
         uid string, requestparameters map<string,string>, responseelements map<string,string>, \
         errorcode string, errormssage string, sourceipaddress string, recipientaccountid string, \
         additionaleventdata map<string,string>>, eventjson string, eventjsonchecksum string",
    ),
    (
        "evidence",
        "eventversion string, eventcategory string, eventtype string, eventid string, eventtime timestamp, \
         awsregion string, recipientaccountid string, addendum map<string,string>, eventdata \
         struct<attributes map<string,string>, awsaccountid string, awsorganization string, \
         compliancecheck string, datasource string, eventname string, eventsource string, \
         evidenceawsaccountid string, evidencebytype string, iamid string, evidenceid string, \
         time timestamp, assessmentid string, controlsetid string, controlid string, controlname string, \
         controldomainname string, frameworkname string, frameworkid string, service string, \
         servicecategory string, resourcearn string, resourcetype string, evidencefolderid string, \
         description string, manualevidences3resourcepath string, evidencefoldername string, \
         resourcecompliancecheck string>, eventjson string, eventjsonchecksum string",
    ),
];

/// An Arrow type as Lake's schema page writes types.
fn lake_type(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType as D;
    match t {
        D::Utf8 | D::Utf8View | D::LargeUtf8 => "string".into(),
        D::Timestamp(..) => "timestamp".into(),
        D::Float64 => "double".into(),
        D::Int32 => "integer".into(),
        D::Boolean => "boolean".into(),
        D::Map(..) => "map<string,string>".into(),
        D::Struct(fields) => format!("struct<{}>", columns(fields)),
        D::List(item) => format!("array<{}>", lake_type(item.data_type())),
        other => format!("{other:?}"),
    }
}

fn columns(fields: &arrow::datatypes::Fields) -> String {
    fields.iter().map(|f| format!("{} {}", f.name(), lake_type(f.data_type()))).collect::<Vec<_>>().join(", ")
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_has_lakes_columns() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = store_in(tmp.path());
    for (kind, _) in LAKE_SCHEMAS {
        let settings = traillake::store::EdsSettings { kind: Some(kind.parse().expect("kind")), ..Default::default() };
        store.create_eds_with(&format!("{kind}-store"), &settings).await.expect("create");
    }
    let engine = traillake::engine::Engine::open(&store).await.expect("engine");
    for (kind, expected) in LAKE_SCHEMAS {
        let df = engine.query(&format!("SELECT * FROM \"{kind}-store\"")).await.expect("plan");
        let got = columns(df.schema().as_arrow().fields());
        assert_eq!(squeeze(&got), squeeze(expected), "{kind}");
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::File::create(path).and_then(|mut f| f.write_all(text.as_bytes())).expect("write");
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    stdout(out)
}

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn query(store: &Path, sql: &str) -> Vec<Value> {
    json_out(&run(&["query", sql, "--format", "json"], store)).as_array().cloned().unwrap_or_default()
}

/// A configuration item as a Config history file has it.
fn config_item(resource_type: &str, id: &str, time: &str, configuration: Value, related: &[&str]) -> Value {
    json!({
        "relatedEvents": related,
        "relationships": [{"resourceId": "vpc-0aa", "resourceType": "AWS::EC2::VPC", "name": "Is contained in Vpc"}],
        "configuration": configuration,
        "supplementaryConfiguration": {},
        "tags": {"env": "prod"},
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": time,
        "configurationStateId": 1_763_114_700_000u64,
        "awsAccountId": "222222222222",
        "configurationItemStatus": "OK",
        "resourceType": resource_type,
        "resourceId": id,
        "resourceName": id,
        "ARN": format!("arn:aws:ec2:us-east-1:222222222222:{id}"),
        "awsRegion": "us-east-1",
        "availabilityZone": "Not Applicable",
    })
}

/// A PutAuditEvents entry for `data`, with its checksum.
fn audit_entry(id: &str, data: &Value) -> Value {
    let text = data.to_string();
    let sum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()));
    json!({"id": id, "eventData": text, "eventDataChecksum": sum})
}

fn sign_in(user: &str, ip: &str, time: &str, uid: &str) -> Value {
    json!({
        "version": "1.0",
        "userIdentity": {"type": "User", "principalId": user, "details": {"authnContext": "password"}},
        "userAgent": "Mozilla/5.0",
        "eventSource": "okta.com",
        "eventName": "user.session.start",
        "eventTime": time,
        "UID": uid,
        "requestParameters": {"app": "aws"},
        "sourceIPAddress": ip,
        "recipientAccountId": "222222222222",
    })
}

/// A mixed trail: CloudTrail events and Config history under `AWSLogs/`, Okta events beside it.
fn mixed_sources(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let logs = dir.join("AWSLogs/222222222222");
    let sg_call = "6b2f7a8e-0000-4000-8000-000000000001";
    let ct = json!({"Records": [{
        "eventVersion": "1.09", "eventTime": "2026-11-14T10:04:58Z", "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.50",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/mallory", "accountId": "222222222222"},
        "requestParameters": {"groupId": "sg-0abc"}, "eventID": sg_call, "readOnly": false,
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": "222222222222",
        "eventCategory": "Management"}]});
    write(
        &logs.join("CloudTrail/us-east-1/2026/11/14/222222222222_CloudTrail_us-east-1_20261114T1005Z_a.json"),
        &ct.to_string(),
    );
    let history = json!({"fileVersion": "1.0", "configurationItems": [
        config_item("AWS::EC2::SecurityGroup", "sg-0abc", "2026-11-14T10:05:00.000Z",
            json!({"groupId": "sg-0abc", "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 22, "ipRanges": ["0.0.0.0/0"]}]}),
            &[sg_call]),
        config_item("AWS::EC2::Instance", "i-0001", "2026-11-14T11:00:00.000Z",
            json!({"instanceType": "p4d.24xlarge", "state": {"name": "running"}}), &[]),
    ]});
    write(
        &logs.join("Config/us-east-1/2026/11/14/ConfigHistory/222222222222_Config_us-east-1_ConfigHistory_x_20261114T100000Z_20261114T110000Z_1.json"),
        &history.to_string(),
    );
    // A snapshot, with configuration as the Config API gives it (JSON text).
    let mut api = config_item("AWS::S3::Bucket", "prod-data", "2026-11-14T12:00:00.000Z", Value::Null, &[]);
    api["configuration"] = json!(r#"{"name":"prod-data","owner":{"id":"x"}}"#);
    let snapshot = json!({"fileVersion": "1.0", "configSnapshotId": "s-1", "configurationItems": [api]});
    write(
        &logs.join("Config/us-east-1/2026/11/14/ConfigSnapshot/222222222222_Config_us-east-1_ConfigSnapshot_20261114T120000Z_s-1.json"),
        &snapshot.to_string(),
    );
    // Okta, outside AWS: a PutAuditEvents body (one entry bad in each of Lake's ways) and
    // one eventData object per line.
    let okta = dir.join("okta");
    let good = |i: usize, ip: &str| {
        audit_entry(&format!("o-{i}"), &sign_in("alice", ip, &format!("2026-11-1{i}T09:00:00Z"), &format!("u-{i}")))
    };
    let mut bad_sum = good(7, "198.51.100.1");
    bad_sum["eventDataChecksum"] = json!("AAAA");
    let mut no_uid = sign_in("bob", "198.51.100.2", "2026-11-14T09:00:00Z", "x");
    no_uid.as_object_mut().map(|o| o.remove("UID"));
    let body = json!({"auditEvents": [
        good(1, "198.51.100.1"), good(2, "198.51.100.1"), good(4, "203.0.113.50"),
        bad_sum,
        audit_entry("o-8", &no_uid),
        json!({"id": "o-9", "eventData": "{not json"}),
        audit_entry("o-10", &sign_in("carol", "198.51.100.3", "2026-11-14T09:00:00Z", "u-10").as_object().map(|o| {
            let mut o = o.clone();
            o.insert("recipientAccountId".into(), json!("acme"));
            Value::Object(o)
        }).unwrap_or_default()),
    ]});
    write(&okta.join("put-audit-events-1.json"), &body.to_string());
    let lines = [
        sign_in("dave", "198.51.100.4", "2026-11-13T08:00:00Z", "u-20"),
        sign_in("dave", "198.51.100.4", "2026-11-14T08:00:00Z", "u-21"),
    ];
    write(&okta.join("events.jsonl"), &lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n"));
    // Audit Manager evidence, as the evidence-folder API lists it.
    let evidence = json!({"evidence": [{
        "dataSource": "AWS Config", "evidenceAwsAccountId": "222222222222", "time": 1_794_650_400,
        "eventSource": "config.amazonaws.com", "evidenceByType": "Compliance check", "complianceCheck": "NON_COMPLIANT",
        "awsAccountId": "222222222222", "id": "ev-1", "evidenceFolderId": "f-1", "attributes": {"findingKey": "sg-open"},
        "resourcesIncluded": [{"arn": "arn:aws:ec2:us-east-1:222222222222:security-group/sg-0abc"}]}]});
    let evidence_file = dir.join("evidence/folder-f-1.json");
    write(&evidence_file, &evidence.to_string());
    (dir.join("AWSLogs"), okta, evidence_file)
}

#[test]
fn each_kind_ingests_its_own_files_exactly_once_with_lakes_rejections() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (logs, okta, evidence) = mixed_sources(tmp.path());
    let st = tmp.path().join("store");
    for (name, kind) in [("trail", "cloudtrail"), ("config", "config"), ("okta", "audit"), ("evidence", "evidence")] {
        ok(&run(&["eds", "create", name, "--kind", kind, "--retention-period", "3653"], &st));
    }
    let logs = logs.to_str().expect("utf8");

    // A CloudTrail store meeting Config folders it was not told where to put: refused, saying what.
    let out = run(&["ingest", "--eds", "trail", logs], &st);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ConfigurationItem (config)") && stderr(&out).contains("--config-eds"),
        "{}",
        stderr(&out)
    );
    assert!(query(&st, "SELECT count(*) AS n FROM trail")[0]["n"] == 0, "nothing ingested when refused");

    // Routed: each kind to its store in one run.
    let report = json_out(&run(&["ingest", "--eds", "trail", "--config-eds", "config", "--format", "json", logs], &st));
    assert_eq!(report["eventsAdded"], 1, "{report:#}");
    assert_eq!(report["sourcesOtherKind"], 2, "{report:#}");
    assert_eq!(report["configIngest"]["eventsAdded"], 3, "{report:#}");
    let rows = query(
        &st,
        "SELECT eventCategory, eventType, eventData.resourceId AS id, element_at(eventData.configuration, 'instanceType') AS it, \
         json_extract_scalar(eventData.configuration['owner'], '$.id') AS owner, eventData.relationships[1].name AS rel, \
         eventData.tags['env'] AS env FROM config ORDER BY eventTime",
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["eventcategory"], "ConfigurationItem");
    assert_eq!(rows[0]["eventtype"], "AwsConfigurationItem");
    assert_eq!((rows[1]["id"].as_str(), rows[1]["it"].as_str()), (Some("i-0001"), Some("p4d.24xlarge")));
    assert_eq!(rows[2]["owner"], "x", "configuration given as JSON text is a map too");
    assert_eq!((rows[0]["rel"].as_str(), rows[0]["env"].as_str()), (Some("Is contained in Vpc"), Some("prod")));

    // Outside AWS: good events kept, each bad one quarantined with Lake's reason.
    let okta_dir = okta.to_str().expect("utf8");
    let out = run(&["ingest", "--eds", "okta", "--channel", "okta-prod", "--format", "json", okta_dir], &st);
    assert_eq!(out.status.code(), Some(3), "some input quarantined: {}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(report["eventsAdded"], 5, "{report:#}");
    assert_eq!(report["quarantinedRecords"], 4, "{report:#}");
    let reasons: String = std::fs::read_dir(st.join("quarantine"))
        .expect("quarantine")
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).expect("dir").flatten())
        .map(|f| std::fs::read_to_string(f.path()).expect("read"))
        .collect();
    for code in ["InvalidChecksum", "FieldNotFound: eventData.UID is required", "InvalidData", "InvalidRecipient"] {
        assert!(reasons.contains(code), "{code} in {reasons}");
    }
    let rows = query(
        &st,
        "SELECT eventData.userIdentity.principalId AS who, eventData.sourceIPAddress AS ip, metadata.channelARN AS channel, \
         eventData.userIdentity.details['authnContext'] AS how, eventData.requestParameters['app'] AS app \
         FROM okta ORDER BY eventTime",
    );
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["channel"], "arn:aws:cloudtrail:local:000000000000:channel/okta-prod");
    assert_eq!((rows[0]["how"].as_str(), rows[0]["app"].as_str()), (Some("password"), Some("aws")));

    // Evidence.
    let ev = evidence.to_str().expect("utf8");
    let report = json_out(&run(&["ingest", "--eds", "evidence", "--format", "json", ev], &st));
    assert_eq!(report["eventsAdded"], 1, "{report:#}");
    let rows = query(
        &st,
        "SELECT eventTime, eventData.complianceCheck AS c, eventData.attributes['findingKey'] AS k FROM evidence",
    );
    assert_eq!(rows[0]["c"], "NON_COMPLIANT");
    assert_eq!(rows[0]["eventtime"], "2026-11-14 10:00:00.000", "epoch seconds, as the API gives them");

    // Again, with the files renamed (so the ledger does not know them): nothing is stored twice.
    std::fs::rename(okta.join("events.jsonl"), okta.join("events-copy.jsonl")).expect("rename");
    for (args, key) in [
        (vec!["ingest", "--eds", "trail", "--config-eds", "config", "--format", "json", logs], "configIngest"),
        (vec!["ingest", "--eds", "okta", "--channel", "okta-prod", "--format", "json", okta_dir], ""),
        (vec!["ingest", "--eds", "evidence", "--format", "json", ev], ""),
    ] {
        let out = run(&args, &st);
        let report: Value = serde_json::from_str(&stdout(&out)).expect("json");
        assert_eq!(report["eventsAdded"], 0, "{report:#}");
        if !key.is_empty() {
            assert_eq!(report[key]["eventsAdded"], 0, "{report:#}");
        }
    }
    assert_eq!(query(&st, "SELECT count(*) AS n FROM okta")[0]["n"], 5);

    // Lookup is CloudTrail's Event history only.
    let out = run(&["lookup", "--eds", "config"], &st);
    assert_eq!(out.status.code(), Some(1));

    // Across kinds: the configuration change and the call that made it.
    let rows = query(
        &st,
        "SELECT t.eventName, t.userIdentity.arn AS who, c.eventData.resourceId AS resource, \
         json_extract_scalar(element_at(c.eventData.configuration, 'ipPermissions'), '$[0].ipRanges[0]') AS open_to \
         FROM config c JOIN trail t ON json_array_contains(c.eventData.relatedEvents, t.eventID)",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["eventname"], "AuthorizeSecurityGroupIngress");
    assert_eq!(rows[0]["open_to"], "0.0.0.0/0");
    let rows = query(
        &st,
        "SELECT t.eventName, o.eventData.eventName AS outside FROM trail t JOIN okta o \
         ON t.sourceIPAddress = o.eventData.sourceIPAddress",
    );
    assert_eq!(rows.len(), 1, "the intruder's address signed in to Okta too: {rows:?}");
}

#[test]
fn kill_minus_nine_then_rerun_stores_each_outside_event_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("okta");
    let per_file = 500;
    let files = 40;
    for f in 0..files {
        let entries: Vec<Value> = (0..per_file)
            .map(|i| {
                let n = f * per_file + i;
                let time = format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + n % 28, n % 24, n % 60);
                audit_entry(
                    &format!("e-{n}"),
                    &sign_in(&format!("user{}", n % 50), "198.51.100.9", &time, &format!("u-{n}")),
                )
            })
            .collect();
        write(&dir.join(format!("body-{f:03}.json")), &json!({"auditEvents": entries}).to_string());
    }
    let st = tmp.path().join("store");
    ok(&run(&["eds", "create", "okta", "--kind", "audit", "--retention-period", "3653"], &st));
    for delay in [150u64, 400, 800] {
        let mut child = bin()
            .arg("--store")
            .arg(&st)
            .args(["ingest", "--eds", "okta", dir.to_str().expect("utf8"), "--no-progress", "--threads", "1"])
            .env("TRAILLAKE_COMMIT_MB", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
    }
    ok(&run(&["ingest", "--eds", "okta", dir.to_str().expect("utf8"), "--no-progress"], &st));
    let total = (files * per_file) as i64;
    let rows = query(
        &st,
        "SELECT count(*) AS n, count(DISTINCT eventID) AS ids, count(DISTINCT eventData.UID) AS uids FROM okta",
    );
    assert_eq!(
        (rows[0]["n"].as_i64(), rows[0]["ids"].as_i64(), rows[0]["uids"].as_i64()),
        (Some(total), Some(total), Some(total))
    );
}

#[test]
fn enriched_cloudtrail_events_answer_eventcontext() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("enriched.json");
    let with = json!({
        "eventVersion": "1.11", "eventTime": "2026-11-14T10:00:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": "PutObject", "awsRegion": "us-east-1", "eventID": "00000000-0000-4000-8000-0000000000e1",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::222222222222:assumed-role/app/x"},
        "eventContext": {
            "requestContext": {"aws:SourceVpc": "vpc-0aa"},
            "tagContext": {"resourceTags": [{"arn": "arn:aws:s3:::prod-data", "tags": {"team": "payments"}}],
                           "principalTags": {"team": "payments", "env": "prod"}}
        }
    });
    let without = json!({"eventVersion": "1.09", "eventTime": "2026-11-14T10:01:00Z", "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject", "awsRegion": "us-east-1", "eventID": "00000000-0000-4000-8000-0000000000e2"});
    write(&file, &json!({"Records": [with, without]}).to_string());
    let st = tmp.path().join("store");
    ok(&run(&["eds", "create", "trail", "--retention-period", "3653"], &st));
    ok(&run(&["ingest", "--eds", "trail", file.to_str().expect("utf8")], &st));
    let rows = query(
        &st,
        "SELECT eventName, json_extract_scalar(element_at(eventContext, 'tagContext'), '$.principalTags.team') AS team, \
         json_extract_scalar(eventContext['requestContext'], '$[\"aws:SourceVpc\"]') AS vpc, cardinality(map_keys(eventcontext)) AS keys \
         FROM trail ORDER BY eventTime",
    );
    assert_eq!(rows[0], json!({"eventname": "PutObject", "team": "payments", "vpc": "vpc-0aa", "keys": 2}), "{rows:?}");
    assert_eq!(rows[1]["team"], Value::Null, "{rows:?}");
    assert_eq!(rows[1]["keys"], Value::Null, "no eventContext: NULL");
}
