//! `s3://` ingest against a real S3-compatible server (moto) started on 127.0.0.1.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::common::*;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts moto's S3 server on a free port; `None` (test skipped, with a message) if moto is
/// not installed.
fn start_moto() -> Option<(Moto, String)> {
    let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    // `python3 -m moto.server` works whether or not pip's scripts folder is on PATH.
    let installed = Command::new("python3").args(["-c", "import moto.server"]).status().is_ok_and(|s| s.success());
    if !installed {
        skip_or_fail("moto is not installed (pip install 'moto[server]'; .ci/run installs it)");
        return None;
    }
    let child = Command::new("python3")
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let moto = Moto(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    // Ready when it answers HTTP; bounded so a broken install fails instead of hanging.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            let mut b = [0u8; 12];
            if s.read(&mut b).map(|n| n > 0).unwrap_or(false) {
                return Some((moto, endpoint));
            }
        }
        assert!(Instant::now() < deadline, "moto_server did not start on {endpoint}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_from_s3_prefix() {
    let Some((_moto, endpoint)) = start_moto() else { return };
    let bucket = "trail-bucket";
    let s3 = new_bucket(&endpoint, bucket);
    let tmp = tempfile::tempdir().expect("tmp");
    let trail = tmp.path().join("trail");
    let g = traillake::demo::generate(
        &trail,
        &traillake::demo::GenerateOptions { events: 3000, days: 3, ..Default::default() },
    )
    .expect("generate");
    let mut uploaded = 0;
    for entry in walk(&trail) {
        let rel = entry.strip_prefix(&trail).expect("rel").to_string_lossy().replace('\\', "/");
        let key = ObjectPath::from(format!("logs/{rel}"));
        s3.put(&key, PutPayload::from(std::fs::read(&entry).expect("read"))).await.expect("put");
        uploaded += 1;
    }
    assert!(uploaded > 3);
    let st = tmp.path().join("store");
    // The binary against the moto endpoint, with a store path.
    let traillake = |store: &str, args: &[&str]| {
        bin()
            .arg("--store")
            .arg(store)
            .args(args)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .expect("run")
    };
    let local = st.to_str().expect("utf8");
    let out =
        traillake(local, &["ingest", &format!("s3://{bucket}/logs/AWSLogs/"), "--no-progress", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rep: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(rep["eventsAdded"].as_u64(), Some(g.events));
    assert_eq!(rep["digestsSkipped"], 1);
    let store = store_in(tmp.path());
    assert_eq!(count(&store, "SELECT count(DISTINCT eventid) FROM default").await as u64, g.events);
    // The ledger knows S3 objects too.
    let again = traillake(local, &["ingest", &format!("s3://{bucket}/logs/"), "--no-progress", "--format", "json"]);
    let rep: serde_json::Value = serde_json::from_str(&stdout(&again)).expect("json");
    assert_eq!(rep["eventsAdded"], 0, "{}", stderr(&again));
    assert_eq!(rep["files"], 0);

    // The store itself on S3: catalog, Delta table and queries all through the bucket.
    let s3_store = format!("s3://{bucket}/stores/main");
    let with_env = |args: &[&str]| traillake(&s3_store, args);
    let created = with_env(&["eds", "create", "cloud"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let ing = with_env(&["ingest", trail.to_str().expect("p"), "--eds", "cloud", "--no-progress"]);
    assert_eq!(ing.status.code(), Some(0), "{}", stderr(&ing));
    let q = with_env(&["query", "SELECT count(*) AS n FROM cloud", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&q)).expect("json");
    assert_eq!(rows[0]["n"].as_u64(), Some(g.events), "{}", stderr(&q));
}

/// Creates `bucket` on the moto server (moto creates buckets on PUT /bucket) and returns a
/// client for it.
fn new_bucket(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    let made = Command::new("python3")
        .arg("-c")
        .arg(format!("import urllib.request as u; u.urlopen(u.Request('{endpoint}/{bucket}', method='PUT'))"))
        .status()
        .expect("python3");
    assert!(made.success(), "bucket creation failed");
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("s3 client")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `validate-logs s3://…`: each digest's signature comes from its object's
/// `x-amz-meta-signature`, as CloudTrail stores it (no sidecars uploaded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_logs_reads_signatures_from_s3_object_metadata() {
    use object_store::{Attribute, Attributes, ObjectStore, PutOptions};
    let Some((_moto, endpoint)) = start_moto() else { return };
    let bucket = traillake::demo::generate::TRAIL_BUCKET;
    let s3 = new_bucket(&endpoint, bucket);
    let tmp = tempfile::tempdir().expect("tmp");
    let trail = tmp.path().join("trail");
    let opts = traillake::demo::GenerateOptions { events: 1000, days: 1, digests: true, ..Default::default() };
    let g = traillake::demo::generate(&trail, &opts).expect("generate");
    let keys = g.keys.expect("keys").public_keys_json;
    for entry in walk(&trail) {
        let rel = entry.strip_prefix(&trail).expect("rel").to_string_lossy().replace('\\', "/");
        if rel.ends_with(".sig") {
            continue;
        }
        let mut attributes = Attributes::new();
        if let Ok(sig) = std::fs::read_to_string(format!("{}.sig", entry.display())) {
            attributes.insert(Attribute::Metadata("signature".into()), sig.into());
        }
        let payload = PutPayload::from(std::fs::read(&entry).expect("read"));
        s3.put_opts(&ObjectPath::from(rel), payload, PutOptions { attributes, ..Default::default() })
            .await
            .expect("put");
    }
    let out = bin()
        .args(["validate-logs", &format!("s3://{bucket}/AWSLogs/"), "--format", "json", "--require-signatures"])
        .arg("--public-key")
        .arg(&keys)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Never the network: instance-metadata endpoints at a closed loopback port.
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .env("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .expect("run");
    let rep: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(out.status.code(), Some(0), "{rep} {}", stderr(&out));
    let digests = rep["digests"].as_array().expect("digests");
    assert_eq!(digests.len() as u64, g.digests);
    assert!(digests.iter().all(|d| d["signature"] == "valid" && d["verdict"] == "valid"), "{rep}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_an_s3_prefix_as_cloudtrail_delivers_into_day_folders() {
    let Some((_moto, endpoint)) = start_moto() else { return };
    let bucket = "follow-bucket";
    let s3 = new_bucket(&endpoint, bucket);
    let tmp = tempfile::tempdir().expect("tmp");
    let st = tmp.path().join("store");
    let now = chrono::Utc::now();
    let folder = |day: chrono::DateTime<chrono::Utc>| {
        format!("AWSLogs/111122223333/CloudTrail/us-east-1/{}/", day.format("%Y/%m/%d"))
    };
    let put = |key: String, ids: Vec<&'static str>| {
        let s3 = s3.clone();
        async move {
            let records: Vec<String> = ids.iter().map(|id| event(id, "2026-11-15T01:00:00Z", "RunInstances")).collect();
            let body = format!("{{\"Records\":[{}]}}", records.join(","));
            s3.put(&ObjectPath::from(key), PutPayload::from(body.into_bytes())).await.expect("put");
        }
    };
    put(
        format!("{}111122223333_CloudTrail_us-east-1_a.json", folder(now)),
        vec!["f0000000-0000-4000-8000-000000000001"],
    )
    .await;
    let mut follower = bin()
        .arg("--store")
        .arg(&st)
        .args(["ingest", &format!("s3://{bucket}/AWSLogs/"), "--follow", "--interval", "1s", "--no-progress"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Never the network: instance-metadata endpoints at a closed loopback port.
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the follower");
    let wait_for = |n: i64| {
        let started = Instant::now();
        loop {
            let o = run(&["query", "SELECT count(*) AS n FROM \"default\"", "--format", "csv"], &st);
            if stdout(&o).lines().nth(1).and_then(|l| l.trim().parse::<i64>().ok()) == Some(n) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "no {n} events after a minute: {}", stdout(&o));
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    wait_for(1);
    // Delivered later into today's and yesterday's folders: found by the day-folder listings.
    put(
        format!("{}111122223333_CloudTrail_us-east-1_b.json", folder(now)),
        vec!["f0000000-0000-4000-8000-000000000002", "f0000000-0000-4000-8000-000000000003"],
    )
    .await;
    wait_for(3);
    put(
        format!("{}111122223333_CloudTrail_us-east-1_c.json", folder(now - chrono::Duration::days(1))),
        vec!["f0000000-0000-4000-8000-000000000004"],
    )
    .await;
    wait_for(4);
    let term = Command::new("kill").args(["-TERM", &follower.id().to_string()]).status().expect("kill");
    assert!(term.success());
    let status = follower.wait().expect("wait");
    let mut err = String::new();
    if let Some(mut e) = follower.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("+2 events"), "a status line per pass: {err}");
}
