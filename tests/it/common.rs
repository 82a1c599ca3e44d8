//! Shared helpers: temporary stores, the real-data folder, running the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use futures::TryStreamExt;
use traillake::engine::Engine;
use traillake::ingest::{self, IngestOptions, IngestReport};
use traillake::store::Store;

pub(crate) fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_traillake"));
    c.env_remove("TRAILLAKE_STORE");
    c
}

pub(crate) fn run(args: &[&str], store: &Path) -> Output {
    bin().arg("--store").arg(store).args(args).output().expect("run traillake")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A test whose tool (a Python package `.ci/run` installs) is missing: skipped with a message
/// on a developer's machine, failed under CI (`CI=true`), where a skip would hide that the
/// test never ran.
pub(crate) fn skip_or_fail(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("CI=true and a tool the tests need is missing: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// `../shared/data` from the repository root, if present.
pub(crate) fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/data is absent; real-capture tests need it next to the repository");
        None
    }
}

pub(crate) fn store_in(dir: &Path) -> Store {
    Store::open(dir.join("store").to_str().expect("utf8 path")).expect("open store")
}

pub(crate) async fn ingest_paths(store: &Store, eds: Option<&str>, paths: &[&Path]) -> IngestReport {
    let srcs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let opts = IngestOptions { progress: false, ..Default::default() };
    ingest::ingest(store, eds, &srcs, opts).await.expect("ingest")
}

/// Runs SQL and returns the rows as JSON values.
pub(crate) async fn query_json(store: &Store, sql: &str) -> Vec<serde_json::Value> {
    let engine = Engine::open(store).await.expect("engine");
    let batches: Vec<_> = engine
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .execute_stream()
        .await
        .expect("execute")
        .try_collect()
        .await
        .expect("collect");
    let mut buf = Vec::new();
    traillake::output::write_batches(&mut buf, traillake::output::Format::Json, &batches).expect("json");
    serde_json::from_slice::<Vec<serde_json::Value>>(&buf).expect("parse json")
}

pub(crate) async fn count(store: &Store, sql: &str) -> i64 {
    let rows = query_json(store, sql).await;
    let v = rows.first().and_then(|r| r.as_object()).and_then(|o| o.values().next().cloned());
    v.and_then(|v| v.as_i64()).unwrap_or_else(|| panic!("{sql}: no count in {rows:?}"))
}

/// Writes a file, creating parent folders.
pub(crate) fn write(path: &Path, body: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, body).expect("write");
}

pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).expect("gzip");
    e.finish().expect("gzip")
}

/// A minimal valid CloudTrail event.
pub(crate) fn event(id: &str, time: &str, name: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"}},"eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","userAgent":"aws-cli/2","requestParameters":{{"instancesSet":{{"items":[{{"instanceId":"i-1"}}]}}}},"responseElements":null,"eventID":"{id}","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}}"#
    )
}

/// The demo trail (3,000 events over 7 days) ingested into EDS "demo" of a store in `dir`.
pub(crate) async fn demo_store(dir: &Path) -> Store {
    let trail = dir.join("trail");
    let days = traillake::demo::generate::INSIGHTS_DAYS + 1;
    let opts = traillake::demo::GenerateOptions { events: 3000, days, config: true, audit: true, ..Default::default() };
    traillake::demo::generate(&trail, &opts).expect("generate");
    let store = store_in(dir);
    // The demo's stores, as the demo fills them (CloudTrail, Insights, Config, Okta).
    let loaded = traillake::demo::tour::load(&store, &trail, Default::default(), false).await.expect("load");
    assert!(loaded.reports[0].events_added >= 3000, "{}", loaded.reports[0].summary());
    assert!(loaded.reports[1].events_added > 0 && loaded.reports[2].events_added > 0);
    store
}

/// Every file under `root`, at any depth.
pub(crate) fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Every Parquet data file under `root`.
pub(crate) fn data_files(root: &Path) -> Vec<PathBuf> {
    files_under(root).into_iter().filter(|p| p.extension().is_some_and(|x| x == "parquet")).collect()
}

/// One column of a Parquet file, batch by batch, read without the engine.
pub(crate) fn parquet_column(path: &Path, name: &str) -> Vec<datafusion::arrow::array::ArrayRef> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::arrow::ProjectionMask;
    let file = std::fs::File::open(path).expect("open parquet");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let mask = ProjectionMask::columns(builder.parquet_schema(), [name]);
    builder.with_projection(mask).build().expect("reader").map(|b| b.expect("batch").column(0).clone()).collect()
}

/// A server started as `cmd` with its stderr read on a thread: the child, the URL starting with
/// `scheme` (`grpc://`, `http://`) from the line announcing it, and the rest of its log lines.
pub(crate) fn spawn_server(
    cmd: &mut Command,
    scheme: &str,
) -> (std::process::Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().expect("start the server");
    let child_err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(child_err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let url = loop {
        let line = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("server start line");
        if let Some(at) = line.find(scheme) {
            break line[at..].split_whitespace().next().expect("url").to_string();
        }
    };
    (child, url, rx)
}

/// Whether `python3` can import `module`; else the test is skipped (failed under CI).
pub(crate) fn python_with(module: &str) -> bool {
    let ok = std::process::Command::new("python3").args(["-c", &format!("import {module}")]).status();
    if ok.is_ok_and(|s| s.success()) {
        return true;
    }
    skip_or_fail(&format!("python3 with `{module}` is needed (pip install {module}; .ci/run installs it)"));
    false
}
