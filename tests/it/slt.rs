//! The SQL dialect's golden tests: every `tests/slt/*.slt` file runs against a small fixture
//! (`tests/fixtures/slt/`: 10 events in EDS "fixture", 2 in EDS "other"), whose answers can be
//! checked by reading the fixture, and a generated trail (EDS "generated": the demo generator's
//! deterministic organization trail, `GENERATED_EVENTS` events over a week ending 2026-11-15),
//! which the published Lake queries in `published.slt` run against.
//! `TRAILLAKE_SLT_COMPLETE=1 cargo test slt` rewrites the expected results in place for review.
//! In SQL, `FIXTURE_ID` and `GENERATED_ID` stand for the stores' ids.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::ArrayFormatter;
use futures::TryStreamExt;
use sqllogictest::{DBOutput, DefaultColumnType, Runner};
use traillake::engine::Engine;
use traillake::output::{format_options, nested_as_json};

use crate::common::{ingest_paths, store_in};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SltError(String);

struct LakeDb {
    engine: Arc<Engine>,
    ids: Ids,
}

/// The stores' ids the SQL names by placeholder.
#[derive(Clone)]
struct Ids {
    fixture: String,
    generated: String,
    /// The generated trail's AWS Config history and Okta sign-ins, in stores of those kinds.
    config: String,
    audit: String,
}

/// Events in the generated trail: enough for every published query to find rows.
const GENERATED_EVENTS: u64 = 3000;

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for LakeDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let sql = sql
            .replace("FIXTURE_ID", &self.ids.fixture)
            .replace("GENERATED_ID", &self.ids.generated)
            .replace("CONFIG_ID", &self.ids.config)
            .replace("AUDIT_ID", &self.ids.audit);
        let query = self.engine.plan(&sql).await.map_err(|e| SltError(e.to_string()))?;
        let batches: Vec<RecordBatch> = query
            .execute()
            .await
            .map_err(|e| SltError(e.to_string()))?
            .try_collect()
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let schema = query_schema(&batches);
        let types = schema.iter().map(column_type).collect();
        let mut rows = Vec::new();
        for b in &batches {
            rows.extend(render(b).map_err(|e| SltError(e.to_string()))?);
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "traillake"
    }
}

fn query_schema(batches: &[RecordBatch]) -> Vec<DataType> {
    batches.first().map(|b| b.schema().fields().iter().map(|f| f.data_type().clone()).collect()).unwrap_or_default()
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// Values as the expected files write them: NULL, (empty), Lake timestamps, nested as JSON.
fn render(batch: &RecordBatch) -> Result<Vec<Vec<String>>, arrow::error::ArrowError> {
    let shown = nested_as_json(batch)?;
    let opts = format_options();
    let fmts: Vec<ArrayFormatter> =
        shown.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts)).collect::<Result<_, _>>()?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let row = shown
            .columns()
            .iter()
            .zip(&fmts)
            .map(|(c, f)| {
                if c.is_null(r) {
                    "NULL".to_string()
                } else {
                    let v = f.value(r).to_string();
                    if v.is_empty() {
                        "(empty)".to_string()
                    } else {
                        v
                    }
                }
            })
            .collect();
        rows.push(row);
    }
    Ok(rows)
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests() {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = store_in(tmp.path());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slt");
    // The longest retention: the fixtures' fixed dates must stay within it for years.
    let lasting = traillake::store::EdsSettings {
        retention_period: Some(traillake::store::catalog::MAX_RETENTION_DAYS),
        ..Default::default()
    };
    let fixture = store.create_eds_with("fixture", &lasting).await.expect("create");
    store.create_eds_with("other", &lasting).await.expect("create");
    let r = ingest_paths(&store, Some("fixture"), &[&fixtures.join("trail.json")]).await;
    assert_eq!(r.events_added, 10);
    let r = ingest_paths(&store, Some("other"), &[&fixtures.join("other.json")]).await;
    assert_eq!(r.events_added, 2);
    let generated = store.create_eds_with("generated", &lasting).await.expect("create");
    let trail = tmp.path().join("generated-trail");
    let opts = traillake::demo::GenerateOptions { events: GENERATED_EVENTS, days: 7, ..Default::default() };
    traillake::demo::generate(&trail, &opts).expect("generate");
    let r = ingest_paths(&store, Some("generated"), &[&trail]).await;
    assert_eq!(r.events_added, GENERATED_EVENTS);
    // The same trail's other kinds (generated apart, so the CloudTrail files stay as above).
    let kinds_trail = tmp.path().join("generated-kinds");
    let opts = traillake::demo::GenerateOptions { config: true, audit: true, ..opts };
    let written = traillake::demo::generate(&kinds_trail, &opts).expect("generate");
    let of_kind = |kind| traillake::store::EdsSettings { kind: Some(kind), ..lasting.clone() };
    let config = store.create_eds_with("config", &of_kind(traillake::schema::Kind::Config)).await.expect("create");
    let audit = store.create_eds_with("okta", &of_kind(traillake::schema::Kind::Audit)).await.expect("create");
    let r = ingest_paths(&store, Some("config"), &[&kinds_trail]).await;
    assert_eq!(r.events_added, written.kinds.config_items, "{}", r.summary());
    let okta = traillake::demo::kinds::okta_dir(&kinds_trail);
    let opts = traillake::ingest::IngestOptions { progress: false, channel: Some("okta".into()), ..Default::default() };
    let r = traillake::ingest::ingest(&store, Some("okta"), &[okta.display().to_string()], opts).await.expect("ingest");
    assert_eq!(r.events_added, written.kinds.audit_events, "{}", r.summary());
    let engine = Arc::new(Engine::open(&store).await.expect("engine"));
    let ids = Ids {
        fixture: fixture.id.to_string(),
        generated: generated.id.to_string(),
        config: config.id.to_string(),
        audit: audit.id.to_string(),
    };

    let complete = std::env::var_os("TRAILLAKE_SLT_COMPLETE").is_some();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in slt_files() {
        let (e, ids) = (Arc::clone(&engine), ids.clone());
        let mut runner = Runner::new(move || {
            let (engine, ids) = (Arc::clone(&e), ids.clone());
            async move { Ok::<_, SltError>(LakeDb { engine, ids }) }
        });
        if complete {
            runner
                .update_test_file(
                    &file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            continue;
        }
        let records = sqllogictest::parse_file::<DefaultColumnType>(&file).expect("parse slt");
        for record in records {
            let counted = matches!(record, sqllogictest::Record::Query { .. } | sqllogictest::Record::Statement { .. });
            match runner.run_async(record).await {
                Ok(_) if counted => passed += 1,
                Ok(_) => {}
                Err(e) => {
                    failed += 1;
                    eprintln!("{}\n", e.display(true));
                }
            }
        }
    }
    // Written to the stderr handle itself so the closing line shows even though libtest
    // captures the output of passing tests.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "sqllogictest: {passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{failed} sqllogictest records failed (see above)");
    assert!(complete || passed > 0, "no sqllogictest records ran");
}
