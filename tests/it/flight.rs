//! The Flight SQL endpoint, in process on port 0, driven by arrow-flight's `FlightSqlServiceClient`
//! (and by the Python ADBC driver against the real binary): handshake, statements, prepared
//! statements, metadata, cancellation, limits and refusals.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Schema};
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables, CommandGetXdbcTypeInfo, SqlInfo,
};
use arrow_flight::{CancelFlightInfoRequest, CancelStatus, FlightClient, FlightInfo};
use futures::TryStreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use traillake::flight::{self, AuthConfig, Limits, RunningServer, ServeError, ServeOptions, TlsFiles};

use crate::common::*;

const USER: &str = "auditor";
const PASSWORD: &str = "correct horse";

fn options(auth: AuthConfig, limits: Limits) -> ServeOptions {
    ServeOptions {
        addr: "127.0.0.1:0".parse().expect("addr"),
        auth,
        tls: None,
        limits,
        compat: Default::default(),
        allow_unauthenticated: false,
    }
}

fn password() -> AuthConfig {
    AuthConfig::Password { user: USER.into(), password: PASSWORD.into() }
}

async fn channel(server: &RunningServer) -> Channel {
    Endpoint::from_shared(format!("http://{}", server.addr())).expect("endpoint").connect().await.expect("connect")
}

async fn client(server: &RunningServer) -> FlightSqlServiceClient<Channel> {
    let mut c = FlightSqlServiceClient::new(channel(server).await);
    c.handshake(USER, PASSWORD).await.expect("handshake");
    c
}

async fn fetch(c: &mut FlightSqlServiceClient<Channel>, info: &FlightInfo) -> Result<Vec<RecordBatch>, FlightError> {
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    c.do_get(ticket).await?.try_collect().await
}

async fn sql(c: &mut FlightSqlServiceClient<Channel>, q: &str) -> (Schema, Vec<RecordBatch>) {
    let info = c.execute(q.to_string(), None).await.unwrap_or_else(|e| panic!("{q}: {e}"));
    let advertised = info.clone().try_decode_schema().expect("schema");
    let batches = fetch(c, &info).await.unwrap_or_else(|e| panic!("{q}: {e}"));
    (advertised, batches)
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

fn strings(batches: &[RecordBatch], col: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(col), &DataType::Utf8).expect("cast");
        let a = c.as_any().downcast_ref::<StringArray>().expect("strings");
        out.extend((0..a.len()).map(|i| a.value(i).to_string()));
    }
    out
}

fn first_i64(batches: &[RecordBatch]) -> i64 {
    let c = arrow::compute::cast(batches[0].column(0), &DataType::Int64).expect("cast");
    c.as_any().downcast_ref::<arrow::array::Int64Array>().expect("i64").value(0)
}

fn has_view_type(t: &DataType) -> bool {
    format!("{t:?}").contains("View")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_statements_prepared_statements_and_metadata() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = demo_store(tmp.path()).await;
    let id = store.resolve("demo").await.expect("demo").id.to_string();
    let server = flight::start(store_in(tmp.path()), options(password(), Limits::default())).await.expect("start");

    // Authentication: wrong password and missing token are refused; a handshake gives a token.
    let mut anon = FlightSqlServiceClient::new(channel(&server).await);
    let wrong = anon.handshake(USER, "nope").await.expect_err("wrong password");
    assert!(wrong.to_string().contains("wrong user name or password"), "{wrong}");
    let no_token = anon.execute("SELECT 1".into(), None).await.expect_err("no token");
    assert!(no_token.to_string().contains("authentication required"), "{no_token}");
    anon.set_token("forged.token".into());
    assert!(anon.execute("SELECT 1".into(), None).await.is_err(), "a forged token is refused");
    let mut c = client(&server).await;

    // A statement: schema advertised == schema streamed, figures equal the engine's own.
    let expected = count(&store_in(tmp.path()), "SELECT count(*) FROM demo WHERE eventName = 'ConsoleLogin'").await;
    let (advertised, batches) =
        sql(&mut c, &format!("SELECT eventName, count(*) AS n FROM {id} GROUP BY eventName ORDER BY n DESC")).await;
    assert_eq!(batches[0].schema().as_ref(), &advertised, "DoGet schema drifted from FlightInfo");
    let names = strings(&batches, 0);
    let counts = strings(&batches, 1);
    let at = names.iter().position(|n| n == "ConsoleLogin").expect("ConsoleLogin row");
    assert_eq!(counts[at], expected.to_string());

    // Nested columns arrive intact and without view types; statistics come in the trailers.
    let info = c
        .execute(
            "SELECT eventTime, userIdentity, requestParameters, resources, tlsDetails FROM demo LIMIT 50".into(),
            None,
        )
        .await
        .expect("plan");
    let advertised = info.clone().try_decode_schema().expect("schema");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let mut stream: FlightRecordBatchStream = c.do_get(ticket).await.expect("do_get");
    assert!(stream.headers().get(flight::QUERY_ID_HEADER).is_some(), "query id header");
    let mut got = Vec::new();
    while let Some(b) = stream.try_next().await.expect("batch") {
        got.push(b);
    }
    assert_eq!(rows(&got), 50);
    for f in advertised.fields() {
        assert!(!has_view_type(f.data_type()), "{f:?}");
    }
    assert!(matches!(advertised.field(1).data_type(), DataType::Struct(_)));
    assert!(matches!(advertised.field(2).data_type(), DataType::Map(_, _)));
    assert!(matches!(advertised.field(3).data_type(), DataType::List(_)));
    assert_eq!(got[0].schema().as_ref(), &advertised);
    let trailers = stream.trailers().expect("trailers");
    let stats = trailers.get(flight::QUERY_STATS_TRAILER).expect("stats trailer").to_str().expect("ascii");
    let stats: serde_json::Value = serde_json::from_str(stats).expect("json");
    assert_eq!(stats["rows_returned"], 50, "{stats}");

    // Lake SQL functions and information_schema work through the endpoint.
    let (_, b) = sql(&mut c, "SELECT element_at(requestParameters, 'bucketName') AS bucket FROM demo WHERE eventSource = 's3.amazonaws.com' AND element_at(requestParameters, 'bucketName') IS NOT NULL LIMIT 1").await;
    assert_eq!(rows(&b), 1);
    let (_, b) = sql(
        &mut c,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'default' ORDER BY table_name",
    )
    .await;
    assert_eq!(strings(&b, 0), vec!["demo", "demo-config", "demo-insights", "demo-okta"], "each store once, by name");
    let (_, b) = sql(&mut c, &format!("SELECT count(*) FROM {id}")).await;
    assert!(first_i64(&b) > 0, "the id still names the store in queries");

    // Prepared statement with a parameter; re-binding and re-executing work.
    let mut prepared =
        c.prepare("SELECT count(*) AS n FROM demo WHERE eventName = ?".into(), None).await.expect("prepare");
    assert_eq!(prepared.parameter_schema().expect("params").fields().len(), 1);
    assert_eq!(prepared.dataset_schema().expect("dataset").field(0).name(), "n");
    for name in ["ConsoleLogin", "GetObject", "ConsoleLogin"] {
        let want = count(&store_in(tmp.path()), &format!("SELECT count(*) FROM demo WHERE eventName = '{name}'")).await;
        let batch = RecordBatch::try_from_iter(vec![("$1", Arc::new(StringArray::from(vec![name])) as Arc<dyn Array>)])
            .expect("params");
        prepared.set_parameters(batch).expect("bind");
        let info = prepared.execute().await.expect("execute");
        let b = fetch(&mut c, &info).await.expect("fetch");
        assert_eq!(first_i64(&b), want, "{name}");
        // The same FlightInfo can be fetched again (tickets are self-contained).
        assert_eq!(first_i64(&fetch(&mut c, &info).await.expect("refetch")), want);
    }
    prepared.close().await.expect("close");
    let unbound = c.prepare("SELECT * FROM demo WHERE eventName = ?".into(), None).await.expect("prepare");
    let mut unbound = unbound;
    let e = unbound.execute().await.expect_err("no parameters bound");
    assert!(e.to_string().contains("parameter"), "{e}");

    // Metadata.
    let info = c.get_catalogs().await.expect("catalogs");
    assert_eq!(strings(&fetch(&mut c, &info).await.expect("catalogs"), 0), vec!["traillake"]);
    let info =
        c.get_db_schemas(CommandGetDbSchemas { catalog: None, db_schema_filter_pattern: None }).await.expect("schemas");
    let schemas = strings(&fetch(&mut c, &info).await.expect("schemas"), 1);
    assert!(schemas.contains(&"default".into()) && schemas.contains(&"information_schema".into()), "{schemas:?}");
    let info = c
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: None,
            table_name_filter_pattern: None,
            table_types: vec![],
            include_schema: true,
        })
        .await
        .expect("tables");
    let tables = fetch(&mut c, &info).await.expect("tables");
    let names = strings(&tables, 2);
    let types = strings(&tables, 3);
    let demo_at = names.iter().position(|n| n == "demo").expect("demo listed");
    assert_eq!(types[demo_at], "BASE TABLE");
    assert!(!names.contains(&id), "listed once, by name, not by id too: {names:?}");
    assert_eq!(names.iter().filter(|n| *n == "demo").count(), 1, "{names:?}");
    assert!(names.contains(&"tables".to_string()), "information_schema views listed: {names:?}");
    let schema_bytes = tables[0].column(4).as_any().downcast_ref::<arrow::array::BinaryArray>().expect("binary");
    let demo_schema =
        Schema::try_from(arrow_flight::IpcMessage(schema_bytes.value(demo_at).to_vec().into())).expect("ipc schema");
    assert!(demo_schema.field_with_name("useridentity").is_ok(), "{demo_schema:?}");
    let info = c
        .get_tables(CommandGetTables {
            catalog: Some("traillake".into()),
            db_schema_filter_pattern: Some("def%".into()),
            table_name_filter_pattern: Some("dem_".into()),
            table_types: vec!["BASE TABLE".into()],
            include_schema: false,
        })
        .await
        .expect("filtered tables");
    assert_eq!(strings(&fetch(&mut c, &info).await.expect("tables"), 2), vec!["demo"]);
    let info = c.get_table_types().await.expect("table types");
    assert_eq!(strings(&fetch(&mut c, &info).await.expect("types"), 0), vec!["BASE TABLE", "VIEW"]);
    let info =
        c.get_sql_info(vec![SqlInfo::FlightSqlServerName, SqlInfo::FlightSqlServerReadOnly]).await.expect("sql info");
    let info_rows = fetch(&mut c, &info).await.expect("sql info");
    assert_eq!(rows(&info_rows), 2);
    let all = c.get_sql_info(vec![]).await.expect("all sql info");
    assert!(rows(&fetch(&mut c, &all).await.expect("all")) > 40, "a full GetSqlInfo");
    let info = c.get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None }).await.expect("xdbc");
    assert!(rows(&fetch(&mut c, &info).await.expect("xdbc")) >= 10);
    let info = c
        .get_primary_keys(CommandGetPrimaryKeys { catalog: None, db_schema: None, table: "demo".into() })
        .await
        .expect("pk");
    let pk = fetch(&mut c, &info).await.expect("pk");
    assert_eq!(rows(&pk), 0);
    assert_eq!(info.try_decode_schema().expect("schema").field(5).name(), "key_sequence");
    let info = c
        .get_exported_keys(arrow_flight::sql::CommandGetExportedKeys {
            catalog: None,
            db_schema: None,
            table: "demo".into(),
        })
        .await
        .expect("exported");
    assert_eq!(rows(&fetch(&mut c, &info).await.expect("exported")), 0);

    // Refusals: writes, DDL, bad SQL, unknown tables — each with a message.
    let e = c.execute("DROP TABLE demo".into(), None).await.expect_err("DDL");
    assert!(e.to_string().contains("permission") && e.to_string().contains("only SELECT"), "{e}");
    let e = c.execute_update("DELETE FROM demo".into(), None).await.expect_err("update");
    assert!(e.to_string().contains("read-only"), "{e}");
    let e = c.execute("SELEC 1".into(), None).await.expect_err("syntax");
    assert!(e.to_string().contains("SQL error"), "{e}");
    let e = c.execute("SELECT * FROM nosuchstore".into(), None).await.expect_err("unknown table");
    assert!(e.to_string().contains("nosuchstore"), "{e}");

    // Cancellation before DoGet: the statement refuses to start.
    let info = c.execute("SELECT count(*) FROM demo".into(), None).await.expect("plan");
    let mut raw = FlightClient::new(channel(&server).await);
    raw.add_header("authorization", &format!("Bearer {}", c.token().expect("token"))).expect("header");
    let r = raw.cancel_flight_info(CancelFlightInfoRequest::new(info.clone())).await.expect("cancel");
    assert_eq!(r.status(), CancelStatus::Cancelled);
    let e = fetch(&mut c, &info).await.expect_err("cancelled");
    assert!(e.to_string().contains("cancelled"), "{e}");

    // Cancellation while running: the stream ends promptly with Cancelled.
    let info = c.execute("SELECT count(*) FROM generate_series(1, 20000000000)".into(), None).await.expect("plan");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let stream = c.do_get(ticket).await.expect("do_get");
    let running = tokio::spawn(async move { stream.try_collect::<Vec<_>>().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let r = raw.cancel_flight_info(CancelFlightInfoRequest::new(info)).await.expect("cancel");
    assert_eq!(r.status(), CancelStatus::Cancelled);
    let ended = tokio::time::timeout(Duration::from_secs(20), running).await.expect("ends").expect("join");
    let e = ended.expect_err("cancelled query");
    assert!(e.to_string().contains("cancelled"), "{e}");
    eprintln!("running query cancelled in {:?}", started.elapsed());

    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_limits_timeout_memory_and_concurrency() {
    let tmp = tempfile::tempdir().expect("tmp");
    let _store = demo_store(tmp.path()).await;
    let limits = Limits {
        query_timeout: Duration::from_secs(2),
        query_memory_bytes: 4 << 20,
        max_concurrent_queries: 1,
        ..Limits::default()
    };
    let server =
        flight::start(store_in(tmp.path()), options(AuthConfig::Token("t0ken".into()), limits)).await.expect("start");
    let mut c = FlightSqlServiceClient::new(channel(&server).await);
    c.set_token("t0ken".into());

    // One long query holds the only slot; a second is refused at once with a clear message.
    let slow = c.execute("SELECT count(*) FROM generate_series(1, 20000000000)".into(), None).await.expect("plan");
    let ticket = slow.endpoint[0].ticket.clone().expect("ticket");
    let stream = c.do_get(ticket).await.expect("do_get");
    let running = tokio::spawn(async move { stream.try_collect::<Vec<_>>().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let quick = c.execute("SELECT 1".into(), None).await.expect("planning takes no slot");
    let e = fetch(&mut c, &quick).await.expect_err("busy");
    assert!(e.to_string().contains("server busy") && e.to_string().contains("--max-concurrent-queries"), "{e}");

    // The long query hits the timeout.
    let e = running.await.expect("join").expect_err("timeout");
    assert!(e.to_string().contains("--query-timeout"), "{e}");

    // The slot is free again; a query over its memory limit fails alone, naming the limit.
    assert_eq!(rows(&fetch(&mut c, &quick).await.expect("after the slot frees")), 1);
    let big = c.execute("SELECT array_agg(value) FROM generate_series(1, 5000000)".into(), None).await.expect("plan");
    let e = fetch(&mut c, &big).await.expect_err("memory");
    assert!(e.to_string().contains("ResourceExhausted") || e.to_string().contains("--query-memory"), "{e}");
    assert_eq!(rows(&fetch(&mut c, &quick).await.expect("server still fine")), 1);

    // A token client needs no handshake; a wrong token is refused.
    let mut bad = FlightSqlServiceClient::new(channel(&server).await);
    bad.set_token("wrong".into());
    assert!(bad.execute("SELECT 1".into(), None).await.is_err());
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_32_clients_20_queries_each() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = demo_store(tmp.path()).await;
    let total = count(&store, "SELECT count(*) FROM demo").await;
    let server =
        Arc::new(flight::start(store_in(tmp.path()), options(password(), Limits::default())).await.expect("start"));
    let queries = [
        "SELECT count(*) FROM demo",
        "SELECT eventName, count(*) FROM demo GROUP BY eventName ORDER BY 2 DESC LIMIT 10",
        "SELECT userIdentity.arn, count(*) FROM demo WHERE errorCode IS NOT NULL GROUP BY 1",
        "SELECT eventTime, eventName, sourceIPAddress FROM demo ORDER BY eventTime DESC LIMIT 100",
    ];
    let mut tasks = Vec::new();
    for client_no in 0..32 {
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move {
            let mut c = client(&server).await;
            let mut latencies = Vec::new();
            for i in 0..20 {
                let q = queries[(client_no + i) % queries.len()];
                let started = Instant::now();
                let info = c.execute(q.to_string(), None).await.map_err(|e| format!("{q}: {e}"))?;
                let b = fetch(&mut c, &info).await.map_err(|e| format!("{q}: {e}"))?;
                latencies.push(started.elapsed());
                if q == queries[0] && first_i64(&b) != total {
                    return Err(format!("count {} != {total}", first_i64(&b)));
                }
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("join").expect("no errors"));
    }
    all.sort();
    assert_eq!(all.len(), 640);
    let p = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    eprintln!("32 clients x 20 queries: p50 {:?}, p99 {:?}, max {:?}", p(0.50), p(0.99), all[all.len() - 1]);
    if let Ok(s) = Arc::try_unwrap(server) {
        s.stop().await.expect("stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_tls_and_exposure_refusal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let _store = demo_store(tmp.path()).await;

    // No authentication on a non-loopback address is refused unless asked for.
    let mut open = options(AuthConfig::None, Limits::default());
    open.addr = "0.0.0.0:0".parse().expect("addr");
    match flight::start(store_in(tmp.path()), open.clone()).await {
        Err(ServeError::Unauthenticated(_)) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("served 0.0.0.0 without authentication"),
    }
    open.allow_unauthenticated = true;
    flight::start(store_in(tmp.path()), open).await.expect("explicitly allowed").stop().await.expect("stop");

    // TLS with a self-signed certificate for localhost.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_pem = cert.cert.pem();
    write(&tmp.path().join("tls/cert.pem"), &cert_pem);
    write(&tmp.path().join("tls/key.pem"), cert.signing_key.serialize_pem());
    let mut opts = options(password(), Limits::default());
    opts.tls = Some(TlsFiles { cert: tmp.path().join("tls/cert.pem"), key: tmp.path().join("tls/key.pem") });
    let server = flight::start(store_in(tmp.path()), opts).await.expect("start tls");
    assert!(server.url().starts_with("grpc+tls://"));
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&cert_pem)).domain_name("localhost");
    let ch = Endpoint::from_shared(format!("https://localhost:{}", server.addr().port()))
        .expect("endpoint")
        .tls_config(tls)
        .expect("tls")
        .connect()
        .await
        .expect("connect over TLS");
    let mut c = FlightSqlServiceClient::new(ch);
    c.handshake(USER, PASSWORD).await.expect("handshake over TLS");
    let (_, b) = sql(&mut c, "SELECT count(*) FROM demo").await;
    assert!(first_i64(&b) >= 3000);
    server.stop().await.expect("stop");
}

/// `--compat grafana`: what Grafana's Flight SQL data source cannot read (Int32 `date_part`,
/// UInt64 `approx_distinct`, Date32 days, nested columns) arrives as int64, nanosecond
/// timestamps and JSON text, advertised and streamed alike, with the same values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_compat_sends_only_types_grafana_reads() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = demo_store(tmp.path()).await;
    let expected = count(&store, "SELECT approx_distinct(sourceIPAddress) FROM demo").await;
    let mut opts = options(password(), Limits::default());
    opts.compat = flight::Compat::Grafana;
    let server = flight::start(store_in(tmp.path()), opts).await.expect("start");
    let mut c = client(&server).await;
    let q = "SELECT date_part('hour', eventTime) AS hour, approx_distinct(sourceIPAddress) AS ips, \
             CAST(min(eventTime) AS DATE) AS day, min(eventTime) AS first, first_value(userIdentity) AS who, \
             count(*) AS n, avg(CAST(1 AS REAL)) AS one \
             FROM demo GROUP BY 1 ORDER BY 1";
    let (advertised, batches) = sql(&mut c, q).await;
    assert_eq!(batches[0].schema().as_ref(), &advertised, "DoGet schema drifted from FlightInfo");
    let types: Vec<&DataType> = advertised.fields().iter().map(|f| f.data_type()).collect();
    use arrow::datatypes::TimeUnit::Nanosecond;
    assert!(matches!(types[0], DataType::Int64), "{types:?}");
    assert!(matches!(types[1], DataType::Int64), "{types:?}");
    assert!(matches!(types[2], DataType::Timestamp(Nanosecond, _)), "{types:?}");
    assert!(matches!(types[3], DataType::Timestamp(Nanosecond, _)), "{types:?}");
    assert_eq!(types[4], &DataType::Utf8, "nested as JSON text");
    assert_eq!(types[5], &DataType::Int64);
    assert_eq!(types[6], &DataType::Float64);
    let who = strings(&batches, 4);
    assert!(who.iter().all(|w| w.starts_with('{') && w.contains("\"type\":")), "{who:?}");
    let hours: Vec<i64> = strings(&batches, 0).iter().map(|v| v.parse().expect("int")).collect();
    assert!(!hours.is_empty() && hours.iter().all(|h| (0..24).contains(h)), "{hours:?}");
    // Per-hour distinct counts are at most the whole trail's.
    let ips: Vec<i64> = strings(&batches, 1).iter().map(|v| v.parse().expect("int")).collect();
    assert!(ips.iter().all(|n| *n >= 1 && *n <= expected), "{ips:?} vs {expected}");
    // Without the flag the same query keeps its types (ADBC and JDBC read them all).
    let plain = flight::start(store_in(tmp.path()), options(password(), Limits::default())).await.expect("start");
    let mut c = client(&plain).await;
    let (advertised, _) = sql(&mut c, q).await;
    assert!(matches!(advertised.field(4).data_type(), DataType::Struct(_)), "{advertised:?}");
    assert!(matches!(advertised.field(2).data_type(), DataType::Date32), "{advertised:?}");
    server.stop().await.expect("stop");
    plain.stop().await.expect("stop");
}

/// The Python clients BI users install, against the real binary: the ADBC driver (notebooks)
/// and flightsql-dbapi's SQLAlchemy dialect (Superset). ADBC 1.13 sends Basic credentials as
/// base64 without `=` padding, so the login is tried with a `user:password` of each length
/// mod 3 (the padding differs in each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_python_clients_end_to_end() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import adbc_driver_flightsql, pyarrow, flightsql, sqlalchemy, pandas"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        skip_or_fail(
            "python3 with adbc-driver-flightsql, pyarrow, flightsql-dbapi and pandas is needed \
             (pip install adbc-driver-flightsql pyarrow flightsql-dbapi pandas; .ci/run installs them)",
        );
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let store = demo_store(tmp.path()).await;
    let expected = count(&store, "SELECT count(*) FROM demo WHERE eventName = 'ConsoleLogin'").await;
    let logins = [(USER, PASSWORD), ("analyst", "s3cr3t"), ("ir-bot", "p@ss w0rd")];
    let remainders: std::collections::BTreeSet<usize> =
        logins.iter().map(|(u, p)| (u.len() + 1 + p.len()) % 3).collect();
    assert_eq!(remainders.len(), 3, "credentials of every length mod 3");
    for (n, (user, password)) in logins.into_iter().enumerate() {
        // The first stderr line names the bound address.
        let (mut child, url, rx) = spawn_server(
            bin().arg("--store").arg(tmp.path().join("store")).args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--user",
                user,
                "--password",
                password,
            ]),
            "grpc://",
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flight_adbc.py");
        let mut python = std::process::Command::new("python3");
        python
            .arg(&script)
            .env("TRAILLAKE_URL", &url)
            .env("TRAILLAKE_USER", user)
            .env("TRAILLAKE_PASSWORD", password)
            .env("EXPECTED_CONSOLE_LOGINS", expected.to_string());
        if n > 0 {
            python.env("TRAILLAKE_LOGIN_ONLY", "1");
        }
        let out = python.output().expect("python");
        let _ = child.kill();
        let _ = child.wait();
        let log: Vec<String> = rx.try_iter().collect();
        assert!(
            out.status.success(),
            "Python clients failed for {user:?}:\n{}\n{}\nserver log:\n{}",
            stdout(&out),
            stderr(&out),
            log.join("\n")
        );
        assert!(stdout(&out).contains("ADBC OK"), "{}", stdout(&out));
        assert!(log.iter().any(|l| l.contains("query finished")), "queries are logged: {log:?}");
    }
}
