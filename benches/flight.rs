//! Flight SQL concurrency benchmark (issue: Arrow Flight SQL endpoint for BI tools).
//!
//! Serves a generated 30-day EDS (cached under target/bench-data) on a loopback port and drives
//! it with 32 concurrent `FlightSqlServiceClient`s, 20 queries each — a dashboard mix of
//! counts, one-day breakdowns, error rankings and recent-event lists. Prints p50, p99 and max
//! latency (plan + fetch), throughput, and fails on any error.
//!
//! Then the same mix through the AWS API (`serve --aws-api`) with boto3, as many client threads
//! (tests/… `benches/support/aws_api_mix.py`: StartQuery, DescribeQuery until done, every page of
//! GetQueryResults), when boto3 is installed.
//!
//! `cargo bench --bench flight` (env BENCH_EVENTS, default 200000; BENCH_CLIENTS, BENCH_QUERIES).

use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use tonic::transport::Endpoint;
use traillake::flight::{self, AuthConfig, Limits, ServeOptions};
use traillake::store::Store;

#[path = "support/store.rs"]
mod bench_store;

const QUERIES: [&str; 5] = [
    "SELECT count(*) FROM {eds}",
    "SELECT eventName, count(*) AS n FROM {eds} WHERE eventTime >= '2026-11-10 00:00:00' AND eventTime < '2026-11-11 00:00:00' GROUP BY 1 ORDER BY 2 DESC",
    "SELECT userIdentity.arn, errorCode, count(*) AS n FROM {eds} WHERE eventTime >= '2026-11-14 00:00:00' AND errorCode IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20",
    "SELECT eventTime, eventName, userIdentity.arn, sourceIPAddress FROM {eds} WHERE eventTime >= '2026-11-15 00:00:00' ORDER BY eventTime DESC LIMIT 100",
    "SELECT date_trunc('hour', eventTime) AS hour, count(*) AS n FROM {eds} WHERE eventTime >= '2026-11-13 00:00:00' GROUP BY 1 ORDER BY 1",
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// The allocator the traillake binary runs with (see `traillake::allocator`).
#[global_allocator]
static GLOBAL: traillake::allocator::Allocator = traillake::allocator::Allocator;

fn main() {
    traillake::allocator::tune();
    let events = env_or("BENCH_EVENTS", 200_000) as u64;
    let clients = env_or("BENCH_CLIENTS", 32);
    let per_client = env_or("BENCH_QUERIES", 20);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (_, store_dir) = bench_store::cached(events, &rt);
    let store = Store::open(store_dir.to_str().expect("utf8")).expect("store");
    let aws_store = store.clone();
    let eds = rt.block_on(store.catalog()).expect("catalog").event_data_stores[0].id.to_string();
    let aws_eds = eds.clone();

    rt.block_on(async move {
        let opts = ServeOptions {
            addr: "127.0.0.1:0".parse().expect("addr"),
            auth: AuthConfig::Password { user: "bench".into(), password: "bench".into() },
            tls: None,
            limits: Limits::default(),
            compat: Default::default(),
            allow_unauthenticated: false,
        };
        let server = flight::start(store, opts).await.expect("start");
        let url = format!("http://{}", server.addr());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client_no in 0..clients {
            let url = url.clone();
            let eds = eds.clone();
            tasks.push(tokio::spawn(async move {
                let channel = Endpoint::from_shared(url)
                    .map_err(|e| e.to_string())?
                    .connect()
                    .await
                    .map_err(|e| e.to_string())?;
                let mut c = FlightSqlServiceClient::new(channel);
                c.handshake("bench", "bench").await.map_err(|e| e.to_string())?;
                let mut latencies = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let sql = QUERIES[(client_no + i) % QUERIES.len()].replace("{eds}", &eds);
                    let t = Instant::now();
                    let info = c.execute(sql.clone(), None).await.map_err(|e| format!("{sql}: {e}"))?;
                    let ticket = info.endpoint[0].ticket.clone().ok_or("no ticket")?;
                    let batches: Vec<_> = c
                        .do_get(ticket)
                        .await
                        .map_err(|e| format!("{sql}: {e}"))?
                        .try_collect()
                        .await
                        .map_err(|e| format!("{sql}: {e}"))?;
                    if batches.iter().map(|b| b.num_rows()).sum::<usize>() == 0 {
                        return Err(format!("{sql}: no rows"));
                    }
                    latencies.push(t.elapsed());
                }
                Ok::<Vec<Duration>, String>(latencies)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("join").expect("a query failed"));
        }
        let wall = started.elapsed();
        all.sort();
        let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
        println!(
            "Flight SQL, {events} events: {clients} clients x {per_client} queries = {} queries, 0 errors; \
             p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.1} queries/s over {:.1} s",
            all.len(),
            p(0.50).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            all[all.len() - 1].as_secs_f64() * 1e3,
            all.len() as f64 / wall.as_secs_f64(),
            wall.as_secs_f64()
        );
        server.stop().await.expect("stop");
    });
    aws_api(&rt, aws_store, &aws_eds, clients, per_client);
}

/// The same mix through the AWS API with boto3.
fn aws_api(rt: &tokio::runtime::Runtime, store: Store, eds: &str, clients: usize, per_client: usize) {
    let boto3 = std::process::Command::new("python3").args(["-c", "import boto3"]).output();
    if !boto3.is_ok_and(|o| o.status.success()) {
        println!("AWS API: not measured (pip install boto3)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("traillake-bench-aws-{}", std::process::id()));
    std::fs::write(&dir, "[bench]\naws_access_key_id = AKIATRAILLAKEBENCH01\naws_secret_access_key = bench-secret\n")
        .expect("credentials");
    let options = traillake::awsapi::AwsApiOptions {
        addr: "127.0.0.1:0".parse().expect("addr"),
        keys: traillake::awsapi::auth::Keys::load(&dir).expect("keys"),
        allow_unauthenticated: false,
        results_ttl: Duration::from_secs(3600),
        query_timeout: Duration::from_secs(300),
    };
    let server = rt.block_on(traillake::awsapi::start(store, options)).expect("start");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/aws_api_mix.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("AWS_URL", server.url())
        .env("AWS_ACCESS_KEY_ID", "AKIATRAILLAKEBENCH01")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("EDS", eds)
        .env("CLIENTS", clients.to_string())
        .env("QUERIES", per_client.to_string())
        .env("MIX", serde_json::to_string(&QUERIES).expect("json"))
        .output()
        .expect("python");
    server.stop();
    let _ = std::fs::remove_file(&dir);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    assert_eq!(r["errors"], 0, "{r}");
    println!(
        "AWS API (boto3), same mix: {clients} client threads x {per_client} queries = {} queries, 0 errors; \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.1} queries/s over {:.1} s",
        r["queries"],
        r["p50"].as_f64().unwrap_or(f64::NAN),
        r["p99"].as_f64().unwrap_or(f64::NAN),
        r["max"].as_f64().unwrap_or(f64::NAN),
        r["qps"].as_f64().unwrap_or(f64::NAN),
        r["wall"].as_f64().unwrap_or(f64::NAN),
    );
}
