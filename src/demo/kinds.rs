//! The other kinds of a generated trail, consistent with its CloudTrail events: AWS Config
//! history (the resources the trail's calls touch, each change naming the call that made it in
//! `relatedEvents`) and sign-ins to an identity provider outside AWS (Okta, as `PutAuditEvents`
//! request bodies in `<out>.okta/`), where the intruder signs in from the same address as in AWS.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::generate::{ATTACKER_IP, DEV_ACCOUNT, EXFIL_BUCKET, MANAGEMENT_ACCOUNT, PROD_ACCOUNT};

/// Where the identity provider's events go: beside the trail folder, `<out>.okta/` (AWS does
/// not deliver them; they are sent with `PutAuditEvents`).
pub fn okta_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".okta");
    out.with_file_name(name)
}
/// Events per `PutAuditEvents` body (AWS allows 100).
const EVENTS_PER_BODY: usize = 100;

/// What was written.
#[derive(Debug, Default, Clone)]
pub struct KindsReport {
    pub config_items: u64,
    pub config_files: u64,
    pub audit_events: u64,
    pub audit_files: u64,
}

/// A small deterministic generator (xorshift), independent of the trail's so the CloudTrail
/// files stay the same with or without the other kinds.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Config history for the trail's resources: each account's steady resources discovered on the
/// first day and patched now and then, and the resources the planted incident changed, each item
/// naming the call that changed it.
pub fn write_config(
    out: &Path,
    start: DateTime<Utc>,
    days: u32,
    trail: &[Value],
    seed: u64,
) -> std::io::Result<(u64, u64)> {
    let mut rng = Rng(seed ^ 0xc0f1_6000);
    let mut items: Vec<Value> = Vec::new();
    for (a, account) in [MANAGEMENT_ACCOUNT, PROD_ACCOUNT, DEV_ACCOUNT].into_iter().enumerate() {
        for n in 0..3 {
            let id = format!("i-0{a}{n}steady{:08x}", rng.below(1 << 32));
            let discovered = start + Duration::minutes(30 + 7 * n as i64);
            let instance_type = ["t3.micro", "m5.large", "c5.xlarge"][n];
            items.push(item(
                account,
                "us-east-1",
                "AWS::EC2::Instance",
                &id,
                discovered,
                "ResourceDiscovered",
                json!({"instanceId": id, "instanceType": instance_type, "state": {"name": "running"}, "imageId": "ami-0c55b159cbfafe1f0"}),
                &[],
            ));
            // Patch compliance, as the Systems Manager rule records it (a daily item).
            for d in 0..days.max(1) {
                let t = start + Duration::days(i64::from(d)) + Duration::hours(6) + Duration::minutes(n as i64);
                let missing = (d + n as u32).is_multiple_of(3);
                items.push(item(
                    account,
                    "us-east-1",
                    "AWS::SSM::PatchCompliance",
                    &format!("AWS::SSM::ManagedInstanceInventory/{id}"),
                    t,
                    "OK",
                    json!({"AWS:ComplianceItem": {"ComplianceType": "Patch", "Content": {"Patch": {
                        "KB5005565": {"Id": "KB5005565", "PatchState": "Installed", "Severity": "Critical"},
                        "KB5006670": {"Id": "KB5006670", "PatchState": if missing { "Missing" } else { "Installed" }, "Severity": "Important"},
                        "KB5007186": {"Id": "KB5007186", "PatchState": "InstalledPendingReboot", "Severity": "Important"}
                    }}}}),
                    &[],
                ));
            }
        }
        let group = format!("sg-0{a}base{:08x}", rng.below(1 << 32));
        items.push(item(
            account,
            "us-east-1",
            "AWS::EC2::SecurityGroup",
            &group,
            start + Duration::minutes(45),
            "ResourceDiscovered",
            json!({"groupId": group, "groupName": "web", "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": ["10.0.0.0/8"]}]}),
            &[],
        ));
    }
    // The incident's changes, each naming the call behind it.
    for e in trail {
        let (Some(name), Some(id), Some(time)) =
            (e["eventName"].as_str(), e["eventID"].as_str(), e["eventTime"].as_str())
        else {
            continue;
        };
        let Ok(t) = DateTime::parse_from_rfc3339(time).map(|t| t.with_timezone(&Utc)) else { continue };
        let account = e["recipientAccountId"].as_str().unwrap_or(PROD_ACCOUNT);
        let region = e["awsRegion"].as_str().unwrap_or("us-east-1");
        let after = t + Duration::seconds(45);
        let changed = match name {
            "AuthorizeSecurityGroupIngress" => {
                let group = e["requestParameters"]["groupId"].as_str().unwrap_or_default().to_string();
                Some((
                    "AWS::EC2::SecurityGroup",
                    group.clone(),
                    json!({"groupId": group, "groupName": "prod-web",
                    "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": ["0.0.0.0/0"]}]}),
                    json!({}),
                ))
            }
            "PutBucketPolicy" => Some((
                "AWS::S3::Bucket",
                EXFIL_BUCKET.to_string(),
                json!({"name": EXFIL_BUCKET, "owner": {"id": "prod"}}),
                json!({"BucketPolicy": {"policyText": e["requestParameters"]["bucketPolicy"].clone()}}),
            )),
            "RunInstances" => {
                let instance =
                    e["responseElements"]["instancesSet"]["items"][0]["instanceId"].as_str().map(str::to_string);
                instance.map(|i| {
                    let it = e["requestParameters"]["instanceType"].clone();
                    (
                        "AWS::EC2::Instance",
                        i.clone(),
                        json!({"instanceId": i, "instanceType": it, "state": {"name": "pending"}}),
                        json!({}),
                    )
                })
            }
            "CreateUser" => {
                let user = e["requestParameters"]["userName"].as_str().unwrap_or_default().to_string();
                Some((
                    "AWS::IAM::User",
                    user.clone(),
                    json!({"userName": user, "path": "/", "attachedManagedPolicies": []}),
                    json!({}),
                ))
            }
            _ => None,
        };
        if let Some((kind, resource, configuration, supplementary)) = changed {
            let mut i = item(account, region, kind, &resource, after, "OK", configuration, &[id]);
            i["supplementaryConfiguration"] = supplementary;
            items.push(i);
        }
    }
    // One history file per account, Region and day (as Config delivers, every six hours or so).
    let mut files: std::collections::BTreeMap<(String, String, String), Vec<Value>> = Default::default();
    for i in items {
        let day = i["configurationItemCaptureTime"].as_str().unwrap_or_default()[..10].to_string();
        let key = (
            i["awsAccountId"].as_str().unwrap_or_default().to_string(),
            i["awsRegion"].as_str().unwrap_or_default().to_string(),
            day,
        );
        files.entry(key).or_default().push(i);
    }
    let (mut n_items, mut n_files) = (0, 0);
    for ((account, region, day), items) in files {
        let date = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap_or_default();
        let dir: PathBuf =
            out.join(format!("AWSLogs/{account}/Config/{region}/{}/ConfigHistory", date.format("%Y/%-m/%-d")));
        fs::create_dir_all(&dir)?;
        let stamp = date.format("%Y%m%dT235959Z");
        let name = format!("{account}_Config_{region}_ConfigHistory_AWS::Multiple_{stamp}_{stamp}_1.json.gz");
        n_items += items.len() as u64;
        let body = serde_json::to_vec(&json!({"fileVersion": "1.0", "configurationItems": items}))
            .map_err(std::io::Error::other)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body)?;
        fs::write(dir.join(name), gz.finish()?)?;
        n_files += 1;
    }
    Ok((n_items, n_files))
}

#[allow(clippy::too_many_arguments)]
fn item(
    account: &str,
    region: &str,
    resource_type: &str,
    id: &str,
    time: DateTime<Utc>,
    status: &str,
    configuration: Value,
    related: &[&str],
) -> Value {
    let service = resource_type.split("::").nth(1).unwrap_or_default().to_ascii_lowercase();
    json!({
        "relatedEvents": related,
        "relationships": [],
        "configuration": configuration,
        "supplementaryConfiguration": {},
        "tags": {"owner": "platform"},
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": iso(time),
        "configurationStateId": time.timestamp_millis(),
        "awsAccountId": account,
        "configurationItemStatus": status,
        "resourceType": resource_type,
        "resourceId": id,
        "resourceName": id,
        "ARN": format!("arn:aws:{service}:{region}:{account}:{id}"),
        "awsRegion": region,
        "availabilityZone": "Not Applicable",
        "configurationStateMd5Hash": "",
    })
}

/// Okta sign-ins: the staff every working day from their usual addresses, and on the incident's
/// day `mallory` from the intruder's address, minutes before the console sign-in in AWS.
pub fn write_okta(
    out: &Path,
    start: DateTime<Utc>,
    days: u32,
    incident: DateTime<Utc>,
    seed: u64,
) -> std::io::Result<(u64, u64)> {
    let mut rng = Rng(seed ^ 0x0c7a_0001);
    let staff = ["alice", "bob", "carol", "dave", "erin", "mallory"];
    let mut events: Vec<(DateTime<Utc>, Value)> = Vec::new();
    let mut uid = 0u64;
    let mut sign_in = |who: &str, ip: &str, t: DateTime<Utc>, name: &str, outcome: &str| {
        uid += 1;
        (
            t,
            json!({
                "version": "0",
                "userIdentity": {"type": "User", "principalId": format!("{who}@example.com"),
                    "details": {"displayName": who, "authenticationContext": "password+mfa"}},
                "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Chrome/119.0",
                "eventSource": "okta.com",
                "eventName": name,
                "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "UID": format!("okta-{uid:08}"),
                "requestParameters": {"app": "AWS IAM Identity Center"},
                "responseElements": {"outcome": outcome},
                "sourceIPAddress": ip,
                "recipientAccountId": PROD_ACCOUNT,
                "additionalEventData": {"geo": if ip == ATTACKER_IP { "unknown" } else { "office" }},
            }),
        )
    };
    for d in 0..days.max(1) {
        for (i, who) in staff.iter().enumerate() {
            let t = start
                + Duration::days(i64::from(d))
                + Duration::hours(8)
                + Duration::minutes(rng.below(90) as i64 + 5 * i as i64);
            // The office addresses the trail's IAM users have (mallory's own is not in AWS's).
            let ip = format!("198.51.100.{}", if *who == "mallory" { 16 } else { 10 + i });
            events.push(sign_in(who, &ip, t, "user.session.start", "SUCCESS"));
        }
    }
    // The intruder: a failed guess, then in.
    events.push(sign_in("mallory", ATTACKER_IP, incident - Duration::minutes(6), "user.session.start", "FAILURE"));
    events.push(sign_in("mallory", ATTACKER_IP, incident - Duration::minutes(4), "user.session.start", "SUCCESS"));
    events.sort_by_key(|e| e.0);
    let dir = okta_dir(out);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let mut files = 0;
    for (n, chunk) in events.chunks(EVENTS_PER_BODY).enumerate() {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|(_, data)| {
                let text = data.to_string();
                let sum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()));
                json!({"id": data["UID"], "eventData": text, "eventDataChecksum": sum})
            })
            .collect();
        fs::write(dir.join(format!("put-audit-events-{n:04}.json")), json!({"auditEvents": entries}).to_string())?;
        files += 1;
    }
    Ok((events.len() as u64, files))
}
