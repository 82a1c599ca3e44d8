//! The first query front end: EDS names in FROM, case-insensitive names, time literals.

use crate::common::*;
use traillake::engine::{Engine, EngineError};

/// The five events of `small_store`, one a day from 2026-09-01, as the trail file holds them.
fn small_store_events() -> Vec<String> {
    (0..5)
        .map(|i| {
            event(
                &format!("30000000-0000-4000-8000-{i:012}"),
                &format!("2026-09-0{}T12:00:00Z", i + 1),
                if i % 2 == 0 { "RunInstances" } else { "StopInstances" },
            )
        })
        .collect()
}

async fn small_store(tmp: &std::path::Path) -> (traillake::store::Store, String) {
    let store = store_in(tmp);
    let rec = store.create_eds("prod-trail").await.expect("create");
    let f = tmp.join("t.json");
    write(&f, format!("{{\"Records\":[{}]}}", small_store_events().join(",")));
    ingest_paths(&store, Some("prod-trail"), &[&f]).await;
    (store, rec.id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eds_is_queryable_by_bare_id_quoted_id_name_and_arn() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (store, id) = small_store(tmp.path()).await;
    let arn = format!("arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/{id}");
    for from in [id.clone(), id.to_uppercase(), format!("\"{id}\""), "\"prod-trail\"".to_string(), arn] {
        assert_eq!(count(&store, &format!("SELECT count(*) FROM {from}")).await, 5, "FROM {from}");
    }
    // a table alias and a self-join across two names of the same store
    let sql = format!("SELECT count(*) FROM {id} AS a JOIN \"prod-trail\" b ON a.eventid = b.eventid");
    assert_eq!(count(&store, &sql).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_idioms_of_the_first_issue() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (store, id) = small_store(tmp.path()).await;
    let n = count(&store, &format!("SELECT count(*) FROM {id} WHERE eventTime > '2026-09-03 00:00:00'")).await;
    assert_eq!(n, 3);
    let n = count(
        &store,
        &format!("SELECT count(*) FROM {id} WHERE EVENTNAME = 'RunInstances' AND userIdentity.arn LIKE '%alice'"),
    )
    .await;
    assert_eq!(n, 3);
    let rows =
        query_json(&store, &format!("SELECT eventTime, userIdentity.userName FROM {id} ORDER BY eventTime LIMIT 1"))
            .await;
    assert_eq!(rows[0]["eventtime"], "2026-09-01 12:00:00.000");
    assert_eq!(rows[0]["username"], "alice", "a struct path is named by its last segment: {rows:?}");
    // the day partition column is an implementation detail, not a Lake column
    let cols = query_json(&store, &format!("SELECT * FROM {id} LIMIT 1")).await;
    let obj = cols[0].as_object().expect("object");
    assert!(!obj.contains_key("calendarday"));
    assert!(obj.contains_key("eventjson") && obj.contains_key("requestparameters"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_reads_are_allowed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (store, id) = small_store(tmp.path()).await;
    let engine = Engine::open(&store).await.expect("engine");
    for sql in [
        format!("DELETE FROM {id}"),
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        "COPY (SELECT 1) TO '/tmp/out.csv'".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        match engine.query(&sql).await {
            Err(EngineError::NotReadOnly(_)) | Err(EngineError::Sql(_)) => {}
            Err(e) => panic!("{sql}: unexpected error kind {e}"),
            Ok(_) => panic!("{sql} was allowed"),
        }
    }
    assert!(engine.query("SELECT * FROM '/etc/passwd'").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_columns_are_named_as_lake_names_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (store, id) = small_store(tmp.path()).await;
    let engine = Engine::open(&store).await.expect("engine");
    let names = |sql: String| {
        let engine = &engine;
        async move {
            let q = engine.plan(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            q.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(format!(
            "SELECT eventname, count(*), userIdentity.arn, max(eventtime) AS LatestTime, 1 + 1 FROM {id} GROUP BY 1, 3"
        ))
        .await,
        ["eventname", "_col1", "arn", "LatestTime", "_col4"]
    );
    assert_eq!(names(format!("SELECT element_at(resources, 1).arn FROM {id}")).await, ["arn"]);
    assert_eq!(names("SELECT \"Quoted\" FROM (SELECT 1 AS \"Quoted\") x".to_string()).await, ["Quoted"]);
    // ORDER BY an alias written in another case still resolves
    let rows = query_json(&store, &format!("SELECT eventname AS Name FROM {id} ORDER BY name LIMIT 1")).await;
    assert_eq!(rows[0]["Name"], "RunInstances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_day_query_reads_only_that_day() {
    use futures::TryStreamExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let trail = tmp.path().join("trail");
    let opts = traillake::demo::GenerateOptions { events: 20_000, days: 10, ..Default::default() };
    traillake::demo::generate(&trail, &opts).expect("generate");
    let store = store_in(tmp.path());
    ingest_paths(&store, None, &[&trail]).await;
    let engine = Engine::open(&store).await.expect("engine");
    let day = "eventTime >= '2026-11-10 00:00:00' AND eventTime < '2026-11-11 00:00:00'";
    let q = engine
        .plan(&format!("SELECT count(*) FROM default WHERE {day} AND length(eventjson) > 0"))
        .await
        .expect("plan");
    let mut stream = q.execute().await.expect("run");
    let mut batches = Vec::new();
    while let Some(b) = stream.try_next().await.expect("batch") {
        batches.push(b);
    }
    let n = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().map(|a| a.value(0));
    let n = n.expect("count") as u64;
    assert!((1_000..4_000).contains(&n), "one day of ten holds about 2,000 events: {n}");
    let stats = stream.stats();
    assert_eq!(stats.events_matched, n, "{stats:?}");
    assert!(stats.events_scanned >= n && stats.events_scanned <= 4_000, "files were not skipped: {stats:?}");
    assert!(stats.bytes_scanned > 0, "{stats:?}");
    assert_eq!(stats.rows_returned, 1);

    // A full scan reads every row, and more bytes than the one-day query.
    let mut full = engine
        .plan("SELECT count(*) FROM default WHERE length(eventjson) > 0")
        .await
        .expect("plan")
        .execute()
        .await
        .expect("run");
    while full.try_next().await.expect("batch").is_some() {}
    let all = full.stats();
    assert_eq!(all.events_scanned, 20_000, "{all:?}");
    assert_eq!(all.events_matched, 20_000, "{all:?}");
    assert!(all.bytes_scanned > stats.bytes_scanned * 5, "{all:?} vs {stats:?}");
    assert!(all.lake_cost_usd() > 0.0);

    // One field of a struct is read alone, not the whole struct around it.
    let field = stats_of(&engine, "SELECT userIdentity.arn FROM default").await;
    let whole = stats_of(&engine, "SELECT userIdentity FROM default").await;
    assert!(field.bytes_scanned * 3 < whole.bytes_scanned, "{field:?} vs {whole:?}");

    // A needle query filters inside the Parquet reader: the wide columns of the events it
    // does not return are never read.
    let id = "SELECT eventID FROM default WHERE eventTime >= '2026-11-10 00:00:00' ORDER BY eventTime LIMIT 1";
    let mut first = engine.plan(id).await.expect("plan").execute().await.expect("run");
    let batch = first.try_next().await.expect("batch").expect("one row");
    let id = datafusion::arrow::util::display::array_value_to_string(batch.column(0), 0).expect("id");
    let needle = stats_of(&engine, &format!("SELECT * FROM default WHERE eventID = '{id}'")).await;
    let everything = stats_of(&engine, "SELECT * FROM default").await;
    assert_eq!(needle.rows_returned, 1, "{needle:?}");
    assert!(needle.bytes_scanned * 3 < everything.bytes_scanned, "{needle:?} vs {everything:?}");
}

/// Runs `sql` to the end and returns its statistics.
async fn stats_of(engine: &Engine, sql: &str) -> traillake::engine::QueryStats {
    use futures::TryStreamExt;
    let mut stream = engine.plan(sql).await.expect("plan").execute().await.expect("run");
    while stream.try_next().await.expect("batch").is_some() {}
    stream.stats()
}

/// SHA-256 (hex) as the tests compute it, independently of the engine.
fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The `eventjson` values as the data files of the store hold them.
fn stored_texts(root: &std::path::Path) -> Vec<String> {
    use datafusion::arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for path in data_files(root) {
        for column in parquet_column(&path, "eventjson") {
            let texts = column.as_string::<i32>();
            out.extend((0..texts.len()).filter(|&i| texts.is_valid(i)).map(|i| texts.value(i).to_string()));
        }
    }
    out
}

/// Every data file of the store, with its column names.
fn parquet_columns(root: &std::path::Path) -> Vec<Vec<String>> {
    use datafusion::parquet::file::reader::FileReader;
    data_files(root)
        .into_iter()
        .map(|p| {
            let file = std::fs::File::open(&p).expect("open");
            let reader = datafusion::parquet::file::reader::SerializedFileReader::new(file).expect("parquet footer");
            let schema = reader.metadata().file_metadata().schema_descr_ptr();
            schema.root_schema().get_fields().iter().map(|f| f.name().to_string()).collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checksum_is_computed_from_the_event_text() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (store, id) = small_store(tmp.path()).await;
    // Not stored: the files hold the event text, not its digest.
    let files = parquet_columns(&tmp.path().join("store"));
    assert!(!files.is_empty());
    for cols in &files {
        assert!(cols.iter().any(|c| c == "eventjson") && !cols.iter().any(|c| c == "eventjsonchecksum"), "{cols:?}");
    }
    // Computed on read, in any column order, next to the columns it is computed from or not.
    let rows =
        query_json(&store, &format!("SELECT eventJsonChecksum, eventName, eventJson FROM {id} ORDER BY eventTime"))
            .await;
    assert_eq!(rows.len(), 5);
    for r in &rows {
        let text = r["eventjson"].as_str().expect("text");
        assert_eq!(r["eventjsonchecksum"].as_str(), Some(sha256_hex(text).as_str()), "{r:?}");
    }
    let first = rows[0]["eventjsonchecksum"].as_str().expect("checksum").to_string();
    let hit = query_json(
        &store,
        &format!("SELECT eventName, eventjsonchecksum FROM {id} WHERE eventjsonchecksum = '{first}'"),
    )
    .await;
    assert_eq!(hit, vec![serde_json::json!({"eventname": "RunInstances", "eventjsonchecksum": first})]);
    let n =
        count(&store, &format!("SELECT count(eventjsonchecksum) FROM {id} WHERE eventtime > '2026-09-02 00:00:00'"))
            .await;
    assert_eq!(n, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_text_is_stored_by_reference_and_read_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (store, id) = small_store(tmp.path()).await;
    let originals = small_store_events();
    // The files hold the text without the values other columns hold (the event id, the
    // request parameters' nested value) ...
    let stored = stored_texts(&tmp.path().join("store"));
    assert_eq!(stored.len(), 5);
    for text in &stored {
        assert!(!text.contains("30000000-0000-4000-8000-") && !text.contains("instanceId"), "{text:?}");
        assert!(text.len() < originals[0].len() - 50, "{text:?}");
    }
    // ... and every query gets the original back, byte for byte.
    let rows = query_json(&store, &format!("SELECT eventjson FROM {id} ORDER BY eventtime")).await;
    let texts: Vec<&str> = rows.iter().filter_map(|r| r["eventjson"].as_str()).collect();
    assert_eq!(texts, originals.iter().map(String::as_str).collect::<Vec<_>>());
    // Filters on the text see the original, not the stored form.
    let like = "eventjson LIKE '%\"eventID\":\"30000000-0000-4000-8000-000000000002\"%'";
    assert_eq!(count(&store, &format!("SELECT count(*) FROM {id} WHERE {like}")).await, 1);
    let n = count(&store, &format!("SELECT count(*) FROM {id} WHERE eventjson LIKE '%instanceId%' AND {like}")).await;
    assert_eq!(n, 1);
    let exact = originals[3].replace('\'', "''");
    assert_eq!(count(&store, &format!("SELECT count(*) FROM {id} WHERE eventjson = '{exact}'")).await, 1);
    assert_eq!(count(&store, &format!("SELECT count(*) FROM {id} WHERE strpos(eventjson, chr(1)) > 0")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_that_kept_the_checksum_column_still_ingest_and_query() {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
    // An event data store created when the checksum was a stored column.
    let tmp = tempfile::tempdir().expect("tmp");
    let store = store_in(tmp.path());
    let rec = store.create_eds("old").await.expect("create");
    let url = store.url_of(&format!("{}/", rec.table_path)).expect("table url");
    std::fs::remove_dir_all(url.to_file_path().expect("local table")).expect("remove new table");
    let stored = traillake::schema::cloudtrail().stored.clone();
    let mut fields: Vec<Field> = stored.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.insert(fields.len() - 1, Field::new("eventjsonchecksum", DataType::Utf8, true));
    let kernel: deltalake::kernel::StructType = (&Schema::new(fields)).try_into_kernel().expect("kernel schema");
    deltalake::DeltaTableBuilder::from_url(url)
        .expect("builder")
        .build()
        .expect("table")
        .create()
        .with_columns(kernel.fields().cloned())
        .with_partition_columns(["calendarday"])
        .await
        .expect("legacy table");

    let f = tmp.path().join("t.json");
    let evs = [
        event("40000000-0000-4000-8000-000000000001", "2026-09-01T12:00:00Z", "RunInstances"),
        event("40000000-0000-4000-8000-000000000002", "2026-09-01T13:00:00Z", "StopInstances"),
    ];
    write(&f, format!("{{\"Records\":[{}]}}", evs.join(",")));
    let r = ingest_paths(&store, Some("old"), &[&f]).await;
    assert_eq!(r.events_added, 2, "{}", r.summary());
    // The files still get the column (other readers of the table expect it) ...
    for cols in parquet_columns(&tmp.path().join("store")) {
        assert!(cols.iter().any(|c| c == "eventjsonchecksum"), "{cols:?}");
    }
    // ... and queries see the same digest either way.
    let rows = query_json(&store, "SELECT eventjsonchecksum AS c, eventjson FROM old ORDER BY eventtime").await;
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["c"].as_str(), Some(sha256_hex(r["eventjson"].as_str().expect("text")).as_str()));
    }
    // Re-ingesting adds nothing.
    assert_eq!(ingest_paths(&store, Some("old"), &[&f]).await.events_added, 0);
}
