//! Lake queries as AWS runs them: StartQuery plans the statement (errors come back at once) and
//! runs it in the background; DescribeQuery reports its status and statistics; GetQueryResults
//! pages through the rows as AWS shapes them (each row a list of single-key maps of strings);
//! ListQueries and CancelQuery. Finished queries' results are kept for the configured time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::util::display::ArrayFormatter;
use chrono::{DateTime, Utc};
use datafusion::common::ScalarValue;
use futures::StreamExt;
use serde_json::{json, Value};

use super::{epoch, required, string, Api, ApiError};
use crate::engine::{EngineError, QueryStats};

/// Rows GetQueryResults returns at most per page (AWS: 1000).
const MAX_PAGE: usize = 1000;
/// Rows a query's results may hold (they are kept in memory until they expire).
const MAX_ROWS: usize = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
    TimedOut,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Running => "RUNNING",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
            Status::TimedOut => "TIMED_OUT",
        }
    }

    fn is_active(self) -> bool {
        matches!(self, Status::Queued | Status::Running)
    }
}

struct Query {
    statement: String,
    /// The ids of the stores it reads (for ListQueries by store).
    stores: Vec<String>,
    created: DateTime<Utc>,
    status: Status,
    error: Option<String>,
    stats: QueryStats,
    columns: Vec<String>,
    /// Values as Lake prints them; `None` for NULL (left out of the row, as a map holds strings).
    rows: Vec<Vec<Option<String>>>,
    task: Option<tokio::task::AbortHandle>,
    ended: Option<Instant>,
}

/// The queries of this endpoint.
pub(super) struct Registry {
    queries: Arc<Mutex<HashMap<String, Query>>>,
    ttl: Duration,
    timeout: Duration,
    /// Where queries run (see `query_runtime`).
    runtime: tokio::runtime::Handle,
}

impl Registry {
    pub(super) fn new(ttl: Duration, timeout: Duration, runtime: tokio::runtime::Handle) -> Self {
        Self { queries: Arc::default(), ttl, timeout, runtime }
    }

    /// The queries, once those whose results have expired are dropped.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Query>> {
        let mut q = self.queries.lock().unwrap_or_else(|p| p.into_inner());
        q.retain(|_, query| query.ended.is_none_or(|t| t.elapsed() < self.ttl));
        q
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new("QueryIdNotFoundException", &format!("The query ID {id} does not exist or is not valid."))
}

pub(super) async fn start(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let statement = required(input, "QueryStatement")?.to_string();
    let parameters: Vec<ScalarValue> = match input.get("QueryParameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| v.as_str().map(|s| ScalarValue::Utf8(Some(s.to_string()))))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::invalid_parameter("QueryParameters must be a list of strings"))?,
        Some(_) => return Err(ApiError::invalid_parameter("QueryParameters must be a list of strings")),
    };
    let engine = api.engines.get().await;
    let mut planned = engine.plan(&statement).await.map_err(statement_error)?;
    if !parameters.is_empty() {
        planned = planned.bind(parameters).map_err(statement_error)?;
    }
    let lower = statement.to_ascii_lowercase();
    let stores = engine
        .event_data_stores()
        .iter()
        .filter(|r| lower.contains(&r.id.to_string()) || lower.contains(&r.name.to_ascii_lowercase()))
        .map(|r| r.id.to_string())
        .collect();
    let id = uuid::Uuid::new_v4().to_string();
    let query = Query {
        statement,
        stores,
        created: Utc::now(),
        status: Status::Queued,
        error: None,
        stats: QueryStats::default(),
        columns: Vec::new(),
        rows: Vec::new(),
        task: None,
        ended: None,
    };
    let mut all = api.queries.lock();
    all.insert(id.clone(), query);
    let (queries, qid, timeout) = (Arc::clone(&api.queries.queries), id.clone(), api.queries.timeout);
    let task = api.queries.runtime.spawn(async move {
        let update = |f: &mut dyn FnMut(&mut Query)| {
            if let Some(q) = queries.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&qid) {
                f(q)
            }
        };
        update(&mut |q| q.status = Status::Running);
        let outcome = tokio::time::timeout(timeout, run(planned)).await;
        update(&mut |q| {
            q.ended = Some(Instant::now());
            match &outcome {
                Ok(Ok((columns, rows, stats))) => {
                    q.status = Status::Finished;
                    (q.columns, q.rows, q.stats) = (columns.clone(), rows.clone(), stats.clone());
                }
                Ok(Err(e)) => {
                    q.status = Status::Failed;
                    q.error = Some(e.to_string());
                }
                Err(_) => {
                    q.status = Status::TimedOut;
                    q.error = Some(format!("the query ran longer than {} seconds", timeout.as_secs()));
                }
            }
        });
    });
    if let Some(q) = all.get_mut(&id) {
        q.task = Some(task.abort_handle());
    }
    Ok(json!({"QueryId": id}))
}

type Ran = (Vec<String>, Vec<Vec<Option<String>>>, QueryStats);

/// Runs a planned query to its end: column names, rows as Lake prints values, statistics.
async fn run(planned: crate::engine::LakeQuery) -> Result<Ran, EngineError> {
    let mut stream = planned.execute().await?;
    let columns: Vec<String> = stream.schema().fields().iter().map(|f| f.name().clone()).collect();
    let options = crate::output::format_options();
    let mut rows = Vec::new();
    while let Some(batch) = stream.next().await {
        // A query streaming rows can be cancelled (or time out) between batches: DataFusion's
        // streams rarely return to the scheduler on their own.
        tokio::task::yield_now().await;
        let batch = crate::output::nested_as_json(&batch?).map_err(datafusion::error::DataFusionError::from)?;
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(datafusion::error::DataFusionError::from)?;
        if rows.len() + batch.num_rows() > MAX_ROWS {
            return Err(EngineError::Evaluation(format!(
                "the result has more than {MAX_ROWS} rows, more than this endpoint keeps; add a LIMIT, \
                 or run it with `traillake query` or over Flight SQL, which stream results"
            )));
        }
        for r in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                    .collect(),
            );
        }
    }
    Ok((columns, rows, stream.stats()))
}

/// A statement that cannot run, as AWS reports it.
fn statement_error(e: EngineError) -> ApiError {
    let message = e.to_string();
    if message.contains("event data stores:") || message.contains("PENDING_DELETION") {
        return ApiError::new("EventDataStoreNotFoundException", &message);
    }
    if e.is_user_error() {
        ApiError::new("InvalidQueryStatementException", &message)
    } else {
        ApiError::internal(&message)
    }
}

pub(super) async fn describe(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let id = required(input, "QueryId")?;
    let all = api.queries.lock();
    let q = all.get(id).ok_or_else(|| not_found(id))?;
    let mut out = json!({
        "QueryId": id,
        "QueryString": q.statement,
        "QueryStatus": q.status.name(),
        "QueryStatistics": {
            "EventsMatched": q.stats.events_matched,
            "EventsScanned": q.stats.events_scanned,
            "BytesScanned": q.stats.bytes_scanned,
            "ExecutionTimeInMillis": q.stats.execution_time.as_millis() as u64,
            "CreationTime": epoch(q.created),
        },
    });
    if let Some(e) = &q.error {
        out["ErrorMessage"] = json!(e);
    }
    Ok(out)
}

pub(super) async fn results(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let id = required(input, "QueryId")?;
    let page = match input.get("MaxQueryResults").and_then(Value::as_u64) {
        None => MAX_PAGE,
        Some(n @ 1..=1000) => n as usize,
        Some(_) => return Err(ApiError::new("InvalidMaxResultsException", "MaxQueryResults must be 1 to 1000")),
    };
    let offset = match string(input, "NextToken") {
        None => 0,
        Some(t) => read_offset(t, id)?,
    };
    let all = api.queries.lock();
    let q = all.get(id).ok_or_else(|| not_found(id))?;
    let mut out = json!({"QueryStatus": q.status.name()});
    if let Some(e) = &q.error {
        out["ErrorMessage"] = json!(e);
    }
    if q.status != Status::Finished {
        out["QueryResultRows"] = json!([]);
        return Ok(out);
    }
    if offset > q.rows.len() {
        return Err(ApiError::new("InvalidNextTokenException", "NextToken is past the end of the results"));
    }
    let end = (offset + page).min(q.rows.len());
    let rows: Vec<Value> = q.rows[offset..end]
        .iter()
        .map(|row| {
            let cells: Vec<Value> =
                q.columns.iter().zip(row).filter_map(|(c, v)| v.as_ref().map(|v| json!({ c: v }))).collect();
            Value::Array(cells)
        })
        .collect();
    out["QueryResultRows"] = Value::Array(rows);
    out["QueryStatistics"] = json!({
        "ResultsCount": end - offset,
        "TotalResultsCount": q.rows.len(),
        "BytesScanned": q.stats.bytes_scanned,
    });
    if end < q.rows.len() {
        out["NextToken"] = json!(offset_token(id, end));
    }
    Ok(out)
}

/// An opaque page token (AWS's are at least 4 characters) for `offset` in the listing `scope`.
pub(super) fn offset_token(scope: &str, offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{scope}:{offset}"))
}

/// The offset a `NextToken` of the listing `scope` stands for.
pub(super) fn read_offset(t: &str, scope: &str) -> Result<usize, ApiError> {
    use base64::Engine as _;
    let invalid = || ApiError::new("InvalidNextTokenException", "A token you provided is not valid.");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    let (s, offset) = text.rsplit_once(':').ok_or_else(invalid)?;
    if s != scope {
        return Err(invalid());
    }
    offset.parse().map_err(|_| invalid())
}

pub(super) async fn list(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let store = super::stores::resolve(api, required(input, "EventDataStore")?).await?.id.to_string();
    let time = |name: &str| input.get(name).and_then(Value::as_f64).map(|s| (s * 1000.0) as i64);
    let (from, until) = (time("StartTime"), time("EndTime"));
    let status = string(input, "QueryStatus");
    let page = input.get("MaxResults").and_then(Value::as_u64).unwrap_or(1000).clamp(1, 1000) as usize;
    let scope = format!("list:{store}");
    let offset = match string(input, "NextToken") {
        None => 0,
        Some(t) => read_offset(t, &scope)?,
    };
    let all = api.queries.lock();
    let mut found: Vec<(&String, &Query)> = all
        .iter()
        .filter(|(_, q)| q.stores.contains(&store))
        .filter(|(_, q)| status.is_none_or(|s| s == q.status.name()))
        .filter(|(_, q)| from.is_none_or(|f| q.created.timestamp_millis() >= f))
        .filter(|(_, q)| until.is_none_or(|u| q.created.timestamp_millis() <= u))
        .collect();
    found.sort_by(|a, b| b.1.created.cmp(&a.1.created).then_with(|| a.0.cmp(b.0)));
    let end = (offset + page).min(found.len());
    let queries: Vec<Value> = found[offset.min(end)..end]
        .iter()
        .map(|(id, q)| json!({"QueryId": id, "QueryStatus": q.status.name(), "CreationTime": epoch(q.created)}))
        .collect();
    let mut out = json!({ "Queries": queries });
    if end < found.len() {
        out["NextToken"] = json!(offset_token(&scope, end));
    }
    Ok(out)
}

pub(super) async fn cancel(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let id = required(input, "QueryId")?;
    let mut all = api.queries.lock();
    let q = all.get_mut(id).ok_or_else(|| not_found(id))?;
    if !q.status.is_active() {
        return Err(ApiError::new(
            "InactiveQueryException",
            &format!("The query {id} is {} and cannot be cancelled.", q.status.name()),
        ));
    }
    if let Some(task) = q.task.take() {
        task.abort();
    }
    q.status = Status::Cancelled;
    q.ended = Some(Instant::now());
    Ok(json!({"QueryId": id, "QueryStatus": Status::Cancelled.name()}))
}
