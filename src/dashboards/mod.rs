//! Dashboards as data: `dashboards/*.json` (built in) and a user's folder, each a list of
//! widgets in CloudTrail Lake's shape — `QueryStatement` with `'?'` parameters filled from
//! `QueryParameters` (`$StartTime$`, `$EndTime$`, `$Period$`), `ViewProperties` with the chart
//! (`View`: LineChart, BarChart, StackedBarChart, PieChart, Table, Number), its `Title` and
//! columns (`XAxisColumn`, `YAxisColumn`, `SeriesColumn`, `FilterColumn`). Store placeholders
//! (`{{eds}}`, `{{insights_eds}}`, …) as saved queries have them. Widgets run concurrently
//! (`run`); `report` renders the results into one self-contained HTML file, `server` serves
//! them as a live page.

pub mod report;
pub mod server;
pub mod svg;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::Error;
use crate::investigate::saved::{DefaultStores, SavedQuery};

include!(concat!(env!("OUT_DIR"), "/builtin_dashboards.rs"));

/// Charts a widget can be.
pub const VIEWS: &[&str] = &["LineChart", "BarChart", "StackedBarChart", "PieChart", "Table", "Number"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dashboard {
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub widgets: Vec<Widget>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Widget {
    pub query_statement: String,
    #[serde(default)]
    pub query_parameters: Vec<String>,
    pub view_properties: BTreeMap<String, String>,
}

impl Widget {
    pub fn title(&self) -> &str {
        self.view_properties.get("Title").map_or("(untitled)", String::as_str)
    }

    pub fn view(&self) -> &str {
        self.view_properties.get("View").map_or("Table", String::as_str)
    }
}

impl Dashboard {
    /// Parses and checks a dashboard file's text (`origin` names it in errors).
    pub fn parse(origin: &str, text: &str) -> Result<Self, Error> {
        let d: Dashboard = serde_json::from_str(text)
            .map_err(|e| Error::Usage(format!("dashboard {origin}: not a dashboard ({e})")))?;
        if d.widgets.is_empty() || d.widgets.len() > 10 {
            return Err(Error::Usage(format!("dashboard {origin}: 1 to 10 widgets, as in CloudTrail Lake")));
        }
        for (i, w) in d.widgets.iter().enumerate() {
            let at = |why: String| Error::Usage(format!("dashboard {origin}, widget {} ({}): {why}", i + 1, w.title()));
            if !VIEWS.contains(&w.view()) {
                return Err(at(format!("View {:?} is not one of {}", w.view(), VIEWS.join(", "))));
            }
            if let Some(p) =
                w.query_parameters.iter().find(|p| !["$StartTime$", "$EndTime$", "$Period$"].contains(&p.as_str()))
            {
                return Err(at(format!("query parameter {p} is not $StartTime$, $EndTime$ or $Period$")));
            }
            let marks = w.query_statement.matches("'?'").count();
            if marks != w.query_parameters.len() {
                return Err(at(format!("{marks} '?' marks but {} QueryParameters", w.query_parameters.len())));
            }
        }
        Ok(d)
    }
}

/// The built-in dashboards (the overview first), then those of `dir` (`*.json`; one with a
/// built-in's name replaces it).
pub fn load(dir: Option<&Path>) -> Result<Vec<Dashboard>, Error> {
    let mut all: Vec<Dashboard> = Vec::new();
    for (file, text) in BUILTIN_DASHBOARDS {
        all.push(Dashboard::parse(&format!("builtin:{file}"), text)?);
    }
    all.sort_by_key(|d| d.name != "overview");
    if let Some(dir) = dir {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::Usage(format!("cannot read dashboards in {}: {e}", dir.display())))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| Error::Usage(format!("cannot read dashboard {}: {e}", f.display())))?;
            let d = Dashboard::parse(&f.display().to_string(), &text)?;
            all.retain(|x| x.name != d.name);
            all.push(d);
        }
    }
    Ok(all)
}

/// Why `d` cannot run here (a widget names a store of a kind the store does not have, as the
/// Insights dashboard without an Insights store), if it cannot.
pub fn unavailable(d: &Dashboard, stores: &DefaultStores) -> Option<String> {
    let now = Utc::now();
    let range = Range { start: now - chrono::Duration::days(1), end: now };
    d.widgets.iter().find_map(|w| widget_sql(w, &range, stores).err()).map(|e| e.to_string())
}

/// A saved investigation run as a table widget (`report --investigation NAME`), with its
/// parameters' defaults.
pub async fn investigation(
    engine: &Engine,
    entry: &crate::investigate::library::Entry,
    stores: &DefaultStores,
) -> WidgetResult {
    let started = std::time::Instant::now();
    let sql = entry.query.render(&BTreeMap::new(), stores).map_err(|e| e.to_string());
    let outcome = match &sql {
        Ok(sql) => rows_of(engine, sql).await,
        Err(e) => Err(e.clone()),
    };
    let (columns, rows, error) = match outcome {
        Ok((c, r)) => (c, r, None),
        Err(e) => (Vec::new(), serde_json::Value::Array(Vec::new()), Some(e)),
    };
    WidgetResult {
        title: entry.name.clone(),
        view: "Table".into(),
        properties: BTreeMap::from([
            ("View".to_string(), "Table".to_string()),
            ("Title".to_string(), entry.name.clone()),
        ]),
        sql: sql.unwrap_or_default(),
        columns,
        rows,
        elapsed_ms: started.elapsed().as_millis() as u64,
        error,
    }
}

/// The time range widgets are run over.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Range {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Range {
    /// `$Period$`: the bucket of time charts, so a chart has tens to a few hundred points.
    pub fn period(&self) -> &'static str {
        match (self.end - self.start).num_hours() {
            h if h <= 6 => "minute",
            h if h <= 24 * 14 => "hour",
            _ => "day",
        }
    }
}

/// The SQL a widget runs over `range`: its `'?'` marks filled in order, then the store
/// placeholders.
pub fn widget_sql(w: &Widget, range: &Range, stores: &DefaultStores) -> Result<String, Error> {
    let mut sql = String::new();
    let mut rest = w.query_statement.as_str();
    for p in &w.query_parameters {
        let Some(at) = rest.find("'?'") else { break };
        let value = match p.as_str() {
            "$StartTime$" => range.start.format("%Y-%m-%d %H:%M:%S").to_string(),
            "$EndTime$" => range.end.format("%Y-%m-%d %H:%M:%S").to_string(),
            _ => range.period().to_string(),
        };
        sql.push_str(&rest[..at]);
        sql.push_str(&format!("'{value}'"));
        rest = &rest[at + 3..];
    }
    sql.push_str(rest);
    let q = SavedQuery::parse("widget", &sql).map_err(|e| Error::Usage(e.to_string()))?;
    q.render(&BTreeMap::new(), stores).map_err(|e| Error::Usage(e.to_string()))
}

/// One widget's outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WidgetResult {
    pub title: String,
    pub view: String,
    pub properties: BTreeMap<String, String>,
    pub sql: String,
    /// The result's column names, in order (rows are JSON objects, whose keys are not).
    pub columns: Vec<String>,
    /// The rows as `traillake query --format json` prints them.
    pub rows: serde_json::Value,
    pub elapsed_ms: u64,
    pub error: Option<String>,
}

/// A dashboard's widgets run over `range`, all at once.
pub async fn run(engine: &Engine, d: &Dashboard, range: &Range, stores: &DefaultStores) -> Vec<WidgetResult> {
    let runs = d.widgets.iter().map(|w| async move {
        let started = std::time::Instant::now();
        let sql = widget_sql(w, range, stores);
        let rows = match &sql {
            Ok(sql) => rows_of(engine, sql).await,
            Err(e) => Err(e.to_string()),
        };
        let (columns, rows, error) = match rows {
            Ok((c, r)) => (c, r, None),
            Err(e) => (Vec::new(), serde_json::Value::Array(Vec::new()), Some(e)),
        };
        WidgetResult {
            title: w.title().to_string(),
            view: w.view().to_string(),
            properties: w.view_properties.clone(),
            sql: sql.unwrap_or_default(),
            columns,
            rows,
            elapsed_ms: started.elapsed().as_millis() as u64,
            error,
        }
    });
    futures::future::join_all(runs).await
}

/// The result's column names and its rows as JSON.
pub(crate) async fn rows_of(engine: &Engine, sql: &str) -> Result<(Vec<String>, serde_json::Value), String> {
    let df = engine.query(sql).await.map_err(|e| e.to_string())?;
    let columns = df.schema().fields().iter().map(|f| f.name().clone()).collect();
    let batches = df.collect().await.map_err(|e| e.to_string())?;
    let json =
        crate::output::write_batches(Vec::new(), crate::output::Format::Json, &batches).map_err(|e| e.to_string())?;
    let rows = match json.is_empty() {
        true => serde_json::Value::Array(Vec::new()),
        false => serde_json::from_slice(&json).map_err(|e| e.to_string())?,
    };
    Ok((columns, rows))
}
