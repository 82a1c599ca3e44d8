//! Events from outside AWS: channels (CreateChannel, GetChannel, ListChannels, DeleteChannel)
//! naming the stores their events go to, and the `cloudtrail-data` service's PutAuditEvents
//! (REST-JSON: `POST /PutAuditEvents?channelArn=…`), each event checked as Lake checks it.
//! Accepted events are committed to the channel's stores before the call returns.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::{epoch, required, Api, ApiError};
use crate::ingest::decode::Rejection;
use crate::ingest::kinds::{audit_event, ShapeContext};
use crate::store::catalog::ChannelRecord;
use crate::store::StoreError;

/// Events one PutAuditEvents call may carry (AWS: 100).
const MAX_EVENTS: usize = 100;

fn channel_json(api_channel: &ChannelRecord, stores: &[(String, String)]) -> Value {
    json!({
        "ChannelArn": api_channel.arn,
        "Name": api_channel.name,
        "Source": api_channel.source,
        "Destinations": stores.iter().map(|(_, arn)| json!({"Type": "EVENT_DATA_STORE", "Location": arn})).collect::<Vec<_>>(),
        "IngestionStatus": {"LatestIngestionSuccessTime": epoch(api_channel.created_timestamp)},
    })
}

/// The channel `key` (ARN, id or name) names, with its stores' (id, ARN).
async fn find(api: &Api, key: &str) -> Result<(ChannelRecord, Vec<(String, String)>), ApiError> {
    let catalog = api.store.catalog().await.map_err(|e| ApiError::internal(&e.to_string()))?;
    let channel = catalog
        .channels
        .iter()
        .find(|c| c.is_named(key))
        .cloned()
        .ok_or_else(|| ApiError::new("ChannelNotFoundException", &format!("The channel {key} was not found.")))?;
    let stores = channel
        .destinations
        .iter()
        .filter_map(|id| catalog.find(&id.to_string()).map(|r| (r.id.to_string(), r.arn.clone())))
        .collect();
    Ok((channel, stores))
}

pub(super) async fn create_channel(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let name = required(input, "Name")?;
    let source = required(input, "Source")?;
    let destinations: Vec<String> = input["Destinations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["Type"] == "EVENT_DATA_STORE")
        .filter_map(|d| d["Location"].as_str().map(str::to_string))
        .collect();
    let channel = api.store.create_channel(name, source, &destinations).await.map_err(|e| match e {
        StoreError::NameTaken(n) => {
            ApiError::new("ChannelAlreadyExistsException", &format!("A channel named {n} already exists."))
        }
        StoreError::NotFound(d) => {
            ApiError::new("EventDataStoreNotFoundException", &format!("The event data store {d} was not found."))
        }
        StoreError::Invalid(m) => ApiError::new("InvalidEventDataStoreCategoryException", &m),
        e => ApiError::internal(&e.to_string()),
    })?;
    let (channel, stores) = find(api, &channel.arn).await?;
    Ok(channel_json(&channel, &stores))
}

pub(super) async fn get_channel(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let (channel, stores) = find(api, required(input, "Channel")?).await?;
    Ok(channel_json(&channel, &stores))
}

pub(super) async fn list_channels(api: &Api, _input: &Value) -> Result<Value, ApiError> {
    let catalog = api.store.catalog().await.map_err(|e| ApiError::internal(&e.to_string()))?;
    let channels: Vec<Value> = catalog.channels.iter().map(|c| json!({"ChannelArn": c.arn, "Name": c.name})).collect();
    Ok(json!({ "Channels": channels }))
}

pub(super) async fn delete_channel(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let key = required(input, "Channel")?;
    api.store.delete_channel(key).await.map_err(|e| match e {
        StoreError::NotFound(_) => {
            ApiError::new("ChannelNotFoundException", &format!("The channel {key} was not found."))
        }
        e => ApiError::internal(&e.to_string()),
    })?;
    Ok(json!({}))
}

/// `POST /PutAuditEvents?channelArn=…`: each event checked; the good ones committed to the
/// channel's stores; `successful`/`failed` per event, as AWS answers.
pub(super) async fn put_audit_events(
    api: &Api,
    query: &str,
    input: &Value,
    request_id: &str,
) -> Result<Value, ApiError> {
    let channel_key = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "channelArn")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            ApiError::new("ValidationException", "1 validation error detected: channelArn must not be null")
        })?;
    let (channel, stores) = find(api, &channel_key).await?;
    let events = input["auditEvents"].as_array().cloned().unwrap_or_default();
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            "ValidationException",
            &format!("auditEvents must hold 1 to {MAX_EVENTS} events, got {}", events.len()),
        ));
    }
    let mut ids = HashSet::new();
    for e in &events {
        let id = e["id"].as_str().unwrap_or_default();
        if !ids.insert(id) {
            return Err(ApiError::new(
                "DuplicatedAuditEventIdException",
                &format!("Two or more entries in the request have the same event ID {id}."),
            ));
        }
    }
    let ctx = ShapeContext::new(&channel.arn, chrono::Utc::now());
    let (mut successful, mut failed, mut records) = (Vec::new(), Vec::new(), Vec::new());
    for e in &events {
        let id = e["id"].clone();
        if !e["eventData"].is_string() {
            failed
                .push(json!({"id": id, "errorCode": "InvalidData", "errorMessage": "eventData must be a JSON string"}));
            continue;
        }
        match audit_event(e, &ctx) {
            Ok(shaped) => {
                successful.push(json!({"id": id, "eventID": shaped["eventID"]}));
                records.push(shaped.to_string());
            }
            Err(Rejection::Lake { code, message }) => {
                failed.push(json!({"id": id, "errorCode": code, "errorMessage": message}))
            }
            Err(other) => failed.push(json!({"id": id, "errorCode": "InvalidData", "errorMessage": other.to_string()})),
        }
    }
    if !records.is_empty() {
        for (store, _) in &stores {
            let key = format!("putauditevents:{}:{request_id}", channel.arn);
            crate::ingest::ingest_records(&api.store, store, &key, &records).await.map_err(|e| match e {
                crate::ingest::IngestError::NotIngestible { .. } => {
                    ApiError::new("InactiveEventDataStoreException", &e.to_string())
                }
                e => ApiError::internal(&format!("the events could not be stored: {e}")),
            })?;
        }
    }
    Ok(json!({"successful": successful, "failed": failed}))
}
