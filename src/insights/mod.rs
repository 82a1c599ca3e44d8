//! CloudTrail Insights over a CloudTrail event data store: per-minute rates of write management
//! calls (`ApiCallRateInsight`) and of management calls that failed (`ApiErrorRateInsight`),
//! per API, account and Region, judged against a baseline of the week before (`detect`); each
//! Insight becomes a Start and an End event in Lake's Insights shape (`events`), stored in the
//! destination store exactly once.
//!
//! Runs are incremental and deterministic: a run looks again from a little before where the
//! last one stopped (or from the start of an Insight still open), ids are derived from what
//! was found, so the same history always gives the same events and a re-run adds nothing.

pub mod detect;
mod events;
mod list;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use serde::Serialize;

use crate::engine::{Engine, EngineError};
use crate::ingest::IngestError;
use crate::schema::Kind;
use crate::store::catalog::InsightType;
use crate::store::{table, EdsRecord, Store, StoreError};
pub use detect::Params;
pub use list::{list, InsightSummary};

#[derive(Debug, thiserror::Error)]
pub enum InsightsError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<datafusion::error::DataFusionError> for InsightsError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        InsightsError::Engine(e.into())
    }
}

impl From<datafusion::arrow::error::ArrowError> for InsightsError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        InsightsError::Internal(e.to_string())
    }
}

/// How far before the last run's end a run looks again: events delivered late (CloudTrail
/// delivers within about 15 minutes) can still make an Insight there.
const LOOK_BACK_MINUTES: i64 = 60;

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub source: String,
    pub destination: String,
    /// The minutes judged (UTC, RFC 3339).
    pub from: Option<String>,
    pub until: Option<String>,
    pub series: u64,
    pub insights_found: u64,
    pub still_open: u64,
    pub events_added: u64,
    pub dry_run: bool,
    pub elapsed_seconds: f64,
    /// The Insights events found (also those already stored), in Lake's shape.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<serde_json::Value>,
}

impl RunReport {
    pub fn summary(&self) -> String {
        match (&self.from, &self.until) {
            (Some(from), Some(until)) if self.dry_run => format!(
                "Insights over {} ({from} .. {until}): {} series judged, {} Insights ({} still open); \
                 dry run, nothing stored; {:.2}s",
                self.source, self.series, self.insights_found, self.still_open, self.elapsed_seconds
            ),
            (Some(from), Some(until)) => format!(
                "Insights over {} ({from} .. {until}): {} series judged, {} Insights ({} still open), \
                 {} events added to {}; {:.2}s",
                self.source,
                self.series,
                self.insights_found,
                self.still_open,
                self.events_added,
                self.destination,
                self.elapsed_seconds
            ),
            _ => format!("Insights over {}: no events to judge yet", self.source),
        }
    }
}

/// Computes the Insights `source` is set up for (`eds update --insight-selectors
/// --insights-destination`) over its events since `since` (default: a little before where the
/// last run stopped) and stores them in its destination.
pub async fn run(
    store: &Store,
    source: &str,
    since: Option<DateTime<Utc>>,
    params: &Params,
    dry_run: bool,
) -> Result<RunReport, InsightsError> {
    let started = std::time::Instant::now();
    let rec = store.resolve(source).await?;
    let (types, destination) = setup(store, &rec).await?;
    let mut report =
        RunReport { source: rec.name.clone(), destination: destination.name.clone(), dry_run, ..Default::default() };
    let t = table::open(store, &rec).await?;
    let figures = table::figures(&t)?;
    let (Some(first), Some(last)) = (figures.first_event.as_deref(), figures.last_event.as_deref()) else {
        return Ok(report);
    };
    let history_start = minute_of(first)?;
    let data_end = minute_of(last)?;
    let engine = Engine::open(store).await?;
    let from = match since {
        Some(t) => t.timestamp().div_euclid(60),
        None => match rec.insights_checked_until {
            Some(t) => t.timestamp().div_euclid(60) - LOOK_BACK_MINUTES - i64::from(params.window),
            None => history_start,
        },
    };
    let from = list::earliest_open_start(&engine, &rec, &destination, from).await?.min(from).max(history_start);
    let load_from = from - i64::from(params.baseline) - i64::from(params.window);
    report.from = Some(rfc3339(from));
    report.until = Some(rfc3339(data_end));

    let mut records = Vec::new();
    for kind in types {
        let series = load_series(&engine, &rec, kind, load_from.max(history_start), params.min_events).await?;
        for (key, counts) in series.by_key {
            report.series += 1;
            let dense = dense(&counts, series.first, data_end);
            for burst in detect::detect(&dense, series.first, history_start, from, params) {
                report.insights_found += 1;
                report.still_open += u64::from(burst.end.is_none());
                let found = events::Found { source: &rec, kind, key: &key, burst: &burst, params };
                let attributions = events::attributions(&engine, &found).await?;
                records.extend(events::records(&found, &attributions));
            }
        }
    }
    report.events = records.iter().filter_map(|r| serde_json::from_str(r).ok()).collect();
    if !dry_run {
        // Nothing found, nothing written: a run after every ingest must not add empty commits.
        if !records.is_empty() {
            let key = format!("insights:{}:{}..{}", rec.id, rfc3339(from), rfc3339(data_end));
            let added = crate::ingest::ingest_records(store, &destination.id.to_string(), &key, &records).await?;
            report.events_added = added.events_added;
        }
        let until = DateTime::from_timestamp(data_end * 60, 0).unwrap_or_default();
        store.record_insights_checked(&rec.id.to_string(), until).await?;
    }
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The Insights types and destination `rec` is set up for.
async fn setup(store: &Store, rec: &EdsRecord) -> Result<(Vec<InsightType>, EdsRecord), InsightsError> {
    if rec.kind != Kind::Cloudtrail {
        return Err(InsightsError::Usage(format!(
            "Insights are computed over CloudTrail event data stores; {} holds {} events",
            rec.name, rec.kind
        )));
    }
    let (false, Some(dest)) = (rec.insight_selectors.is_empty(), rec.insights_destination.as_deref()) else {
        return Err(InsightsError::Usage(format!(
            "{} has no Insights set up: `traillake eds create INSIGHTS --kind insights`, then `traillake eds update {} \
             --insight-selectors '[{{\"InsightType\":\"ApiCallRateInsight\"}},{{\"InsightType\":\"ApiErrorRateInsight\"}}]' \
             --insights-destination INSIGHTS`",
            rec.name, rec.name
        )));
    };
    let destination = store.resolve(dest).await.map_err(|_| {
        InsightsError::Usage(format!(
            "the Insights destination of {} ({dest}) no longer exists; `traillake eds update {} --insights-destination NAME` names another",
            rec.name, rec.name
        ))
    })?;
    Ok((rec.insight_selectors.iter().map(|s| s.insight_type).collect(), destination))
}

/// One series: an API in an account and Region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub account: Option<String>,
    pub region: Option<String>,
    pub event_source: String,
    pub event_name: String,
}

/// Per-minute counts of every series with enough events to ever make an Insight.
struct Series {
    /// The first minute loaded.
    first: i64,
    by_key: Vec<(SeriesKey, Vec<(i64, u32)>)>,
}

/// The events an Insights type counts, as a SQL condition: management events (old events
/// without the category fields count as management), writes for the call rate, failures for
/// the error rate.
pub(crate) fn type_condition(kind: InsightType) -> &'static str {
    match kind {
        InsightType::ApiCallRateInsight => {
            "coalesce(managementevent, true) AND coalesce(eventcategory, 'Management') = 'Management' AND readonly = false"
        }
        InsightType::ApiErrorRateInsight => {
            "coalesce(managementevent, true) AND coalesce(eventcategory, 'Management') = 'Management' AND errorcode IS NOT NULL"
        }
    }
}

/// A table reference DataFusion resolves to the store's snapshot.
pub(crate) fn table_ref(rec: &EdsRecord) -> String {
    format!("\"{}\"", rec.id)
}

pub(crate) fn timestamp_literal(minute: i64) -> String {
    let t = DateTime::from_timestamp(minute * 60, 0).unwrap_or_default();
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%SZ"))
}

async fn load_series(
    engine: &Engine,
    rec: &EdsRecord,
    kind: InsightType,
    from: i64,
    min_events: u32,
) -> Result<Series, InsightsError> {
    let sql = format!(
        "SELECT recipientaccountid, awsregion, eventsource, eventname, date_trunc('minute', eventtime) AS minute, \
         count(*) AS n FROM {} WHERE eventtime >= {} AND eventsource IS NOT NULL AND eventname IS NOT NULL AND {} \
         GROUP BY 1, 2, 3, 4, 5",
        table_ref(rec),
        timestamp_literal(from),
        type_condition(kind)
    );
    let batches = engine.context().sql(&sql).await?.collect().await?;
    let mut by_key: HashMap<SeriesKey, Vec<(i64, u32)>> = HashMap::new();
    for b in &batches {
        let text = |i: usize| -> Result<_, InsightsError> { Ok(cast(b.column(i), &DataType::Utf8)?) };
        let (account, region, source, name) = (text(0)?, text(1)?, text(2)?, text(3)?);
        let (account, region, source, name) =
            (account.as_string::<i32>(), region.as_string::<i32>(), source.as_string::<i32>(), name.as_string::<i32>());
        let minutes = minutes_of(b, 4)?;
        let counts = cast(b.column(5), &DataType::Int64)?;
        let counts = counts.as_primitive::<Int64Type>();
        for (row, &minute) in minutes.iter().enumerate() {
            let opt = |a: &datafusion::arrow::array::StringArray| a.is_valid(row).then(|| a.value(row).to_string());
            let key = SeriesKey {
                account: opt(account),
                region: opt(region),
                event_source: source.value(row).to_string(),
                event_name: name.value(row).to_string(),
            };
            by_key.entry(key).or_default().push((minute, counts.value(row).clamp(0, u32::MAX as i64) as u32));
        }
    }
    let mut by_key: Vec<_> = by_key.into_iter().collect();
    // A series with fewer events than one window needs can never make an Insight.
    by_key.retain(|(_, c)| c.iter().map(|&(_, n)| u64::from(n)).sum::<u64>() >= u64::from(min_events.max(1)));
    by_key.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, c) in &mut by_key {
        c.sort_unstable();
    }
    Ok(Series { first: from, by_key })
}

/// Column `i` of `b` (a timestamp) as minutes since the epoch.
fn minutes_of(b: &RecordBatch, i: usize) -> Result<Vec<i64>, InsightsError> {
    let seconds = cast(b.column(i), &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Second, None))?;
    let seconds = cast(&seconds, &DataType::Int64)?;
    Ok(seconds.as_primitive::<Int64Type>().iter().map(|s| s.unwrap_or_default().div_euclid(60)).collect())
}

/// Sparse (minute, count) pairs as one count per minute from `first` to `last`.
fn dense(counts: &[(i64, u32)], first: i64, last: i64) -> Vec<u32> {
    let mut out = vec![0u32; (last - first + 1).max(0) as usize];
    for &(m, n) in counts {
        if let Some(slot) = usize::try_from(m - first).ok().and_then(|i| out.get_mut(i)) {
            *slot += n;
        }
    }
    out
}

fn minute_of(iso: &str) -> Result<i64, InsightsError> {
    let t = DateTime::parse_from_rfc3339(iso)
        .map_err(|e| InsightsError::Internal(format!("event time {iso} in the log: {e}")))?;
    Ok(t.timestamp().div_euclid(60))
}

pub(crate) fn rfc3339(minute: i64) -> String {
    DateTime::from_timestamp(minute * 60, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
