//! Query benchmark (issue: CloudTrail Lake SQL).
//!
//! On a generated 1M-event, 30-day EDS (cached under target/bench-data), runs ten typical
//! investigations in traillake (in process, best of 3 after a warm-up; planning included) and
//! in DuckDB on the same machine: over the EDS's own Parquet files, and over the raw gzip
//! trail. Prints each time, the ratios, row counts from both engines (they must agree), and
//! the share of the store's bytes a one-day query reads.
//!
//! `cargo bench --bench query` (env BENCH_EVENTS to change the size; BENCH_RAW=0 skips the
//! slow DuckDB-over-raw-JSON runs).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use arrow::array::Array;
use futures::TryStreamExt;

#[path = "support/store.rs"]
mod bench_store;
use traillake::engine::{Engine, QueryStats};
use traillake::store::Store;

/// (name, Lake SQL, DuckDB SQL over the Parquet view `eds`, DuckDB SQL over the raw view `raw`).
/// `{eds}` is the EDS id; `{key}`, `{eventid}` are picked from the data.
const QUERIES: [(&str, &str, &str, &str); 10] = [
    ("count", "SELECT count(*) FROM {eds}", "SELECT count(*) FROM eds", "SELECT count(*) FROM raw"),
    (
        "by eventName",
        "SELECT eventName, count(*) AS n FROM {eds} GROUP BY 1 ORDER BY 2 DESC",
        "SELECT eventname, count(*) AS n FROM eds GROUP BY 1 ORDER BY 2 DESC",
        "SELECT (e->>'eventName'), count(*) AS n FROM raw GROUP BY 1 ORDER BY 2 DESC",
    ),
    (
        "one day by eventName",
        "SELECT eventName, count(*) AS n FROM {eds} WHERE eventTime >= '2026-11-10 00:00:00' AND eventTime < '2026-11-11 00:00:00' GROUP BY 1 ORDER BY 2 DESC",
        "SELECT eventname, count(*) AS n FROM eds WHERE eventtime >= TIMESTAMPTZ '2026-11-10 00:00:00+00' AND eventtime < TIMESTAMPTZ '2026-11-11 00:00:00+00' GROUP BY 1 ORDER BY 2 DESC",
        "SELECT (e->>'eventName'), count(*) AS n FROM raw WHERE (e->>'eventTime') >= '2026-11-10' AND (e->>'eventTime') < '2026-11-11' GROUP BY 1 ORDER BY 2 DESC",
    ),
    (
        "one access key",
        "SELECT eventTime, eventName, sourceIPAddress FROM {eds} WHERE userIdentity.accessKeyId = '{key}' ORDER BY eventTime",
        "SELECT eventtime, eventname, sourceipaddress FROM eds WHERE useridentity.accesskeyid = '{key}' ORDER BY eventtime",
        "SELECT (e->>'eventTime'), (e->>'eventName'), (e->>'sourceIPAddress') FROM raw WHERE (e->'userIdentity'->>'accessKeyId') = '{key}' ORDER BY 1",
    ),
    (
        "one eventID",
        "SELECT * FROM {eds} WHERE eventID = '{eventid}'",
        "SELECT * FROM eds WHERE eventid = '{eventid}'",
        "SELECT e FROM raw WHERE (e->>'eventID') = '{eventid}'",
    ),
    (
        "errors by principal",
        "SELECT userIdentity.arn, errorCode, count(*) AS n FROM {eds} WHERE errorCode IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 20",
        "SELECT useridentity.arn, errorcode, count(*) AS n FROM eds WHERE errorcode IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 20",
        "SELECT (e->'userIdentity'->>'arn') AS arn, (e->>'errorCode') AS c, count(*) AS n FROM raw WHERE (e->>'errorCode') IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 20",
    ),
    (
        "S3 buckets",
        "SELECT element_at(requestParameters, 'bucketName') AS bucket, count(*) AS n FROM {eds} WHERE eventSource = 's3.amazonaws.com' GROUP BY 1 ORDER BY 2 DESC",
        "SELECT requestparameters['bucketName'] AS bucket, count(*) AS n FROM eds WHERE eventsource = 's3.amazonaws.com' GROUP BY 1 ORDER BY 2 DESC",
        "SELECT (e->'requestParameters'->>'bucketName') AS bucket, count(*) AS n FROM raw WHERE (e->>'eventSource') = 's3.amazonaws.com' GROUP BY 1 ORDER BY 2 DESC",
    ),
    (
        "distinct IPs per user",
        "SELECT userIdentity.arn, count(DISTINCT sourceIPAddress) AS ips FROM {eds} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20",
        "SELECT useridentity.arn, count(DISTINCT sourceipaddress) AS ips FROM eds GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20",
        "SELECT (e->'userIdentity'->>'arn') AS arn, count(DISTINCT (e->>'sourceIPAddress')) AS ips FROM raw GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20",
    ),
    (
        "hourly timeline of a week",
        "SELECT date_trunc('hour', eventTime) AS hour, count(*) AS n FROM {eds} WHERE eventTime >= '2026-11-08 00:00:00' AND eventTime < '2026-11-15 00:00:00' GROUP BY 1 ORDER BY 1",
        "SELECT date_trunc('hour', eventtime) AS hour, count(*) AS n FROM eds WHERE eventtime >= TIMESTAMPTZ '2026-11-08 00:00:00+00' AND eventtime < TIMESTAMPTZ '2026-11-15 00:00:00+00' GROUP BY 1 ORDER BY 1",
        "SELECT substr(e->>'eventTime', 1, 13) AS hour, count(*) AS n FROM raw WHERE (e->>'eventTime') >= '2026-11-08' AND (e->>'eventTime') < '2026-11-15' GROUP BY 1 ORDER BY 1",
    ),
    (
        "console logins without MFA",
        "SELECT eventTime, userIdentity.arn, sourceIPAddress FROM {eds} WHERE eventName = 'ConsoleLogin' AND element_at(additionalEventData, 'MFAUsed') = 'No' ORDER BY eventTime",
        "SELECT eventtime, useridentity.arn, sourceipaddress FROM eds WHERE eventname = 'ConsoleLogin' AND additionaleventdata['MFAUsed'] = 'No' ORDER BY eventtime",
        "SELECT (e->>'eventTime'), (e->'userIdentity'->>'arn'), (e->>'sourceIPAddress') FROM raw WHERE (e->>'eventName') = 'ConsoleLogin' AND (e->'additionalEventData'->>'MFAUsed') = 'No' ORDER BY 1",
    ),
];

const ONE_DAY: usize = 2;

// The allocator the traillake binary runs with (see `traillake::allocator`).
#[global_allocator]
static GLOBAL: traillake::allocator::Allocator = traillake::allocator::Allocator;

fn main() {
    traillake::allocator::tune();
    let events: u64 = std::env::var("BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let raw = std::env::var("BENCH_RAW").map(|v| v != "0").unwrap_or(true);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (trail, store_dir) = bench_store::cached(events, &rt);
    let store = Store::open(store_dir.to_str().expect("utf8")).expect("store");
    let engine = rt.block_on(Engine::open(&store)).expect("engine");
    let eds = engine.event_data_stores().first().expect("one EDS").id.to_string();
    let table_dir = store_dir.join("eds").join(&eds);
    let store_bytes = dir_bytes(&table_dir, &|p: &Path| p.extension().is_some_and(|e| e == "parquet"));
    println!(
        "EDS: {events} events over 30 days, {:.1} MB of Parquet ({})",
        store_bytes as f64 / 1e6,
        table_dir.display()
    );

    let pick = |sql: &str| -> String {
        let (rows, _) = rt.block_on(run(&engine, sql)).expect("pick");
        rows.into_iter().next().unwrap_or_default()
    };
    let key = pick(&format!(
        "SELECT userIdentity.accessKeyId FROM {eds} WHERE userIdentity.accessKeyId IS NOT NULL GROUP BY 1 ORDER BY count(*) ASC, 1 LIMIT 1 OFFSET 5"
    ));
    let eventid =
        pick(&format!("SELECT eventID FROM {eds} WHERE eventTime >= '2026-11-01 12:00:00' ORDER BY eventTime LIMIT 1"));
    let fill = |s: &str| s.replace("{eds}", &eds).replace("{key}", &key).replace("{eventid}", &eventid);

    let mut ours = Vec::new();
    for (name, lake, _, _) in QUERIES {
        let sql = fill(lake);
        let _ = rt.block_on(run(&engine, &sql)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut best = Duration::MAX;
        let mut last = (0, QueryStats::default());
        for _ in 0..3 {
            let t = Instant::now();
            let (rows, stats) = rt.block_on(run(&engine, &sql)).expect("query");
            best = best.min(t.elapsed());
            last = (rows.len(), stats);
        }
        ours.push((best, last.0, last.1));
    }

    let duck = duckdb(&table_dir, &trail, raw, &QUERIES.iter().map(|q| (fill(q.2), fill(q.3))).collect::<Vec<_>>());
    println!(
        "\n{:<28} {:>10} {:>14} {:>8} {:>12} {:>9} {:>7}",
        "query", "traillake", "duckdb parquet", "ratio", "duckdb raw", "ratio", "rows"
    );
    let mut slower = 0;
    for (i, (name, ..)) in QUERIES.iter().enumerate() {
        let (t, rows, _) = &ours[i];
        let ms = t.as_secs_f64() * 1e3;
        let (dp, drows, draw) = duck.get(i).cloned().unwrap_or((f64::NAN, 0, f64::NAN));
        if dp < ms {
            slower += 1;
        }
        let agree = if drows == *rows { "" } else { " ROW COUNT MISMATCH" };
        println!(
            "{name:<28} {ms:>8.1}ms {dp:>12.1}ms {:>7.2}x {draw:>10.0}ms {:>8.0}x {rows:>7}{agree}",
            dp / ms,
            draw / ms
        );
    }
    let one_day = &ours[ONE_DAY].2;
    println!(
        "\none-day query: read {:.1} KB of {:.1} MB = 1/{:.0} of the store's bytes; {} events scanned, {} matched",
        one_day.bytes_scanned as f64 / 1e3,
        store_bytes as f64 / 1e6,
        store_bytes as f64 / one_day.bytes_scanned.max(1) as f64,
        one_day.events_scanned,
        one_day.events_matched
    );
    if duck.len() == QUERIES.len() {
        println!("queries where DuckDB on the same Parquet was faster: {slower} of {}", QUERIES.len());
    } else {
        println!("DuckDB comparison unavailable (see above)");
    }
}

async fn run(engine: &Engine, sql: &str) -> Result<(Vec<String>, QueryStats), traillake::engine::EngineError> {
    let mut stream = engine.plan(sql).await?.execute().await?;
    let mut first_col = Vec::new();
    while let Some(b) = stream.try_next().await? {
        let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)
            .map_err(|e| traillake::engine::EngineError::Sql(e.to_string()))?;
        let s = col.as_any().downcast_ref::<arrow::array::StringArray>().cloned();
        if let Some(s) = s {
            first_col.extend((0..s.len()).map(|i| s.value(i).to_string()));
        }
    }
    Ok((first_col, stream.stats()))
}

/// Times each query in DuckDB (best of 3 after a warm-up over Parquet; one run over raw JSON):
/// (parquet ms, parquet rows, raw ms) per query.
fn duckdb(table: &Path, trail: &Path, raw: bool, queries: &[(String, String)]) -> Vec<(f64, usize, f64)> {
    let script = r#"
import duckdb, json, sys, time  # TIMESTAMPTZ results need pytz (pip install pytz)
table, trail, raw, queries = sys.argv[1], sys.argv[2], sys.argv[3] == "1", json.loads(sys.stdin.read())
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE VIEW eds AS SELECT * FROM read_parquet('{table}/**/*.parquet', hive_partitioning = true)")
con.execute(f"CREATE VIEW raw AS SELECT unnest(Records) AS e FROM read_json('{trail}/**/*.json.gz', columns = {{'Records': 'JSON[]'}}, maximum_object_size = 67108864)")
out = []
for pq, rq in queries:
    con.execute(pq).fetchall()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter(); rows = con.execute(pq).fetchall(); best = min(best, time.perf_counter() - t)
    r = None  # JSON has no NaN: a skipped raw run is null
    if raw:
        t = time.perf_counter(); con.execute(rq).fetchall(); r = (time.perf_counter() - t) * 1e3
    out.append([best * 1e3, len(rows), r])
print(json.dumps(out))
"#;
    let input = serde_json::to_string(&queries.iter().map(|(a, b)| [a, b]).collect::<Vec<_>>()).unwrap_or_default();
    let child = Command::new("python3")
        .args(["-c", script, &table.display().to_string(), &trail.display().to_string(), if raw { "1" } else { "0" }])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("DuckDB comparison skipped: python3 not found");
        return Vec::new();
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("duckdb run");
    if !out.status.success() {
        println!("DuckDB comparison failed (pip install duckdb): {}", String::from_utf8_lossy(&out.stderr));
        return Vec::new();
    }
    match serde_json::from_slice::<Vec<(f64, usize, Option<f64>)>>(&out.stdout) {
        Ok(v) => v.into_iter().map(|(p, n, r)| (p, n, r.unwrap_or(f64::NAN))).collect(),
        Err(e) => {
            println!("DuckDB output unreadable ({e}): {}", String::from_utf8_lossy(&out.stdout));
            Vec::new()
        }
    }
}

fn dir_bytes(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            total += dir_bytes(&p, keep);
        } else if keep(&p) {
            total += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}
