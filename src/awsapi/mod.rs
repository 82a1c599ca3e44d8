//! The AWS CloudTrail API over HTTP, so boto3, the AWS CLI and Lake tooling run against local
//! stores by adding `--endpoint-url`: the AWS JSON 1.1 protocol of the `cloudtrail` service
//! (the operation in `X-Amz-Target`: `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>`
//! or the short `CloudTrail_20131101.<Op>`), requests signed with SigV4 (`auth`), errors as
//! botocore reads them (`{"__type": code, "message": …}`), every response with an
//! `x-amzn-RequestId`.
//!
//! Operations: Lake queries (`queries`: StartQuery, DescribeQuery, GetQueryResults, ListQueries,
//! CancelQuery) and event data store reads (`stores`: ListEventDataStores, GetEventDataStore).
//! Others answer `UnknownOperationException` with the list of those served.

pub mod auth;
mod data;
mod history;
mod queries;
mod stores;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::engine::{Engine, Engines};
use crate::store::Store;

/// Largest request body accepted (AWS: a query statement is at most 10,000 characters).
const MAX_BODY: usize = 1 << 20;
const TARGET_PREFIXES: [&str; 2] = ["com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.", "CloudTrail_20131101."];

/// How the endpoint runs.
#[derive(Debug, Clone)]
pub struct AwsApiOptions {
    pub addr: SocketAddr,
    /// Access keys requests must be signed with; empty only on loopback with
    /// `allow_unauthenticated`.
    pub keys: auth::Keys,
    pub allow_unauthenticated: bool,
    /// How long finished queries' results are kept for GetQueryResults (Lake: 7 days).
    pub results_ttl: Duration,
    /// How long a query may run before it is stopped (status TIMED_OUT).
    pub query_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AwsApiError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(
        "the AWS API on {0} would accept unsigned requests from the network: give --aws-credentials FILE \
         (an AWS credentials file with the access keys clients sign with), or listen on a loopback address"
    )]
    Unauthenticated(SocketAddr),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("cannot start the query threads: {0}")]
    Runtime(std::io::Error),
}

/// An AWS error response.
#[derive(Debug)]
pub struct ApiError {
    code: String,
    message: String,
    status: StatusCode,
}

impl ApiError {
    pub fn new(code: &str, message: &str) -> Self {
        Self { code: code.to_string(), message: message.to_string(), status: StatusCode::BAD_REQUEST }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        self
    }

    pub fn internal(message: &str) -> Self {
        Self::new("InternalFailure", message).status(500)
    }

    fn invalid_parameter(message: &str) -> Self {
        Self::new("InvalidParameterException", message)
    }
}

/// The shared state of the endpoint.
pub(crate) struct Api {
    store: Store,
    engines: Engines,
    keys: auth::Keys,
    queries: queries::Registry,
}

/// A running endpoint.
pub struct AwsApiServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AwsApiServer {
    /// `http://host:port`, the `--endpoint-url` clients use.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts serving `store` on `options.addr`.
pub async fn start(store: Store, options: AwsApiOptions) -> Result<AwsApiServer, AwsApiError> {
    if options.keys.is_empty() && !(options.addr.ip().is_loopback() || options.allow_unauthenticated) {
        return Err(AwsApiError::Unauthenticated(options.addr));
    }
    let engine = Engine::open(&store).await?;
    let api = Arc::new(Api {
        engines: Engines::new(store.clone(), engine, Duration::from_secs(1)),
        store,
        keys: options.keys,
        queries: queries::Registry::new(options.results_ttl, options.query_timeout, query_runtime()?),
    });
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| AwsApiError::Bind { addr: options.addr, source })?;
    let addr = listener.local_addr().map_err(|source| AwsApiError::Bind { addr: options.addr, source })?;
    let app = axum::Router::new().fallback(handle).with_state(api);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("AWS API endpoint stopped: {e}");
        }
    });
    Ok(AwsApiServer { addr, task })
}

/// The threads queries run on, apart from those answering requests: a query that keeps every
/// core busy must not stop DescribeQuery or CancelQuery from being answered. It lives as long as
/// the process (a runtime cannot be dropped from async code).
fn query_runtime() -> Result<tokio::runtime::Handle, AwsApiError> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("traillake-aws-query")
        .thread_stack_size(64 << 20)
        .enable_all()
        .build()
        .map_err(AwsApiError::Runtime)?;
    let handle = runtime.handle().clone();
    std::mem::forget(runtime);
    Ok(handle)
}

/// One request: read, authenticate, dispatch, answer.
async fn handle(State(api): State<Arc<Api>>, request: Request<Body>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let result = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => Err(ApiError::new("ValidationException", "the request body is too large or could not be read")),
        Ok(bytes) => dispatch(&api, &parts, &bytes, &request_id).await,
    };
    let (status, body) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => {
            tracing::info!(code = %e.code, "AWS API request refused: {}", e.message);
            (e.status, json!({"__type": e.code, "message": e.message}))
        }
    };
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

async fn dispatch(
    api: &Api,
    parts: &axum::http::request::Parts,
    body: &Bytes,
    request_id: &str,
) -> Result<Value, ApiError> {
    if !api.keys.is_empty() {
        api.keys.verify(parts, body)?;
    }
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::new("SerializationException", &format!("the request body is not JSON: {e}")))?
    };
    // The cloudtrail-data service speaks REST-JSON: its one operation is a path.
    if parts.uri.path() == "/PutAuditEvents" && parts.method == axum::http::Method::POST {
        let out = data::put_audit_events(api, parts.uri.query().unwrap_or_default(), &input, request_id).await;
        api.engines.changed().await;
        return out;
    }
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(operation) = TARGET_PREFIXES.iter().find_map(|p| target.strip_prefix(p)) else {
        return Err(unknown_operation(target));
    };
    let changes = matches!(
        operation,
        "CreateEventDataStore"
            | "UpdateEventDataStore"
            | "DeleteEventDataStore"
            | "RestoreEventDataStore"
            | "StartEventDataStoreIngestion"
            | "StopEventDataStoreIngestion"
    );
    let out = match operation {
        "StartQuery" => queries::start(api, &input).await,
        "DescribeQuery" => queries::describe(api, &input).await,
        "GetQueryResults" => queries::results(api, &input).await,
        "ListQueries" => queries::list(api, &input).await,
        "CancelQuery" => queries::cancel(api, &input).await,
        "ListEventDataStores" => stores::list(api, &input).await,
        "GetEventDataStore" => stores::get(api, &input).await,
        "CreateEventDataStore" => stores::create(api, &input).await,
        "UpdateEventDataStore" => stores::update(api, &input).await,
        "DeleteEventDataStore" => stores::delete(api, &input).await,
        "RestoreEventDataStore" => stores::restore(api, &input).await,
        "StartEventDataStoreIngestion" => stores::ingestion(api, &input, true).await,
        "StopEventDataStoreIngestion" => stores::ingestion(api, &input, false).await,
        "LookupEvents" => history::lookup_events(api, &input).await,
        "SearchSampleQueries" => history::search_sample_queries(api, &input).await,
        "CreateChannel" => data::create_channel(api, &input).await,
        "GetChannel" => data::get_channel(api, &input).await,
        "ListChannels" => data::list_channels(api, &input).await,
        "DeleteChannel" => data::delete_channel(api, &input).await,
        other => Err(unknown_operation(other)),
    };
    if changes {
        // The next query sees the change at once, not after the next refresh.
        api.engines.changed().await;
    }
    out
}

const SERVED: &str = "StartQuery, DescribeQuery, GetQueryResults, ListQueries, CancelQuery, \
ListEventDataStores, GetEventDataStore, CreateEventDataStore, UpdateEventDataStore, DeleteEventDataStore, \
RestoreEventDataStore, StartEventDataStoreIngestion, StopEventDataStoreIngestion, LookupEvents, \
SearchSampleQueries, CreateChannel, GetChannel, ListChannels, DeleteChannel; and cloudtrail-data PutAuditEvents";

fn unknown_operation(target: &str) -> ApiError {
    ApiError::new(
        "UnknownOperationException",
        &format!("traillake does not serve the operation {target:?}; it serves {SERVED}"),
    )
}

/// A string member of a request.
fn string<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

/// A required string member.
fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    string(input, name).filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new("ValidationException", &format!("1 validation error detected: {name} must not be null"))
    })
}

/// Seconds since the epoch with a fraction, as AWS's JSON protocols write timestamps.
fn epoch(t: chrono::DateTime<chrono::Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}
