//! A deterministic generator of realistic CloudTrail trails: an organization trail over three
//! accounts and three Regions in the `AWSLogs/...` key layout, gzip like CloudTrail delivers it.
//! Background activity (reads, S3 data events, service calls, console sign-ins) surrounds
//! planted incident scenarios that the demo's investigations find. The same generator, at any
//! size, produces the benchmark trails.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use crate::ingest::digests::{ChainWriter, LogFileWritten};
use crate::keys::{self, SavedKeys, SigningKey};

pub const ORG_ID: &str = "o-a1b2c3d4e5";
pub const MANAGEMENT_ACCOUNT: &str = "111111111111";
pub const PROD_ACCOUNT: &str = "222222222222";
pub const DEV_ACCOUNT: &str = "333333333333";
const ACCOUNTS: [&str; 3] = [MANAGEMENT_ACCOUNT, PROD_ACCOUNT, DEV_ACCOUNT];
const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
/// Where the planted attacker comes from.
pub const ATTACKER_IP: &str = "203.0.113.50";
pub const EXFIL_BUCKET: &str = "prod-customer-data";

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub events: u64,
    pub days: u32,
    /// The last day of the trail (UTC).
    pub end_date: NaiveDate,
    pub seed: u64,
    /// Hourly signed digest files per account and Region, as a trail with log file validation
    /// delivers them, signed with a new key saved in `<out>.keys/`.
    pub digests: bool,
    /// AWS Config history of the trail's resources (`AWSLogs/<account>/Config/`).
    pub config: bool,
    /// Okta sign-ins as `PutAuditEvents` bodies (`integrations/okta/`), for an audit store.
    pub audit: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            events: 5_000,
            days: 7,
            end_date: NaiveDate::from_ymd_opt(2026, 11, 15).unwrap_or_default(),
            seed: 42,
            digests: false,
            config: false,
            audit: false,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct GenerateReport {
    pub files: u64,
    pub events: u64,
    pub json_bytes: u64,
    pub gzip_bytes: u64,
    pub digests: u64,
    /// Where the digests' signing key went (with `digests`).
    pub keys: Option<SavedKeys>,
    /// With `config` / `audit`: what was written of the other kinds.
    pub kinds: super::kinds::KindsReport,
}

/// The S3 bucket, trail name and home Region the generated trail claims.
pub const TRAIL_BUCKET: &str = "org-trail-bucket";
const TRAIL_NAME: &str = "org-trail";
const HOME_REGION: &str = "us-east-1";

/// SplitMix64: small, fast and deterministic across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        let bytes: Vec<u8> = a.to_be_bytes().into_iter().chain(b.to_be_bytes()).collect();
        let mut u = uuid::Builder::from_random_bytes(bytes.try_into().unwrap_or([0; 16])).into_uuid().to_string();
        u.make_ascii_lowercase();
        u
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| A[self.below(A.len() as u64) as usize] as char).collect()
    }
    fn upper(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        (0..n).map(|_| A[self.below(A.len() as u64) as usize] as char).collect()
    }
}

/// An identity making calls.
#[derive(Clone)]
struct Actor {
    identity: Value,
    ip: String,
    agent: &'static str,
    account: &'static str,
}

const AGENTS: [&str; 6] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.amzn.2023 prompt/off command/ec2.describe-instances",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "terraform-provider-aws/5.44.0 (+https://registry.terraform.io) aws-sdk-go-v2/1.26.1",
    "console.amazonaws.com",
];

/// Random text shaped like base64 tokens (session tokens, S3 host ids).
fn base64ish(rng: &mut Rng, n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..n).map(|_| A[rng.below(64) as usize] as char).collect()
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn tls(rng: &mut Rng, host: &str) -> Value {
    json!({
        "tlsVersion": if rng.chance(0.9) { "TLSv1.3" } else { "TLSv1.2" },
        "cipherSuite": if rng.chance(0.9) { "TLS_AES_128_GCM_SHA256" } else { "ECDHE-RSA-AES128-GCM-SHA256" },
        "clientProvidedHostHeader": host
    })
}

struct World {
    rng: Rng,
    users: Vec<Actor>,
    roles: Vec<Actor>,
    services: Vec<(&'static str, &'static str)>,
}

fn iam_user(rng: &mut Rng, account: &'static str, name: &str, ip: &str, agent: &'static str) -> Actor {
    let key = format!("AKIA{}", rng.upper(16));
    Actor {
        identity: json!({
            "type": "IAMUser",
            "principalId": format!("AIDA{}", rng.upper(17)),
            "arn": format!("arn:aws:iam::{account}:user/{name}"),
            "accountId": account,
            "accessKeyId": key,
            "userName": name
        }),
        ip: ip.to_string(),
        agent,
        account,
    }
}

#[allow(clippy::too_many_arguments)]
fn assumed_role(
    rng: &mut Rng,
    account: &'static str,
    role: &str,
    session: &str,
    ip: &str,
    agent: &'static str,
    created: DateTime<Utc>,
    mfa: bool,
) -> Actor {
    let role_id = format!("AROA{}", rng.upper(17));
    Actor {
        identity: json!({
            "type": "AssumedRole",
            "principalId": format!("{role_id}:{session}"),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            "accountId": account,
            "accessKeyId": format!("ASIA{}", rng.upper(16)),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": format!("arn:aws:iam::{account}:role/{role}"),
                    "accountId": account,
                    "userName": role
                },
                "webIdFederationData": {},
                "attributes": { "creationDate": iso(created), "mfaAuthenticated": if mfa { "true" } else { "false" } }
            }
        }),
        ip: ip.to_string(),
        agent,
        account,
    }
}

impl World {
    fn new(seed: u64, start: DateTime<Utc>) -> Self {
        let mut rng = Rng(seed);
        let mut users = Vec::new();
        for (i, name) in ["alice", "bob", "carol", "dave", "erin", "build-bot"].iter().enumerate() {
            let acct = ACCOUNTS[i % 3];
            let ip = format!("198.51.100.{}", 10 + i);
            let agent = AGENTS[i % 5];
            users.push(iam_user(&mut rng, acct, name, &ip, agent));
        }
        let mut roles = Vec::new();
        for (i, (role, session)) in [
            ("AWSReservedSSO_AdministratorAccess_0123456789abcdef", "alice@example.com"),
            ("AWSReservedSSO_ReadOnly_fedcba9876543210", "bob@example.com"),
            ("ci-deployer", "github-actions-4821"),
            ("app-backend", "i-0a1b2c3d4e5f60718"),
            ("OrganizationAccountAccessRole", "admin-session"),
        ]
        .iter()
        .enumerate()
        {
            let acct = ACCOUNTS[(i + 1) % 3];
            let ip = if *role == "app-backend" { "10.0.12.34".to_string() } else { format!("192.0.2.{}", 20 + i) };
            roles.push(assumed_role(&mut rng, acct, role, session, &ip, AGENTS[(i + 1) % 5], start, i < 2));
        }
        let services = vec![
            ("config.amazonaws.com", "AWS Config"),
            ("cloudtrail.amazonaws.com", "AWS CloudTrail"),
            ("autoscaling.amazonaws.com", "AWS Auto Scaling"),
            ("lambda.amazonaws.com", "AWS Lambda"),
        ];
        Self { rng, users, roles, services }
    }
}

/// An AWS service calling on the account's behalf.
fn service_actor(service: &str, account: &'static str) -> Actor {
    Actor {
        identity: json!({"type": "AWSService", "invokedBy": service}),
        ip: service.to_string(),
        agent: "AWS Internal",
        account,
    }
}

/// One API call being described: who called what, where; what it asked and got back; whether
/// it only read and whether it is a management or a data event. `at` makes the event.
struct Call<'a> {
    actor: &'a Actor,
    source: &'a str,
    name: &'a str,
    region: &'a str,
    request: Value,
    response: Value,
    read_only: bool,
    management: bool,
}

/// A write management event by `actor` (the most common kind; the builder says otherwise).
fn call<'a>(actor: &'a Actor, source: &'a str, name: &'a str, region: &'a str) -> Call<'a> {
    Call {
        actor,
        source,
        name,
        region,
        request: Value::Null,
        response: Value::Null,
        read_only: false,
        management: true,
    }
}

impl Call<'_> {
    fn request(mut self, v: Value) -> Self {
        self.request = v;
        self
    }

    fn response(mut self, v: Value) -> Self {
        self.response = v;
        self
    }

    fn read_only(self) -> Self {
        self.read_only_if(true)
    }

    fn read_only_if(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// A data event (S3 object access, Lambda invoke) rather than a management event.
    fn data_event(mut self) -> Self {
        self.management = false;
        self
    }

    /// The event, made at time `t`.
    fn at(self, rng: &mut Rng, t: DateTime<Utc>) -> Value {
        event(rng, t, self)
    }
}

/// Builds one event as JSON.
fn event(rng: &mut Rng, t: DateTime<Utc>, call: Call<'_>) -> Value {
    let Call { actor, source, name, region, request, response, read_only, management } = call;
    let host = format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"));
    let mut e = json!({
        "eventVersion": "1.10",
        "userIdentity": actor.identity,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": actor.ip,
        "userAgent": actor.agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": rng.uuid(),
        "eventID": rng.uuid(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": management,
        "recipientAccountId": actor.account,
        "eventCategory": if management { "Management" } else { "Data" },
        "tlsDetails": tls(rng, &host)
    });
    if actor.agent == "console.amazonaws.com" {
        e["sessionCredentialFromConsole"] = json!("true");
    }
    e
}

fn denied(mut e: Value, what: &str) -> Value {
    let arn = e["userIdentity"]["arn"].as_str().unwrap_or_default().to_string();
    e["errorCode"] = json!("AccessDenied");
    e["errorMessage"] = json!(format!(
        "User: {arn} is not authorized to perform: {what} because no identity-based policy allows the {what} action"
    ));
    e["responseElements"] = Value::Null;
    e
}

/// Routine activity: the bulk of any real trail.
fn background(w: &mut World, t: DateTime<Utc>) -> Value {
    let region = *w.rng.pick(&REGIONS);
    let roll = w.rng.below(100);
    let use_role = w.rng.chance(0.6);
    let mut actor = if use_role { w.rng.pick(&w.roles).clone() } else { w.rng.pick(&w.users).clone() };
    if use_role {
        // Role sessions get new temporary keys every hour, as STS issues them.
        let arn = actor.identity["arn"].as_str().unwrap_or_default().to_string();
        let mut h = Rng((t.timestamp() as u64 / 3600) ^ arn.bytes().fold(0u64, |a, b| a.rotate_left(5) ^ u64::from(b)));
        actor.identity["accessKeyId"] = json!(format!("ASIA{}", h.upper(16)));
        if actor.ip.starts_with("10.") {
            actor.ip = format!("10.0.{}.{}", h.below(16), 2 + h.below(250));
        }
    }
    let rng = &mut w.rng;
    match roll {
        0..=24 => {
            let ids: Vec<Value> = (0..1 + rng.below(3))
                .map(|_| json!({"instanceId": format!("i-0{}", rng.alnum(16).to_lowercase())}))
                .collect();
            call(&actor, "ec2.amazonaws.com", "DescribeInstances", region)
                .request(json!({"instancesSet": {"items": ids}, "filterSet": {}, "includeAllInstances": false}))
                .read_only()
                .at(rng, t)
        }
        25..=39 => {
            let bucket = *rng.pick(&["prod-app-assets", "prod-logs-archive", EXFIL_BUCKET, "dev-scratch"]);
            let key = format!("data/{}/{}.json", rng.below(1000), rng.alnum(12));
            let name = if rng.chance(0.7) { "GetObject" } else { "PutObject" };
            let mut e = call(&actor, "s3.amazonaws.com", name, region)
                .request(
                    json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "key": key}),
                )
                .read_only_if(name == "GetObject")
                .data_event()
                .at(rng, t);
            e["resources"] = json!([
                {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
                {"accountId": actor.account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}
            ]);
            e["additionalEventData"] = json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": base64ish(rng, 76), "bytesTransferredOut": rng.below(500_000)});
            e
        }
        40..=44 => {
            let mut e = call(&actor, "sts.amazonaws.com", "GetCallerIdentity", region).read_only().at(rng, t);
            e["requestParameters"] = Value::Null;
            e
        }
        45..=56 => {
            // A service assuming a role: the response carries fresh credentials.
            let (svc, _) = *rng.pick(&w.services);
            let svc_actor = service_actor(svc, actor.account);
            let role = *rng.pick(&["app-backend", "config-recorder", "lambda-orders-exec", "autoscaling-linked"]);
            let session = format!("{}", rng.below(10_000_000_000));
            let (key, token, role_id) = (format!("ASIA{}", rng.upper(16)), base64ish(rng, 360), rng.upper(17));
            let mut e = call(&svc_actor, "sts.amazonaws.com", "AssumeRole", region)
        .request(json!({"roleArn": format!("arn:aws:iam::{}:role/{role}", actor.account), "roleSessionName": session, "durationSeconds": 3600}))
        .response(json!({
                    "credentials": {
                        "accessKeyId": key,
                        "sessionToken": token,
                        "expiration": (t + Duration::hours(1)).format("%b %-d, %Y, %-I:%M:%S %p").to_string()
                    },
                    "assumedRoleUser": {
                        "assumedRoleId": format!("AROA{role_id}:{session}"),
                        "arn": format!("arn:aws:sts::{}:assumed-role/{role}/{session}", actor.account)
                    }
                }))
        .at(rng, t);
            e["resources"] = json!([{"accountId": actor.account, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{}:role/{role}", actor.account)}]);
            e["sharedEventID"] = json!(rng.uuid());
            e
        }
        57..=61 => {
            let (svc, _) = *rng.pick(&w.services);
            let svc_actor = service_actor(svc, actor.account);
            let key = format!("arn:aws:kms:{region}:{}:key/{}", actor.account, rng.uuid());
            let mut e = call(&svc_actor, "kms.amazonaws.com", "Decrypt", region)
        .request(json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{}:function:orders", actor.account)}}))
        .read_only()
        .at(rng, t);
            e["eventType"] = json!("AwsApiCall");
            e["resources"] = json!([{"accountId": actor.account, "type": "AWS::KMS::Key", "ARN": key}]);
            e["sharedEventID"] = json!(rng.uuid());
            e
        }
        62..=69 => {
            let name = *rng.pick(&["ListUsers", "ListRoles", "GetRole", "ListAttachedRolePolicies"]);
            call(&actor, "iam.amazonaws.com", name, "us-east-1")
                .request(json!({"maxItems": 100}))
                .read_only()
                .at(rng, t)
        }
        70..=79 => {
            let fname = *rng.pick(&["orders", "payments", "thumbnailer"]);
            call(&actor, "lambda.amazonaws.com", "GetFunction20150331v2", region)
                .request(json!({"functionName": fname}))
                .read_only()
                .at(rng, t)
        }
        80..=89 => {
            let env = *rng.pick(&["prod", "dev"]);
            call(&actor, "ssm.amazonaws.com", "GetParameter", region)
                .request(json!({"name": format!("/app/{env}/db-host"), "withDecryption": false}))
                .read_only()
                .at(rng, t)
        }
        90..=94 => {
            let e = call(&actor, "ec2.amazonaws.com", "DescribeSecurityGroups", region)
                .request(json!({"securityGroupSet": {}, "filterSet": {}}))
                .read_only()
                .at(rng, t);
            if rng.chance(0.1) {
                denied(e, "ec2:DescribeSecurityGroups")
            } else if rng.chance(0.15) {
                // EC2 reports denials with an encoded authorization message.
                let mut e = e;
                e["errorCode"] = json!("Client.UnauthorizedOperation");
                e["errorMessage"] = json!(format!(
                    "You are not authorized to perform this operation. User: {} is not authorized to perform: ec2:DescribeSecurityGroups. Encoded authorization failure message: {}",
                    e["userIdentity"]["arn"].as_str().unwrap_or_default(),
                    base64ish(rng, 900)
                ));
                e
            } else {
                e
            }
        }
        _ => console_login(rng, t, &w.users[(t.timestamp() as usize) % w.users.len()].clone(), true),
    }
}

fn console_login(rng: &mut Rng, t: DateTime<Utc>, user: &Actor, mfa: bool) -> Value {
    let mut actor = user.clone();
    actor.agent = AGENTS[3];
    let mut e = call(&actor, "signin.amazonaws.com", "ConsoleLogin", "us-east-1")
        .response(json!({"ConsoleLogin": "Success"}))
        .at(rng, t);
    e["eventType"] = json!("AwsConsoleSignIn");
    e["eventVersion"] = json!("1.08");
    e["additionalEventData"] = json!({
        "LoginTo": "https://console.aws.amazon.com/console/home",
        "MobileVersion": "No",
        "MFAUsed": if mfa { "Yes" } else { "No" }
    });
    if let Some(id) = e["userIdentity"].as_object_mut() {
        id.remove("accessKeyId");
    }
    e.as_object_mut().map(|o| o.remove("readOnly"));
    e
}

/// The days of history CloudTrail Insights needs before it judges a minute (a week), plus the
/// day of the incident.
pub const INSIGHTS_DAYS: u32 = 8;

/// The incident planted in every generated trail (on the last day); with a week of history
/// before it, also the bursts CloudTrail Insights finds.
fn scenario(w: &mut World, day_start: DateTime<Utc>, with_insights: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let t0 = day_start + Duration::hours(2) + Duration::minutes(13);
    let rng = &mut w.rng;
    // 1. An IAM user signs in to the console without MFA from an unfamiliar address.
    let mut mallory = iam_user(rng, PROD_ACCOUNT, "mallory", ATTACKER_IP, AGENTS[3]);
    out.push(console_login(rng, t0, &mallory, false));
    mallory.agent = AGENTS[0];
    // 2. Root signs in (with MFA) shortly after — always worth a look.
    let root = Actor {
        identity: json!({"type": "Root", "principalId": MANAGEMENT_ACCOUNT, "arn": format!("arn:aws:iam::{MANAGEMENT_ACCOUNT}:root"), "accountId": MANAGEMENT_ACCOUNT}),
        ip: ATTACKER_IP.to_string(),
        agent: AGENTS[3],
        account: MANAGEMENT_ACCOUNT,
    };
    out.push(console_login(rng, t0 + Duration::minutes(3), &root, true));
    // 3. A burst of AccessDenied while the intruder probes permissions.
    for i in 0..40 {
        let (src, name) = *rng.pick(&[
            ("iam.amazonaws.com", "ListAccessKeys"),
            ("s3.amazonaws.com", "ListBuckets"),
            ("secretsmanager.amazonaws.com", "ListSecrets"),
            ("organizations.amazonaws.com", "DescribeOrganization"),
        ]);
        let e = call(&mallory, src, name, "us-east-1")
            .request(json!({}))
            .read_only()
            .at(rng, t0 + Duration::seconds(300 + i * 3));
        out.push(denied(e, &format!("{}:{name}", src.trim_end_matches(".amazonaws.com"))));
    }
    // 4. Persistence: a new user with a key and administrator rights.
    let t1 = t0 + Duration::minutes(10);
    out.push(call(&mallory, "iam.amazonaws.com", "CreateUser", "us-east-1")
        .request(json!({"userName": "backup-svc"}))
        .response(json!({"user": {"path": "/", "userName": "backup-svc", "userId": "AIDAEXAMPLEBACKUPSVC1", "arn": format!("arn:aws:iam::{PROD_ACCOUNT}:user/backup-svc"), "createDate": "Nov 15, 2026 2:23:00 AM"}}))
        .at(rng, t1));
    out.push(
        call(&mallory, "iam.amazonaws.com", "AttachUserPolicy", "us-east-1")
            .request(json!({"userName": "backup-svc", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
            .at(rng, t1 + Duration::seconds(20)),
    );
    out.push(call(&mallory, "iam.amazonaws.com", "CreateAccessKey", "us-east-1")
        .request(json!({"userName": "backup-svc"}))
        .response(json!({"accessKey": {"accessKeyId": "AKIAEXAMPLEBACKUPKEY", "status": "Active", "userName": "backup-svc", "createDate": "Nov 15, 2026 2:23:40 AM"}}))
        .at(rng, t1 + Duration::seconds(40)));
    // 5. Defence evasion: logging turned down.
    let trail = format!("arn:aws:cloudtrail:us-east-1:{MANAGEMENT_ACCOUNT}:trail/org-trail");
    out.push(call(&mallory, "cloudtrail.amazonaws.com", "PutEventSelectors", "us-east-1")
        .request(json!({"trailName": trail, "eventSelectors": [{"readWriteType": "WriteOnly", "includeManagementEvents": true, "dataResources": []}]}))
        .at(rng, t1 + Duration::minutes(2)));
    out.push(
        call(&mallory, "cloudtrail.amazonaws.com", "StopLogging", "us-east-1")
            .request(json!({"name": trail}))
            .at(rng, t1 + Duration::minutes(3)),
    );
    // 6. A security group opened to the world.
    out.push(call(&mallory, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "us-east-1")
        .request(json!({"groupId": "sg-0abc1234def567890", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}))
        .response(json!({"_return": true}))
        .at(rng, t1 + Duration::minutes(5)));
    // Password guessing before the successful sign-in.
    for i in 0..6 {
        let mut e = console_login(rng, t0 - Duration::minutes(6) + Duration::seconds(i * 40), &mallory, false);
        e["userIdentity"]["accessKeyId"] = Value::Null;
        e["errorMessage"] = json!("Failed authentication");
        e["responseElements"] = json!({"ConsoleLogin": "Failure"});
        out.push(e);
    }
    // Discovery and collection: secrets and decrypted parameters.
    for (i, secret) in ["prod/db-password", "prod/stripe-api-key", "prod/jwt-signing-key"].iter().enumerate() {
        let mut e = call(&mallory, "secretsmanager.amazonaws.com", "GetSecretValue", "us-east-1")
            .request(json!({"secretId": secret}))
            .read_only()
            .at(rng, t1 + Duration::minutes(8) + Duration::seconds(i as i64 * 5));
        e["resources"] = json!([{"accountId": PROD_ACCOUNT, "type": "AWS::SecretsManager::Secret",
            "ARN": format!("arn:aws:secretsmanager:us-east-1:{PROD_ACCOUNT}:secret:{secret}-AbCdEf")}]);
        out.push(e);
    }
    out.push(
        call(&mallory, "ssm.amazonaws.com", "GetParameter", "us-east-1")
            .request(json!({"name": "/app/prod/db-password", "withDecryption": true}))
            .read_only()
            .at(rng, t1 + Duration::minutes(9)),
    );
    // Defence evasion beyond CloudTrail: detection and recording turned off.
    out.push(
        call(&mallory, "guardduty.amazonaws.com", "DeleteDetector", "us-east-1")
            .request(json!({"detectorId": "12abc34d567e8fa901bc2d34eexample"}))
            .at(rng, t1 + Duration::minutes(4)),
    );
    out.push(
        call(&mallory, "config.amazonaws.com", "StopConfigurationRecorder", "us-east-1")
            .request(json!({"configurationRecorderName": "default"}))
            .at(rng, t1 + Duration::minutes(4) + Duration::seconds(30)),
    );
    out.push(
        call(&mallory, "securityhub.amazonaws.com", "DisableSecurityHub", "us-east-1")
            .request(json!({}))
            .at(rng, t1 + Duration::minutes(4) + Duration::seconds(50)),
    );
    // The customer bucket made readable from anywhere.
    let bucket_res =
        json!([{"accountId": PROD_ACCOUNT, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{EXFIL_BUCKET}")}]);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{EXFIL_BUCKET}/*"}}]}}"#
    );
    for (i, (name, req)) in [
        ("DeleteBucketPublicAccessBlock", json!({"bucketName": EXFIL_BUCKET, "publicAccessBlock": ""})),
        ("PutBucketPolicy", json!({"bucketName": EXFIL_BUCKET, "bucketPolicy": policy})),
        ("PutBucketAcl", json!({"bucketName": EXFIL_BUCKET, "x-amz-acl": ["public-read"]})),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = call(&mallory, "s3.amazonaws.com", name, "us-east-1")
            .request(req)
            .at(rng, t1 + Duration::minutes(15) + Duration::seconds(i as i64 * 10));
        e["resources"] = bucket_res.clone();
        out.push(e);
    }
    // Persistence through trust: a role anyone in another account can assume; MFA removed.
    out.push(call(&mallory, "iam.amazonaws.com", "UpdateAssumeRolePolicy", "us-east-1")
        .request(json!({"roleName": "app-backend", "policyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}]}"#}))
        .at(rng, t1 + Duration::minutes(6)));
    out.push(
        call(&mallory, "iam.amazonaws.com", "DeactivateMFADevice", "us-east-1")
            .request(json!({"userName": "alice", "serialNumber": format!("arn:aws:iam::{PROD_ACCOUNT}:mfa/alice")}))
            .at(rng, t1 + Duration::minutes(7)),
    );
    // An SSM shell on a production instance.
    let mut e = call(&mallory, "ssm.amazonaws.com", "StartSession", "us-east-1")
        .request(json!({"target": "i-0a1b2c3d4e5f60718"}))
        .response(json!({"sessionId": "mallory-0a1b2c3d4e5f6", "streamUrl": "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/mallory-0a1b2c3d4e5f6"}))
        .at(rng, t1 + Duration::minutes(25));
    e["resources"] = json!([{"accountId": PROD_ACCOUNT, "type": "AWS::EC2::Instance", "ARN": format!("arn:aws:ec2:us-east-1:{PROD_ACCOUNT}:instance/i-0a1b2c3d4e5f60718")}]);
    out.push(e);
    // A key scheduled for deletion: ransom by destroying the means to decrypt.
    let key_arn = format!("arn:aws:kms:us-east-1:{PROD_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    for (i, name) in ["DisableKey", "ScheduleKeyDeletion"].iter().enumerate() {
        let req = if *name == "ScheduleKeyDeletion" {
            json!({"keyId": key_arn, "pendingWindowInDays": 7})
        } else {
            json!({"keyId": key_arn})
        };
        let mut e = call(&mallory, "kms.amazonaws.com", name, "us-east-1")
            .request(req)
            .at(rng, t1 + Duration::minutes(30) + Duration::seconds(i as i64 * 20));
        e["resources"] = json!([{"accountId": PROD_ACCOUNT, "type": "AWS::KMS::Key", "ARN": key_arn}]);
        out.push(e);
    }
    out.push(
        call(&mallory, "s3.amazonaws.com", "DeleteBucket", "us-east-1")
            .request(json!({"bucketName": "prod-logs-archive", "Host": "prod-logs-archive.s3.us-east-1.amazonaws.com"}))
            .at(rng, t1 + Duration::minutes(32)),
    );
    // Lateral movement: into the dev account, then GPU instances in a Region never used before.
    let pivot_time = t1 + Duration::minutes(40);
    let mut e = call(&mallory, "sts.amazonaws.com", "AssumeRole", "us-east-1")
        .request(json!({"roleArn": format!("arn:aws:iam::{DEV_ACCOUNT}:role/OrganizationAccountAccessRole"), "roleSessionName": "mallory-pivot"}))
        .response(json!({"assumedRoleUser": {"arn": format!("arn:aws:sts::{DEV_ACCOUNT}:assumed-role/OrganizationAccountAccessRole/mallory-pivot")}}))
        .at(rng, pivot_time);
    e["recipientAccountId"] = json!(DEV_ACCOUNT);
    e["resources"] = json!([{"accountId": DEV_ACCOUNT, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{DEV_ACCOUNT}:role/OrganizationAccountAccessRole")}]);
    out.push(e);
    let pivot = assumed_role(
        rng,
        DEV_ACCOUNT,
        "OrganizationAccountAccessRole",
        "mallory-pivot",
        ATTACKER_IP,
        AGENTS[0],
        pivot_time,
        false,
    );
    out.push(
        call(&pivot, "ec2.amazonaws.com", "DescribeRegions", "ap-southeast-1")
            .request(json!({"regionSet": {}}))
            .read_only()
            .at(rng, pivot_time + Duration::minutes(1)),
    );
    for i in 0..3 {
        let mut e = call(&pivot, "ec2.amazonaws.com", "RunInstances", "ap-southeast-1")
        .request(json!({"instanceType": "p4d.24xlarge", "instancesSet": {"items": [{"imageId": "ami-0c55b159cbfafe1f0", "minCount": 4, "maxCount": 4}]}}))
        .response(json!({"instancesSet": {"items": [{"instanceId": format!("i-0pivot{i:011}"), "instanceType": "p4d.24xlarge"}]}}))
        .at(rng, pivot_time + Duration::minutes(2) + Duration::seconds(i * 15));
        e["resources"] = json!([{"accountId": DEV_ACCOUNT, "type": "AWS::EC2::Instance", "ARN": format!("arn:aws:ec2:ap-southeast-1:{DEV_ACCOUNT}:instance/i-0pivot{i:011}")}]);
        out.push(e);
    }
    // 7. Exfiltration: the new key reads the customer bucket from the attacker's address.
    let mut backup = iam_user(rng, PROD_ACCOUNT, "backup-svc", ATTACKER_IP, AGENTS[2]);
    backup.identity["accessKeyId"] = json!("AKIAEXAMPLEBACKUPKEY");
    for i in 0..60 {
        let key = format!("exports/customers-{i:03}.csv");
        let mut e = call(&backup, "s3.amazonaws.com", "GetObject", "us-east-1")
        .request(json!({"bucketName": EXFIL_BUCKET, "Host": format!("{EXFIL_BUCKET}.s3.us-east-1.amazonaws.com"), "key": key}))
        .read_only()
        .data_event()
        .at(rng, t1 + Duration::minutes(20) + Duration::seconds(i * 2));
        e["resources"] = json!([
            {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{EXFIL_BUCKET}/{key}")},
            {"accountId": PROD_ACCOUNT, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{EXFIL_BUCKET}")}
        ]);
        e["additionalEventData"] = json!({"bytesTransferredOut": 5_242_880, "AuthenticationMethod": "AuthHeader"});
        out.push(e);
    }
    if with_insights {
        // Insights (with a week of history before the incident to judge them against): before the
        // pivot, a burst of denied role assumptions across the organization (an error-rate
        // Insight) ...
        for i in 0..30 {
            let account = ACCOUNTS[i as usize % ACCOUNTS.len()];
            let role = ["OrganizationAccountAccessRole", "admin", "deploy"][i as usize % 3];
            let e = call(&mallory, "sts.amazonaws.com", "AssumeRole", "us-east-1")
                .request(json!({"roleArn": format!("arn:aws:iam::{account}:role/{role}"), "roleSessionName": format!("m{i}")}))
                .read_only()
                .at(rng, t1 + Duration::minutes(36) + Duration::seconds(i * 6));
            out.push(denied(e, "sts:AssumeRole"));
        }
        // ... and backups destroyed in bulk with the new key (a call-rate Insight).
        let wiper = &backup;
        for i in 0..40 {
            out.push(
                call(wiper, "ec2.amazonaws.com", "DeleteSnapshot", "us-east-1")
                    .request(json!({"snapshotId": format!("snap-0backup{i:09}")}))
                    .response(json!({"_return": true}))
                    .at(rng, t1 + Duration::minutes(50) + Duration::seconds(i * 6)),
            );
        }
    }
    out
}

/// Writes the trail under `out/AWSLogs/...` and returns what was written.
pub fn generate(out: &Path, opts: &GenerateOptions) -> std::io::Result<GenerateReport> {
    let days = opts.days.max(1);
    let first = opts.end_date - Duration::days(i64::from(days) - 1);
    let start = Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut world = World::new(opts.seed, start);
    let span_secs = i64::from(days) * 86_400;
    // File windows sized so files hold a realistic couple of hundred events.
    let streams = (ACCOUNTS.len() * REGIONS.len()) as i64;
    let files_wanted = (opts.events as i64 / 200).max(1);
    let window = (span_secs * streams / files_wanted).clamp(300, 86_400);

    let last_day = Utc.from_utc_datetime(&opts.end_date.and_hms_opt(0, 0, 0).unwrap_or_default());
    let planted = scenario(&mut world, last_day, days >= INSIGHTS_DAYS);
    let background_n = opts.events.saturating_sub(planted.len() as u64);
    let mut kinds = super::kinds::KindsReport::default();
    if opts.config {
        (kinds.config_items, kinds.config_files) = super::kinds::write_config(out, start, days, &planted, opts.seed)?;
    }
    if opts.audit {
        let incident = last_day + Duration::hours(2) + Duration::minutes(13);
        (kinds.audit_events, kinds.audit_files) = super::kinds::write_okta(out, start, days, incident, opts.seed)?;
    }

    // Assign events to (account, region, window) files.
    let mut files: std::collections::BTreeMap<(i64, String, String), Vec<Value>> = Default::default();
    let put = |e: Value, files: &mut std::collections::BTreeMap<(i64, String, String), Vec<Value>>| {
        let t = e["eventTime"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp())
            .unwrap_or(0);
        let acct = e["recipientAccountId"].as_str().unwrap_or(MANAGEMENT_ACCOUNT).to_string();
        let region = e["awsRegion"].as_str().unwrap_or("us-east-1").to_string();
        let w = (t - start.timestamp()).div_euclid(window);
        files.entry((w, acct, region)).or_default().push(e);
    };
    for e in planted {
        put(e, &mut files);
    }
    for i in 0..background_n {
        // Spread evenly with jitter, busier during working hours.
        let base = (i as i64 * span_secs) / background_n.max(1) as i64;
        let t = start + Duration::seconds(base + world.rng.below(60) as i64);
        let e = background(&mut world, t);
        put(e, &mut files);
    }

    let mut report = GenerateReport { kinds, ..Default::default() };
    // Per account and Region: each file's delivery time and what a digest says of it.
    let mut delivered_files = Deliveries::default();
    for ((w, acct, region), mut events) in files {
        // Delivery time: the end of the window plus a few minutes, as CloudTrail does.
        let delivered = start + Duration::seconds((w + 1) * window + 300);
        let day = delivered.format("%Y/%m/%d").to_string();
        let rel = format!("AWSLogs/{ORG_ID}/{acct}/CloudTrail/{region}/{day}");
        let dir: PathBuf = out.join(&rel);
        fs::create_dir_all(&dir)?;
        let name =
            format!("{acct}_CloudTrail_{region}_{}_{}.json.gz", delivered.format("%Y%m%dT%H%MZ"), world.rng.alnum(16));
        // CloudTrail does not sort records within a file; neither do we, a little.
        if events.len() > 2 {
            let a = world.rng.below(events.len() as u64) as usize;
            events.swap(0, a);
        }
        report.events += events.len() as u64;
        let body = serde_json::to_vec(&json!({ "Records": events })).map_err(std::io::Error::other)?;
        report.json_bytes += body.len() as u64;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&body)?;
        let bytes = gz.finish()?;
        report.gzip_bytes += bytes.len() as u64;
        fs::write(dir.join(&name), bytes)?;
        report.files += 1;
        if opts.digests {
            let times = events.iter().filter_map(|e| e["eventTime"].as_str());
            let written = LogFileWritten {
                key: format!("{rel}/{name}"),
                sha256: keys::sha256_hex(&body),
                oldest_event_time: times.clone().min().map(str::to_string),
                newest_event_time: times.max().map(str::to_string),
            };
            delivered_files.entry((acct, region)).or_default().push((delivered, written));
        }
    }
    if opts.digests {
        let (count, saved) = write_digests(out, start, &delivered_files)?;
        report.digests = count;
        report.keys = Some(saved);
    } else {
        write_placeholder_digest(out, opts, last_day)?;
    }
    Ok(report)
}

/// Per account and Region, each log file's delivery time and what its digest says of it.
type Deliveries = std::collections::BTreeMap<(String, String), Vec<(DateTime<Utc>, LogFileWritten)>>;

/// The folder beside `out` the digest signing key is saved in: `<out>.keys`.
pub fn keys_dir(out: &Path) -> PathBuf {
    let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "trail".into());
    name.push(".keys");
    out.with_file_name(name)
}

/// Hourly digests for every account and Region from the trail's start to its last delivery,
/// signed with a new key (saved beside the trail, so the private key never sits in it);
/// each digest's signature also goes to a `.sig` sidecar, as a downloaded copy would keep it.
fn write_digests(out: &Path, start: DateTime<Utc>, delivered: &Deliveries) -> std::io::Result<(u64, SavedKeys)> {
    let key = SigningKey::generate().map_err(std::io::Error::other)?;
    let saved = key.save(&keys_dir(out)).map_err(std::io::Error::other)?;
    let last = delivered.values().flatten().map(|(t, _)| *t).max().unwrap_or(start);
    let hours = (last - start).num_hours() + 1;
    let mut count = 0;
    for ((acct, region), files) in delivered {
        let root = format!("AWSLogs/{ORG_ID}/{acct}");
        let mut chain = ChainWriter::new(&key, TRAIL_BUCKET, &root, acct, region, TRAIL_NAME, HOME_REGION);
        for h in 0..hours {
            let (from, to) = (start + Duration::hours(h), start + Duration::hours(h + 1));
            let logs: Vec<LogFileWritten> =
                files.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, l)| l.clone()).collect();
            let d = chain.digest(from, to, &logs).map_err(std::io::Error::other)?;
            let path = out.join(&d.key);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&d.json)?;
            fs::write(&path, gz.finish()?)?;
            fs::write(format!("{}.sig", path.display()), &d.signature)?;
            count += 1;
        }
    }
    Ok((count, saved))
}

/// Without `digests`: one unsigned digest file, as a trail with validation has, that ingest
/// must recognise and skip.
fn write_placeholder_digest(out: &Path, opts: &GenerateOptions, last_day: DateTime<Utc>) -> std::io::Result<()> {
    let ddir = out.join(format!(
        "AWSLogs/{ORG_ID}/{MANAGEMENT_ACCOUNT}/CloudTrail-Digest/us-east-1/{}",
        opts.end_date.format("%Y/%m/%d")
    ));
    fs::create_dir_all(&ddir)?;
    let digest = json!({"awsAccountId": MANAGEMENT_ACCOUNT, "digestStartTime": iso(last_day), "digestEndTime": iso(last_day + Duration::hours(1)),
        "digestS3Bucket": TRAIL_BUCKET, "digestS3Object": "digest", "logFiles": []});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(digest.to_string().as_bytes())?;
    fs::write(
        ddir.join(format!(
            "{MANAGEMENT_ACCOUNT}_CloudTrail-Digest_us-east-1_org-trail_us-east-1_{}.json.gz",
            opts.end_date.format("%Y%m%dT010000Z")
        )),
        gz.finish()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        let a = tempfile::tempdir().expect("tmp");
        let b = tempfile::tempdir().expect("tmp");
        let opts = GenerateOptions { events: 600, days: 2, ..Default::default() };
        let ra = generate(a.path(), &opts).expect("gen");
        let rb = generate(b.path(), &opts).expect("gen");
        assert_eq!(ra.events, 600);
        assert_eq!((ra.files, ra.gzip_bytes), (rb.files, rb.gzip_bytes));
        let avg = ra.json_bytes as f64 / ra.events as f64;
        assert!((600.0..2000.0).contains(&avg), "average event size {avg}");
    }
}
