//! Event history (LookupEvents, answered like `traillake lookup` over the store it would choose)
//! and SearchSampleQueries over the investigation library.

use futures::TryStreamExt;
use serde_json::{json, Value};

use super::{string, Api, ApiError};
use crate::investigate::lookup::{self, LookupRequest};
use crate::schema::Kind;

/// Events LookupEvents returns at most per page (AWS: 50).
const MAX_EVENTS: u64 = 50;

pub(super) async fn lookup_events(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let attribute = match input.get("LookupAttributes").and_then(Value::as_array).map(Vec::as_slice) {
        None | Some([]) => None,
        Some([one]) => {
            let text = json!([one]).to_string();
            Some(
                lookup::parse_attribute(&text)
                    .map_err(|e| ApiError::new("InvalidLookupAttributesException", &e.to_string()))?,
            )
        }
        Some(_) => {
            return Err(ApiError::new("InvalidLookupAttributesException", "only one lookup attribute is allowed"))
        }
    };
    match input.get("EventCategory").and_then(Value::as_str) {
        None => {}
        Some("insight") => {
            return Err(ApiError::new(
                "InvalidEventCategoryException",
                "Event history of Insights events is not served here: query the Insights event data store",
            ))
        }
        Some(_) => return Err(ApiError::new("InvalidEventCategoryException", "EventCategory must be insight")),
    }
    let time = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
        match input.get(name).and_then(Value::as_f64) {
            None => Ok(None),
            Some(s) => chrono::DateTime::from_timestamp_millis((s * 1000.0) as i64)
                .map(Some)
                .ok_or_else(|| ApiError::new("InvalidTimeRangeException", &format!("{name} is not a time"))),
        }
    };
    let page = input.get("MaxResults").and_then(Value::as_u64).unwrap_or(MAX_EVENTS).clamp(1, MAX_EVENTS) as usize;
    let offset = match string(input, "NextToken") {
        None => 0,
        Some(t) => super::queries::read_offset(t, "lookup")?,
    };
    let request = LookupRequest::new(attribute, time("StartTime")?, time("EndTime")?, offset + page + 1);
    if request.start > request.end {
        return Err(ApiError::new("InvalidTimeRangeException", "StartTime is after EndTime"));
    }
    let eds = lookup_store(api).await?;
    let engine = api.engines.get().await;
    let planned = engine.plan(&lookup::sql(&request, &eds)).await.map_err(|e| ApiError::internal(&e.to_string()))?;
    let stream = planned.execute().await.map_err(|e| ApiError::internal(&e.to_string()))?;
    let batches: Vec<_> = stream.try_collect().await.map_err(|e| ApiError::internal(&e.to_string()))?;
    let json_rows = crate::output::write_batches(Vec::new(), crate::output::Format::Json, &batches)
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    let rows: Vec<Value> = serde_json::from_slice(&json_rows).map_err(|e| ApiError::internal(&e.to_string()))?;
    let more = rows.len() > offset + page;
    let shown: Vec<Value> = rows.into_iter().skip(offset).take(page).collect();
    let mut events = lookup::aws_json(&shown)["Events"].as_array().cloned().unwrap_or_default();
    // On the wire, times are epoch seconds (the AWS CLI prints them as text).
    for e in &mut events {
        if let Some(t) = e["EventTime"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
            e["EventTime"] = json!(t.timestamp());
        }
    }
    let mut out = json!({ "Events": events });
    if more {
        out["NextToken"] = json!(super::queries::offset_token("lookup", offset + page));
    }
    Ok(out)
}

/// The store Event history reads: the one named `default`, or the only CloudTrail store.
async fn lookup_store(api: &Api) -> Result<String, ApiError> {
    match api.store.default_eds().await.map_err(|e| ApiError::internal(&e.to_string()))? {
        Some(r) if r.kind == Kind::Cloudtrail => Ok(r.id.to_string()),
        _ => Err(ApiError::new(
            "InvalidParameterException",
            "Event history needs one CloudTrail event data store: name one `default`, or keep only one",
        )),
    }
}

/// The investigation library, searched by the words of the phrase (name and description).
pub(super) async fn search_sample_queries(_api: &Api, input: &Value) -> Result<Value, ApiError> {
    let phrase = super::required(input, "SearchPhrase")?.to_ascii_lowercase();
    let words: Vec<&str> = phrase.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).collect();
    let limit = input.get("MaxResults").and_then(Value::as_u64).unwrap_or(10).clamp(1, 50) as usize;
    let library = crate::investigate::library::Library::builtin().map_err(|e| ApiError::internal(&e.to_string()))?;
    let mut found: Vec<(f64, Value)> = library
        .entries()
        .iter()
        .filter_map(|e| {
            // A word in the name counts twice: names say what a query is for.
            let name = e.name.replace('-', " ").to_ascii_lowercase();
            let description = e.query.description.to_ascii_lowercase();
            let score: usize =
                words.iter().map(|w| 2 * usize::from(name.contains(*w)) + usize::from(description.contains(*w))).sum();
            (score > 0).then(|| {
                let relevance = score as f64 / (3 * words.len().max(1)) as f64;
                (relevance, json!({"Name": e.name, "Description": e.query.description, "SQL": e.query.sql, "Relevance": relevance}))
            })
        })
        .collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(json!({"SearchResults": found.into_iter().take(limit).map(|(_, v)| v).collect::<Vec<_>>()}))
}
