//! Which kind of event data store a record belongs in, and the records whose delivered shape is
//! not Lake's: a trail's Insights record carries its details in a nested `insightDetails`
//! object, where a Lake Insights store has flat `insight*` columns. Such a record is rewritten
//! into Lake's shape before the schema-driven decoder sees it; records already in Lake's shape
//! (exports from Lake, Insights traillake detects) pass unchanged.

use serde_json::{json, Map, Value as Json};

use crate::schema::Kind;
use crate::tape::{Kind as JsonKind, Value};

/// The kind of store a record belongs in, from its `eventType` (CloudTrail's own records give
/// it; a record without one is a CloudTrail event).
pub fn kind_of(event_type: Option<Value<'_>>) -> Kind {
    let Some(t) = event_type.filter(|t| t.kind() == JsonKind::String) else { return Kind::Cloudtrail };
    let t = t.text();
    Kind::ALL.into_iter().find(|k| k.event_type() == Some(t.as_ref())).unwrap_or(Kind::Cloudtrail)
}

/// The record in Lake's shape for a store of `kind`, when its delivered shape differs; `None`
/// when it can be decoded as it is.
pub fn to_lake_shape(kind: Kind, record: Value<'_>) -> Option<String> {
    match kind {
        Kind::Insights => member(record, "insightDetails").filter(|d| d.kind() == JsonKind::Object).map(|_| {
            let parsed: Json = serde_json::from_str(record.raw()).unwrap_or(Json::Null);
            flatten_insight(&parsed).to_string()
        }),
        _ => None,
    }
}

/// The value of `key` in an object.
pub fn member<'a>(object: Value<'a>, key: &str) -> Option<Value<'a>> {
    object.entries().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A trail Insights record (`insightDetails{state, eventSource, …, insightContext{statistics,
/// attributions}}`) as a Lake Insights event (`insightState`, `insightEventSource`, …,
/// `insightContext{baselineAverage, …, attributions}`).
fn flatten_insight(record: &Json) -> Json {
    let mut out = Map::new();
    if let Json::Object(top) = record {
        for (k, v) in top {
            if k != "insightDetails" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.entry("eventCategory").or_insert_with(|| json!("Insight"));
    let details = &record["insightDetails"];
    for (from, to) in [
        ("state", "insightState"),
        ("eventSource", "insightEventSource"),
        ("eventName", "insightEventName"),
        ("errorCode", "insightErrorCode"),
        ("insightType", "insightType"),
    ] {
        if let Some(v) = details.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    let context = &details["insightContext"];
    let stats = &context["statistics"];
    let mut flat = Map::new();
    for (name, v) in [
        ("baselineAverage", &stats["baseline"]["average"]),
        ("insightAverage", &stats["insight"]["average"]),
        ("baselineDuration", &stats["baselineDuration"]),
        ("insightDuration", &stats["insightDuration"]),
    ] {
        if !v.is_null() {
            flat.insert(name.into(), v.clone());
        }
    }
    if let Some(attributions) = context["attributions"].as_array() {
        let list: Vec<Json> = attributions.iter().map(flatten_attribution).collect();
        flat.insert("attributions".into(), Json::Array(list));
    }
    if !flat.is_empty() {
        out.insert("insightContext".into(), Json::Object(flat));
    }
    Json::Object(out)
}

/// One attribution, with Lake's single-contributor fields filled from the top contributor.
fn flatten_attribution(a: &Json) -> Json {
    let mut out = a.as_object().cloned().unwrap_or_default();
    for (list, value, average) in
        [("insight", "insightValue", "insightAverage"), ("baseline", "baselineValue", "baselineAverage")]
    {
        if let Some(top) = a[list].as_array().and_then(|l| l.first()) {
            out.entry(value).or_insert_with(|| top["value"].clone());
            out.entry(average).or_insert_with(|| top["average"].clone());
        }
    }
    Json::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::Tape;

    #[test]
    fn trail_insight_records_are_flattened_into_lake_columns() {
        let text = r#"{"eventVersion":"1.08","eventTime":"2022-04-12T16:10:00Z","eventType":"AwsCloudTrailInsight",
            "eventID":"e1","sharedEventID":"s1","insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com",
            "eventName":"RunInstances","insightType":"ApiCallRateInsight","insightContext":{"statistics":
            {"baseline":{"average":0.5},"insight":{"average":9.0},"insightDuration":3,"baselineDuration":10080},
            "attributions":[{"attribute":"userAgent","insight":[{"value":"aws-cli","average":8.0}],"baseline":[]}]}}}"#;
        let mut tape = Tape::default();
        let doc = tape.parse(text).expect("json");
        assert_eq!(kind_of(member(doc.root(), "eventType")), Kind::Insights);
        let flat: Json =
            serde_json::from_str(&to_lake_shape(Kind::Insights, doc.root()).expect("rewritten")).expect("json");
        assert_eq!(flat["insightState"], "Start");
        assert_eq!(flat["insightEventName"], "RunInstances");
        assert_eq!(flat["eventCategory"], "Insight");
        assert_eq!(flat["insightContext"]["baselineDuration"], 10080);
        assert_eq!(flat["insightContext"]["insightAverage"], 9.0);
        assert_eq!(flat["insightContext"]["attributions"][0]["insightValue"], "aws-cli");
        assert!(flat["insightContext"]["attributions"][0].get("baselineValue").is_none());
        assert!(flat.get("insightDetails").is_none());

        let lake = r#"{"eventType":"AwsCloudTrailInsight","insightState":"End"}"#;
        let doc = tape.parse(lake).expect("json");
        assert_eq!(to_lake_shape(Kind::Insights, doc.root()), None, "already in Lake's shape");
        let doc = tape.parse(r#"{"eventName":"GetObject"}"#).expect("json");
        assert_eq!(kind_of(member(doc.root(), "eventType")), Kind::Cloudtrail);
    }
}
