//! An Insight as Lake's Insights events: a Start event when the unusual activity begins and an
//! End event (same `sharedEventID`) when it is over, with the statistics and the attributions
//! (top callers, user agents and error codes in the Insight against the baseline).

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use serde_json::{json, Value as Json};

use super::detect::{Burst, Params};
use super::{rfc3339, table_ref, timestamp_literal, type_condition, InsightsError, SeriesKey};
use crate::engine::Engine;
use crate::ingest::kinds::derived_id;
use crate::store::catalog::InsightType;
use crate::store::EdsRecord;

/// Lake's `eventVersion` of Insights events.
const EVENT_VERSION: &str = "1.08";
/// Contributors listed per attribute.
const TOP: usize = 5;

/// One Insight found, with what it was found in.
pub(super) struct Found<'a> {
    pub source: &'a EdsRecord,
    pub kind: InsightType,
    pub key: &'a SeriesKey,
    pub burst: &'a Burst,
    pub params: &'a Params,
}

/// Who and what contributed, per attribute: (value, events per minute), largest first.
#[derive(Debug, Default)]
pub(super) struct Attributions {
    /// In the Insight's first minutes (the Start event's view) and over the whole Insight.
    start: Vec<Attribution>,
    whole: Vec<Attribution>,
}

#[derive(Debug, Default)]
struct Attribution {
    attribute: &'static str,
    insight: Vec<(String, f64)>,
    baseline: Vec<(String, f64)>,
}

const ATTRIBUTES: [&str; 3] = ["userIdentityArn", "userAgent", "errorCode"];

/// Counts the Insight's events by caller, user agent and error code, in the baseline before
/// it, in its first minutes and over all of it.
pub(super) async fn attributions(engine: &Engine, f: &Found<'_>) -> Result<Attributions, InsightsError> {
    let b = f.burst;
    let baseline_from = b.start - i64::from(f.params.baseline);
    let until = b.end.map(|e| format!(" AND eventtime < {}", timestamp_literal(e))).unwrap_or_default();
    let sql = format!(
        "SELECT useridentity.arn, useragent, errorcode, \
         CASE WHEN eventtime < {start} THEN 0 WHEN eventtime < {seen} THEN 1 ELSE 2 END AS part, count(*) AS n \
         FROM {table} WHERE eventtime >= {from}{until} AND {account} AND {region} \
         AND eventsource = {source} AND eventname = {name} AND {condition} GROUP BY 1, 2, 3, 4",
        start = timestamp_literal(b.start),
        seen = timestamp_literal(b.detected + 1),
        table = table_ref(f.source),
        from = timestamp_literal(baseline_from),
        account = same("recipientaccountid", f.key.account.as_deref()),
        region = same("awsregion", f.key.region.as_deref()),
        source = quote(&f.key.event_source),
        name = quote(&f.key.event_name),
        condition = type_condition(f.kind),
    );
    // (attribute, value) → events in the baseline, the first minutes, the rest.
    let mut counts: std::collections::BTreeMap<(usize, String), [u64; 3]> = Default::default();
    for batch in engine.context().sql(&sql).await?.collect().await? {
        let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
        let columns = [text(0)?, text(1)?, text(2)?];
        let part = cast(batch.column(3), &DataType::Int64)?;
        let n = cast(batch.column(4), &DataType::Int64)?;
        let (part, n) = (part.as_primitive::<Int64Type>(), n.as_primitive::<Int64Type>());
        for row in 0..batch.num_rows() {
            for (a, column) in columns.iter().enumerate() {
                let c = column.as_string::<i32>();
                // As AWS writes it: a missing value is the text "null".
                let value = if c.is_valid(row) { c.value(row).to_string() } else { "null".to_string() };
                let slot = counts.entry((a, value)).or_default();
                slot[part.value(row).clamp(0, 2) as usize] += n.value(row).max(0) as u64;
            }
        }
    }
    let baseline_minutes = f64::from(f.params.baseline.max(1));
    let start_minutes = (b.detected + 1 - b.start).max(1) as f64;
    let whole_minutes = (b.end.unwrap_or(b.detected + 1) - b.start).max(1) as f64;
    let top = |a: usize, per: &dyn Fn(&[u64; 3]) -> f64| -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = counts
            .iter()
            .filter(|((attr, _), _)| *attr == a)
            .map(|((_, value), n)| (value.clone(), per(n)))
            .filter(|(_, avg)| *avg > 0.0)
            .collect();
        v.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        v.truncate(TOP);
        v
    };
    let mut out = Attributions::default();
    for (a, attribute) in ATTRIBUTES.into_iter().enumerate() {
        let baseline = top(a, &|n| n[0] as f64 / baseline_minutes);
        out.start.push(Attribution {
            attribute,
            insight: top(a, &|n| n[1] as f64 / start_minutes),
            baseline: baseline.clone(),
        });
        out.whole.push(Attribution { attribute, insight: top(a, &|n| (n[1] + n[2]) as f64 / whole_minutes), baseline });
    }
    Ok(out)
}

/// The Start event, and the End event once the Insight is over, as event JSON in Lake's shape.
pub(super) fn records(f: &Found<'_>, a: &Attributions) -> Vec<String> {
    let b = f.burst;
    let shared = derived_id(&[
        "traillake-insight",
        &f.source.id.to_string(),
        f.kind.name(),
        f.key.account.as_deref().unwrap_or("-"),
        f.key.region.as_deref().unwrap_or("-"),
        &f.key.event_source,
        &f.key.event_name,
        &b.start.to_string(),
    ]);
    // The error code of an error-rate Insight: the commonest one as it began.
    let error_code = match f.kind {
        InsightType::ApiErrorRateInsight => {
            a.start.iter().find(|x| x.attribute == "errorCode").and_then(|x| x.insight.first()).map(|(v, _)| v.clone())
        }
        InsightType::ApiCallRateInsight => None,
    };
    let event = |state: &str, time: i64, insight_average: f64, duration: i64, attributions: &[Attribution]| {
        json!({
            "eventVersion": EVENT_VERSION,
            "eventCategory": "Insight",
            "eventType": "AwsCloudTrailInsight",
            "eventID": derived_id(&[&shared, state]),
            "eventTime": rfc3339(time),
            "awsRegion": f.key.region,
            "recipientAccountId": f.key.account,
            "sharedEventID": shared,
            "insightSource": f.source.arn,
            "insightState": state,
            "insightEventSource": f.key.event_source,
            "insightEventName": f.key.event_name,
            "insightErrorCode": error_code,
            "insightType": f.kind.name(),
            "insightContext": {
                "baselineAverage": b.baseline_average,
                "insightAverage": insight_average,
                "baselineDuration": f.params.baseline,
                "insightDuration": duration,
                "attributions": attributions.iter().map(attribution_json).collect::<Vec<_>>(),
            },
        })
        .to_string()
    };
    let mut out = vec![event("Start", b.start, b.start_average, b.detected + 1 - b.start, &a.start)];
    if let Some(end) = b.end {
        out.push(event("End", end, b.average, end - b.start, &a.whole));
    }
    out
}

fn attribution_json(a: &Attribution) -> Json {
    let list = |l: &[(String, f64)]| l.iter().map(|(v, avg)| json!({"value": v, "average": avg})).collect::<Vec<_>>();
    let mut o = json!({
        "attribute": a.attribute,
        "insight": list(&a.insight),
        "baseline": list(&a.baseline),
    });
    // Lake's single-contributor fields: the top one.
    if let Some((v, avg)) = a.insight.first() {
        o["insightValue"] = json!(v);
        o["insightAverage"] = json!(avg);
    }
    if let Some((v, avg)) = a.baseline.first() {
        o["baselineValue"] = json!(v);
        o["baselineAverage"] = json!(avg);
    }
    o
}

/// A SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `column` equals `value`, a missing value matching a missing one.
fn same(column: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{column} = {}", quote(v)),
        None => format!("{column} IS NULL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_derived_from_their_parts() {
        let a = derived_id(&["x", "y"]);
        assert_eq!(a, derived_id(&["x", "y"]));
        assert_ne!(a, derived_id(&["xy", ""]));
        let u = uuid::Uuid::parse_str(&a).expect("uuid");
        assert_eq!(u.get_version_num(), 8);
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(same("awsregion", None), "awsregion IS NULL");
    }
}
