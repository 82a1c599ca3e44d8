//! Event data stores as AWS manages them: List/Get/Create/Update/Delete/RestoreEventDataStore,
//! Start/StopEventDataStoreIngestion, with the `eds` commands' rules and AWS's error codes.

use serde_json::{json, Value};

use super::{epoch, required, Api, ApiError};
use crate::schema::Kind;
use crate::store::{EdsRecord, EdsSettings, EdsStatus, StoreError};

/// A store as AWS's EventDataStore shapes describe it.
fn describe(rec: &EdsRecord) -> Value {
    let selectors = rec.advanced_event_selectors.clone().unwrap_or_else(|| {
        // No selectors: every event of the store's category, as AWS shows a default store.
        json!([{"Name": "Default", "FieldSelectors": [{"Field": "eventCategory", "Equals": [rec.kind.event_category()]}]}])
    });
    let mut v = json!({
        "EventDataStoreArn": rec.arn,
        "Name": rec.name,
        "Status": status(rec.status),
        "AdvancedEventSelectors": selectors,
        "MultiRegionEnabled": true,
        "OrganizationEnabled": false,
        "RetentionPeriod": rec.retention_period,
        "TerminationProtectionEnabled": rec.termination_protection_enabled,
        "CreatedTimestamp": epoch(rec.created_timestamp),
        "UpdatedTimestamp": epoch(rec.updated_timestamp),
        "BillingMode": "EXTENDABLE_RETENTION_PRICING",
    });
    if !rec.insight_selectors.is_empty() {
        v["InsightSelectors"] = json!(rec
            .insight_selectors
            .iter()
            .map(|s| json!({"InsightType": s.insight_type.name()}))
            .collect::<Vec<_>>());
    }
    v
}

fn status(s: EdsStatus) -> &'static str {
    match s {
        EdsStatus::Enabled => "ENABLED",
        EdsStatus::StoppedIngestion => "STOPPED_INGESTION",
        EdsStatus::PendingDeletion => "PENDING_DELETION",
    }
}

pub(super) async fn list(api: &Api, _input: &Value) -> Result<Value, ApiError> {
    let catalog = api.store.catalog().await.map_err(|e| ApiError::internal(&e.to_string()))?;
    Ok(json!({"EventDataStores": catalog.event_data_stores.iter().map(describe).collect::<Vec<_>>()}))
}

pub(super) async fn get(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let key = required(input, "EventDataStore")?;
    Ok(describe(&resolve(api, key).await?))
}

/// The store `key` (an ARN, id or name) names.
pub(super) async fn resolve(api: &Api, key: &str) -> Result<EdsRecord, ApiError> {
    api.store.resolve(key).await.map_err(|e| match e {
        StoreError::NotFound(_) => ApiError::new(
            "EventDataStoreNotFoundException",
            &format!("The specified event data store {key} was not found."),
        ),
        e => ApiError::internal(&e.to_string()),
    })
}

/// A store change refused, as AWS names the reason.
fn refused(e: StoreError, key: &str) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::new(
            "EventDataStoreNotFoundException",
            &format!("The specified event data store {key} was not found."),
        ),
        StoreError::NameTaken(name) => ApiError::new(
            "EventDataStoreAlreadyExistsException",
            &format!("An event data store with the name {name} already exists."),
        ),
        StoreError::Invalid(m) if m.contains("termination protection") => {
            ApiError::new("EventDataStoreTerminationProtectedException", &m)
        }
        StoreError::Invalid(m) if m.contains("selector") => ApiError::new("InvalidEventSelectorsException", &m),
        StoreError::Invalid(m) if m.contains("PENDING_DELETION") || m.contains("only a") || m.contains("only an") => {
            ApiError::new("InvalidEventDataStoreStatusException", &m)
        }
        StoreError::Invalid(m) => ApiError::new("InvalidParameterException", &m),
        e => ApiError::internal(&e.to_string()),
    }
}

/// The settings a Create/UpdateEventDataStore request gives, and the kind its selectors choose
/// (a store of Config items is one whose selectors select `eventCategory = ConfigurationItem`).
fn settings(input: &Value) -> Result<(EdsSettings, Option<Kind>), ApiError> {
    let mut s = EdsSettings {
        retention_period: input.get("RetentionPeriod").and_then(Value::as_u64).map(|d| d as u32),
        termination_protection_enabled: input.get("TerminationProtectionEnabled").and_then(Value::as_bool),
        ..Default::default()
    };
    let mut kind = None;
    if let Some(selectors) = input.get("AdvancedEventSelectors").filter(|v| !v.is_null()) {
        let categories: Vec<&str> = selectors
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["FieldSelectors"].as_array().into_iter().flatten())
            .filter(|f| f["Field"] == "eventCategory")
            .flat_map(|f| f["Equals"].as_array().into_iter().flatten().filter_map(Value::as_str))
            .collect();
        kind = categories.iter().filter_map(|c| c.parse::<Kind>().ok()).find(|k| *k != Kind::Cloudtrail);
        if kind.is_none() {
            let parsed = crate::store::selectors::parse(&selectors.to_string())
                .map_err(|e| ApiError::new("InvalidEventSelectorsException", &e.to_string()))?;
            s.advanced_event_selectors = Some(Some(parsed));
        }
    }
    Ok((s, kind))
}

pub(super) async fn create(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let name = required(input, "Name")?;
    let (mut s, kind) = settings(input)?;
    s.kind = kind;
    let rec = api.store.create_eds_with(name, &s).await.map_err(|e| refused(e, name))?;
    if input.get("StartIngestion").and_then(Value::as_bool) == Some(false) {
        let rec = api.store.stop_ingestion(&rec.id.to_string()).await.map_err(|e| refused(e, name))?;
        return Ok(describe(&rec));
    }
    Ok(describe(&rec))
}

pub(super) async fn update(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let key = required(input, "EventDataStore")?;
    let (mut s, _) = settings(input)?;
    s.name = super::string(input, "Name").map(str::to_string);
    let rec = api.store.update_eds(key, &s).await.map_err(|e| refused(e, key))?;
    Ok(describe(&rec))
}

pub(super) async fn delete(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let key = required(input, "EventDataStore")?;
    api.store.delete_eds(key, chrono::Utc::now()).await.map_err(|e| refused(e, key))?;
    Ok(json!({}))
}

pub(super) async fn restore(api: &Api, input: &Value) -> Result<Value, ApiError> {
    let key = required(input, "EventDataStore")?;
    let rec = api.store.restore_eds(key).await.map_err(|e| refused(e, key))?;
    Ok(describe(&rec))
}

pub(super) async fn ingestion(api: &Api, input: &Value, start: bool) -> Result<Value, ApiError> {
    let key = required(input, "EventDataStore")?;
    match start {
        true => api.store.start_ingestion(key).await,
        false => api.store.stop_ingestion(key).await,
    }
    .map_err(|e| refused(e, key))?;
    Ok(json!({}))
}
