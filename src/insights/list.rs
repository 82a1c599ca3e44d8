//! Reading Insights back: each Insight (its Start and End events joined by `sharedEventID`)
//! with its statistics and top attributions, and the Insights still open (for a run to start
//! early enough to close them).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use serde::Serialize;

use super::{table_ref, InsightsError};
use crate::engine::Engine;
use crate::schema::Kind;
use crate::store::{EdsRecord, Store};

/// One Insight.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InsightSummary {
    pub shared_event_id: String,
    /// The Insights store holding it.
    pub eds: String,
    pub insight_type: String,
    pub event_source: String,
    pub event_name: String,
    pub error_code: Option<String>,
    pub aws_region: Option<String>,
    pub recipient_account_id: Option<String>,
    /// The store the Insight was computed over (an ARN), when known.
    pub insight_source: Option<String>,
    pub start: String,
    /// `None` while it is still open.
    pub end: Option<String>,
    pub baseline_average: Option<f64>,
    pub insight_average: Option<f64>,
    pub insight_duration_minutes: Option<i64>,
    /// The top contributor per attribute (userIdentityArn, userAgent, errorCode) with its
    /// events per minute in the Insight.
    pub top_attributions: Vec<(String, String, f64)>,
}

/// Every Insight in the Insights stores (or in `source`'s destination, computed over
/// `source`) that was under way at or after `since`, oldest first.
pub async fn list(
    store: &Store,
    source: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<InsightSummary>, InsightsError> {
    let engine = Engine::open(store).await?;
    let (stores, from): (Vec<EdsRecord>, Option<String>) = match source {
        Some(key) => {
            let rec = store.resolve(key).await?;
            match rec.kind {
                Kind::Insights => (vec![rec], None),
                Kind::Cloudtrail => {
                    let dest = rec.insights_destination.as_deref().ok_or_else(|| {
                        InsightsError::Usage(format!(
                            "{} has no Insights set up (see `traillake insights run --help`)",
                            rec.name
                        ))
                    })?;
                    (vec![store.resolve(dest).await?], Some(rec.arn.clone()))
                }
                other => {
                    return Err(InsightsError::Usage(format!(
                        "{} holds {other} events, which have no Insights",
                        rec.name
                    )))
                }
            }
        }
        None => (engine.event_data_stores().iter().filter(|r| r.kind == Kind::Insights).cloned().collect(), None),
    };
    let mut out = Vec::new();
    for rec in &stores {
        out.extend(read(&engine, rec, from.as_deref()).await?);
    }
    if let Some(since) = since {
        let since = since.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        out.retain(|s| s.end.as_ref().is_none_or(|e| *e >= since));
    }
    out.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.shared_event_id.cmp(&b.shared_event_id)));
    Ok(out)
}

/// The start (a minute) of the earliest Insight over `source` that is still open, or that was
/// under way at minute `at`: a run judging from `at` must start there instead, so that it finds
/// the same Insight again (same ids) rather than a second one starting in its middle.
pub(super) async fn earliest_open_start(
    engine: &Engine,
    source: &EdsRecord,
    destination: &EdsRecord,
    at: i64,
) -> Result<i64, InsightsError> {
    let at_text = super::rfc3339(at);
    let mut earliest = at;
    for s in read(engine, destination, Some(&source.arn)).await? {
        let covers = s.start < at_text && s.end.as_ref().is_none_or(|e| *e > at_text);
        if covers {
            if let Ok(t) = DateTime::parse_from_rfc3339(&s.start) {
                earliest = earliest.min(t.timestamp().div_euclid(60));
            }
        }
    }
    Ok(earliest)
}

/// The Insights in the store `rec` (those computed over the store `source`, an ARN, when given).
async fn read(engine: &Engine, rec: &EdsRecord, source: Option<&str>) -> Result<Vec<InsightSummary>, InsightsError> {
    let condition = source.map(|arn| format!(" WHERE insightsource = '{}'", arn.replace('\'', "''")));
    let sql = format!(
        "SELECT sharedeventid, insightstate, eventtime, insighttype, insighteventsource, insighteventname, \
         insighterrorcode, awsregion, recipientaccountid, insightsource, insightcontext.baselineaverage, \
         insightcontext.insightaverage, insightcontext.insightduration, insightcontext.attributions FROM {}{}",
        table_ref(rec),
        condition.unwrap_or_default()
    );
    let batches = engine.context().sql(&sql).await?.collect().await?;
    summaries(&rec.name, &batches)
}

/// Start and End rows joined into Insights.
fn summaries(eds: &str, batches: &[RecordBatch]) -> Result<Vec<InsightSummary>, InsightsError> {
    let mut by_id: BTreeMap<String, InsightSummary> = BTreeMap::new();
    for b in batches {
        let text = |i: usize| -> Result<ArrayRef, InsightsError> { Ok(cast(b.column(i), &DataType::Utf8)?) };
        let texts: Vec<ArrayRef> = [0, 1, 3, 4, 5, 6, 7, 8, 9].into_iter().map(text).collect::<Result<_, _>>()?;
        let t = |k: usize, row: usize| -> Option<String> {
            let a = texts[k].as_string::<i32>();
            a.is_valid(row).then(|| a.value(row).to_string())
        };
        let times = cast(b.column(2), &DataType::Timestamp(TimeUnit::Second, None))?;
        let times = cast(&times, &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        let float = |i: usize| cast(b.column(i), &DataType::Float64);
        let (baseline, insight) = (float(10)?, float(11)?);
        let (baseline, insight) = (baseline.as_primitive::<Float64Type>(), insight.as_primitive::<Float64Type>());
        let duration = cast(b.column(12), &DataType::Int64)?;
        let duration = duration.as_primitive::<Int64Type>();
        let attributions = b.column(13).as_list::<i32>();
        for row in 0..b.num_rows() {
            let Some(id) = t(0, row) else { continue };
            let time = DateTime::from_timestamp(times.value(row), 0)
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let s = by_id.entry(id.clone()).or_insert_with(|| InsightSummary {
                shared_event_id: id,
                eds: eds.to_string(),
                start: time.clone(),
                ..Default::default()
            });
            s.insight_type = t(2, row).unwrap_or_default();
            s.event_source = t(3, row).unwrap_or_default();
            s.event_name = t(4, row).unwrap_or_default();
            s.error_code = s.error_code.take().or(t(5, row));
            s.aws_region = t(6, row);
            s.recipient_account_id = t(7, row);
            s.insight_source = t(8, row);
            let value = |a: &datafusion::arrow::array::Float64Array| a.is_valid(row).then(|| a.value(row));
            let is_end = t(1, row).as_deref() == Some("End");
            if is_end {
                s.end = Some(time.clone());
            } else {
                s.start = time.clone();
            }
            // The End event's figures cover the whole Insight; a Start's only its beginning.
            if is_end || s.insight_average.is_none() {
                s.baseline_average = value(baseline);
                s.insight_average = value(insight);
                s.insight_duration_minutes = duration.is_valid(row).then(|| duration.value(row));
                if attributions.is_valid(row) {
                    s.top_attributions = top_attributions(attributions.value(row).as_struct())?;
                }
            }
        }
    }
    Ok(by_id.into_values().collect())
}

fn top_attributions(list: &StructArray) -> Result<Vec<(String, String, f64)>, InsightsError> {
    let field = |name: &str| list.column_by_name(name).cloned();
    let (Some(attribute), Some(value), Some(average)) =
        (field("attribute"), field("insightvalue"), field("insightaverage"))
    else {
        return Ok(Vec::new());
    };
    let attribute = cast(&attribute, &DataType::Utf8)?;
    let value = cast(&value, &DataType::Utf8)?;
    let average = cast(&average, &DataType::Float64)?;
    let (attribute, value, average) =
        (attribute.as_string::<i32>(), value.as_string::<i32>(), average.as_primitive::<Float64Type>());
    Ok((0..list.len())
        .filter(|&i| attribute.is_valid(i) && value.is_valid(i))
        .map(|i| (attribute.value(i).to_string(), value.value(i).to_string(), average.value(i)))
        .collect())
}
