//! Event data store reads as AWS answers them: ListEventDataStores, GetEventDataStore.

use serde_json::{json, Value};

use super::{epoch, required, Api, ApiError};
use crate::store::{EdsRecord, EdsStatus, StoreError};

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
