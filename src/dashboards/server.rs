//! `traillake dashboard`: the dashboards as a local web page served by the binary (axum; the
//! page, ECharts and scripts embedded), over an engine that follows new commits. JSON API:
//! `api/dashboards` (the list, the store's time span), `api/dashboard?name&start&end` (one
//! dashboard's widgets run over the range, concurrently), `api/events?name&widget&value&start&end`
//! (the events behind a bar, point or slice).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Request, Response, StatusCode};
use chrono::{DateTime, NaiveDateTime, Utc};

use super::{Dashboard, Range};
use crate::engine::{Engine, Engines};
use crate::error::Error;
use crate::investigate::saved::DefaultStores;
use crate::store::{EdsRecord, Store};

const PAGE: &str = include_str!("page.html");

/// Who may look.
#[derive(Debug, Clone)]
pub enum Auth {
    Open,
    /// HTTP Basic.
    Basic {
        user: String,
        password: String,
    },
    /// `Authorization: Bearer TOKEN`.
    Token(String),
}

pub struct Options {
    pub addr: SocketAddr,
    pub auth: Auth,
    pub allow_unauthenticated: bool,
}

struct Site {
    eds: EdsRecord,
    stores: DefaultStores,
    dashboards: Vec<Dashboard>,
    engines: Engines,
    auth: Auth,
    page: String,
}

/// A running dashboard server.
pub struct DashboardServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl DashboardServer {
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves until the task ends (it does not by itself).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts serving `dashboards` over `eds`.
pub async fn start(
    store: Store,
    eds: EdsRecord,
    dashboards: Vec<Dashboard>,
    options: Options,
) -> Result<DashboardServer, Error> {
    if matches!(options.auth, Auth::Open) && !options.addr.ip().is_loopback() && !options.allow_unauthenticated {
        return Err(Error::Usage(format!(
            "{} is reachable from other machines: give --user and --password, or --token (or --allow-unauthenticated)",
            options.addr
        )));
    }
    let stores = DefaultStores { eds: Some(eds.id.to_string()), ..DefaultStores::of(&store).await? };
    // Those that can run here (the Insights dashboard needs an Insights store).
    let dashboards: Vec<Dashboard> =
        dashboards.into_iter().filter(|d| super::unavailable(d, &stores).is_none()).collect();
    let engine = Engine::open(&store).await?;
    let page = PAGE
        .replace("{{STYLE}}", include_str!("report.css"))
        .replace("{{ECHARTS}}", include_str!("../../assets/echarts/echarts.min.js"))
        .replace("{{RENDER}}", include_str!("render.js"))
        .replace("{{PAGE}}", include_str!("page.js"));
    let site = Arc::new(Site {
        eds,
        stores,
        dashboards,
        engines: Engines::new(store, engine, Duration::from_secs(1)),
        auth: options.auth,
        page,
    });
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", options.addr)))?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(handle).with_state(site);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("dashboard server stopped: {e}");
        }
    });
    Ok(DashboardServer { addr, task })
}

async fn handle(State(site): State<Arc<Site>>, req: Request<Body>) -> Response<Body> {
    if !allowed(&site.auth, &req) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Basic realm=\"traillake\"")
            .body(Body::from("authentication required"))
            .unwrap_or_default();
    }
    let query: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let outcome = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/") => {
            return Response::builder()
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .body(Body::from(site.page.clone()))
                .unwrap_or_default()
        }
        ("GET", "/api/dashboards") => info(&site).await,
        ("GET", "/api/dashboard") => dashboard(&site, &query).await,
        ("GET", "/api/events") => events(&site, &query).await,
        _ => Err((StatusCode::NOT_FOUND, "no such page".to_string())),
    };
    let (status, body) = match outcome {
        Ok(v) => (StatusCode::OK, v),
        Err((status, message)) => (status, serde_json::json!({ "error": message })),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

type Answer = Result<serde_json::Value, (StatusCode, String)>;

fn bad(message: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message.into())
}

fn allowed(auth: &Auth, req: &Request<Body>) -> bool {
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match auth {
        Auth::Open => true,
        Auth::Token(t) => given.strip_prefix("Bearer ").is_some_and(|g| g == t),
        Auth::Basic { user, password } => {
            use base64::Engine as _;
            let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            given.strip_prefix("Basic ").is_some_and(|g| g.trim() == expected)
        }
    }
}

async fn info(site: &Site) -> Answer {
    let engine = site.engines.get().await;
    let figures = engine.figures().map_err(|e| bad(e.to_string()))?;
    let f = figures.iter().find(|(r, _)| r.id == site.eds.id).map(|(_, f)| f.clone()).unwrap_or_default();
    let list: Vec<serde_json::Value> = site
        .dashboards
        .iter()
        .map(|d| serde_json::json!({"name": d.name, "title": d.title, "description": d.description, "widgets": d.widgets.len()}))
        .collect();
    Ok(serde_json::json!({
        "store": site.eds.name,
        "firstEvent": f.first_event,
        "lastEvent": f.last_event,
        "dashboards": list,
    }))
}

fn find<'a>(
    site: &'a Site,
    query: &std::collections::HashMap<String, String>,
) -> Result<&'a Dashboard, (StatusCode, String)> {
    let name = query.get("name").ok_or_else(|| bad("name= is missing"))?;
    site.dashboards
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no dashboard named {name}")))
}

fn range(query: &std::collections::HashMap<String, String>) -> Result<Range, (StatusCode, String)> {
    let time = |k: &str| -> Result<DateTime<Utc>, (StatusCode, String)> {
        let v = query.get(k).ok_or_else(|| bad(format!("{k}= is missing")))?;
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| bad(format!("{k}={v} is not an RFC 3339 time (2026-11-15T00:00:00Z)")))
    };
    let r = Range { start: time("start")?, end: time("end")? };
    if r.start >= r.end {
        return Err(bad("start must be before end"));
    }
    Ok(r)
}

async fn dashboard(site: &Site, query: &std::collections::HashMap<String, String>) -> Answer {
    let d = find(site, query)?;
    let r = range(query)?;
    let engine = site.engines.get().await;
    let widgets = super::run(&engine, d, &r, &site.stores).await;
    Ok(serde_json::json!({
        "name": d.name, "title": d.title, "description": d.description, "range": r, "widgets": widgets,
    }))
}

/// The events behind a picked value: the widget's `FilterColumn` equal to it, or, on a time
/// axis, the events of that period.
async fn events(site: &Site, query: &std::collections::HashMap<String, String>) -> Answer {
    let d = find(site, query)?;
    let r = range(query)?;
    let index: usize = query.get("widget").and_then(|w| w.parse().ok()).ok_or_else(|| bad("widget= is missing"))?;
    let w = d.widgets.get(index).ok_or_else(|| bad(format!("{} has no widget {index}", d.name)))?;
    let value = query.get("value").ok_or_else(|| bad("value= is missing"))?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let condition = match w.view_properties.get("FilterColumn") {
        Some(col) if col.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') => {
            format!("{col} = {}", quote(value))
        }
        Some(col) => return Err(bad(format!("FilterColumn {col} is not a column name"))),
        None => {
            let start = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f")
                .map_err(|_| bad(format!("widget {:?} has no FilterColumn and {value} is not a period", w.title())))?
                .and_utc();
            let end = start
                + match r.period() {
                    "minute" => chrono::Duration::minutes(1),
                    "hour" => chrono::Duration::hours(1),
                    _ => chrono::Duration::days(1),
                };
            let at = |t: DateTime<Utc>| quote(&t.format("%Y-%m-%d %H:%M:%S").to_string());
            format!("eventTime >= {} AND eventTime < {}", at(start), at(end))
        }
    };
    let sql = format!(
        "SELECT eventTime, eventSource, eventName, userIdentity.arn AS principal, sourceIPAddress, errorCode, eventID \
         FROM \"{}\" WHERE eventTime >= {} AND eventTime <= {} AND {condition} ORDER BY eventTime DESC, eventID LIMIT 200",
        site.eds.id,
        quote(&r.start.format("%Y-%m-%d %H:%M:%S").to_string()),
        quote(&r.end.format("%Y-%m-%d %H:%M:%S").to_string()),
    );
    let engine = site.engines.get().await;
    let (columns, rows) = super::rows_of(&engine, &sql).await.map_err(bad)?;
    Ok(serde_json::json!({ "title": format!("{} = {value}", w.title()), "sql": sql, "columns": columns, "rows": rows }))
}
