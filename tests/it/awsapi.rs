//! `traillake serve --aws-api` with the clients people install: boto3 and the AWS CLI, signing
//! with a configured key (tests/aws_api.py).

use std::path::Path;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_aws_cli_run_lake_queries_against_a_local_store() {
    let tools = std::process::Command::new("python3").args(["-c", "import boto3"]).output();
    let cli = std::process::Command::new("aws").arg("--version").output();
    if !tools.is_ok_and(|o| o.status.success()) || !cli.is_ok_and(|o| o.status.success()) {
        skip_or_fail("boto3 and the AWS CLI are needed (pip install boto3 awscli)");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let store = demo_store(tmp.path()).await;
    let events = count(&store, "SELECT count(*) FROM demo").await;
    let by_name =
        query_json(&store, "SELECT eventName, count(*) AS n FROM demo GROUP BY eventName ORDER BY n DESC, eventName")
            .await;
    let top_errors = query_json(
        &store,
        "SELECT errorCode, errorMessage, COUNT(*) as eventCount FROM demo WHERE eventTime > '2026-11-01 00:00:00' \
         AND eventTime < '2026-11-16 00:00:00' AND (errorCode is not null or errorMessage is not null) \
         GROUP BY errorCode, errorMessage ORDER BY eventCount DESC LIMIT 10",
    )
    .await;
    let logins = count(&store, "SELECT count(*) FROM demo WHERE eventName = 'ConsoleLogin'").await;
    let mallory = count(
        &store,
        &format!(
            "SELECT count(*) FROM demo WHERE eventTime >= '2026-11-01 00:00:00' AND eventTime <= '2026-11-16 00:00:00' AND ({}) = 'mallory'",
            traillake::investigate::lookup::USERNAME_SQL
        ),
    )
    .await;
    // A secret with the characters real ones have (/ and +), a key of AWS's length.
    let (key, secret) = ("AKIATRAILLAKETEST001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let credentials = tmp.path().join("credentials");
    std::fs::write(&credentials, format!("[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"))
        .expect("write");
    let (mut child, url, rx) = spawn_server(
        bin()
            .arg("--store")
            .arg(tmp.path().join("store"))
            .args(["serve", "--aws-api", "--aws-addr", "127.0.0.1:0", "--no-flight-sql", "--aws-credentials"])
            .arg(&credentials),
        "http://",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws_api.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .env("TRAILLAKE_AWS_URL", &url)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        // Never the machine's own AWS setup, nor instance metadata.
        .env("AWS_CONFIG_FILE", tmp.path().join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", tmp.path().join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("EXPECTED_EVENTS", events.to_string())
        .env("EXPECTED_BY_EVENT_NAME", serde_json::to_string(&by_name).expect("json"))
        .env("EXPECTED_TOP_ERRORS", serde_json::to_string(&top_errors).expect("json"))
        .env("EXPECTED_MALLORY_EVENTS", mallory.to_string())
        .env("EXPECTED_CONSOLE_LOGINS", logins.to_string())
        .output()
        .expect("python");
    let _ = child.kill();
    let _ = child.wait();
    let log: Vec<String> = rx.try_iter().collect();
    assert!(
        out.status.success() && stdout(&out).contains("AWS API OK"),
        "{}\n{}\nserver log:\n{}",
        stdout(&out),
        stderr(&out),
        log.join("\n")
    );
}
