//! The catalog of event data stores: one JSON document at the store root listing every EDS
//! (id, name, ARN, status, settings). Each EDS's events live in its own Delta table.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::Kind;

/// Account and Region used in the ARN-style identifiers of local event data stores.
pub const LOCAL_REGION: &str = "local";
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// An event data store id: a UUID, printed lowercase, as CloudTrail Lake writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct EdsId(Uuid);

impl EdsId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:cloudtrail:{LOCAL_REGION}:{LOCAL_ACCOUNT}:eventdatastore/{self}")
    }
}

impl fmt::Display for EdsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for EdsId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EdsStatus {
    Enabled,
    StoppedIngestion,
    PendingDeletion,
}

impl fmt::Display for EdsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EdsStatus::Enabled => "ENABLED",
            EdsStatus::StoppedIngestion => "STOPPED_INGESTION",
            EdsStatus::PendingDeletion => "PENDING_DELETION",
        })
    }
}

/// Default retention, as CloudTrail Lake's extendable-retention pricing (days).
pub const DEFAULT_RETENTION_DAYS: u32 = 366;
/// Retention bounds of extendable-retention pricing (days).
pub const MIN_RETENTION_DAYS: u32 = 7;
pub const MAX_RETENTION_DAYS: u32 = 3653;
/// How long a deleted event data store stays restorable before maintenance purges it.
pub const PENDING_DELETION_DAYS: i64 = 7;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdsRecord {
    pub id: EdsId,
    pub name: String,
    pub arn: String,
    pub status: EdsStatus,
    pub created_timestamp: DateTime<Utc>,
    pub updated_timestamp: DateTime<Utc>,
    pub retention_period: u32,
    pub termination_protection_enabled: bool,
    /// AWS-shaped advanced event selectors, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_event_selectors: Option<serde_json::Value>,
    /// Where the Delta table lives, relative to the store root.
    pub table_path: String,
    /// When `eds delete` moved it to PENDING_DELETION.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_timestamp: Option<DateTime<Utc>>,
    /// The private key (a path outside the store) that signs each commit's integrity record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_fingerprint: Option<String>,
    /// What the store holds (stores made before kinds existed hold CloudTrail events).
    #[serde(default)]
    pub kind: Kind,
    /// Insights detection: the Insights types computed over this store (AWS's
    /// `InsightSelectors`, e.g. `[{"InsightType":"ApiCallRateInsight"}]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insight_selectors: Vec<InsightSelector>,
    /// The Insights store the Insights detected over this store go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_destination: Option<String>,
    /// The last minute the latest Insights run judged (the next run starts a little before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_checked_until: Option<DateTime<Utc>>,
}

/// One of AWS's `InsightSelectors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsightSelector {
    #[serde(rename = "InsightType")]
    pub insight_type: InsightType,
}

/// The Insights CloudTrail computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum InsightType {
    ApiCallRateInsight,
    ApiErrorRateInsight,
}

impl InsightType {
    pub fn name(self) -> &'static str {
        match self {
            InsightType::ApiCallRateInsight => "ApiCallRateInsight",
            InsightType::ApiErrorRateInsight => "ApiErrorRateInsight",
        }
    }
}

impl EdsRecord {
    pub fn new(name: &str, now: DateTime<Utc>) -> Self {
        let id = EdsId::new_random();
        Self {
            id,
            name: name.to_string(),
            arn: id.arn(),
            status: EdsStatus::Enabled,
            created_timestamp: now,
            updated_timestamp: now,
            retention_period: DEFAULT_RETENTION_DAYS,
            termination_protection_enabled: true,
            advanced_event_selectors: None,
            table_path: format!("eds/{id}"),
            deleted_timestamp: None,
            signing_key: None,
            signing_key_fingerprint: None,
            kind: Kind::Cloudtrail,
            insight_selectors: Vec::new(),
            insights_destination: None,
            insights_checked_until: None,
        }
    }

    /// The schema of the events this store holds.
    pub fn schema(&self) -> &'static crate::schema::EventSchema {
        self.kind.schema()
    }

    /// The key that signs this store's commits, if it is signed; an error names the key file
    /// when it cannot be read (a signed store is never written unsigned).
    pub fn signer(&self) -> Result<Option<crate::keys::SigningKey>, super::StoreError> {
        let Some(path) = &self.signing_key else { return Ok(None) };
        let key = crate::keys::SigningKey::load(std::path::Path::new(path)).map_err(|e| {
            super::StoreError::Invalid(format!(
                "event data store {} signs its commits with {path}, which cannot be used: {e} \
                 (`traillake eds update {} --signing-key FILE` names another key)",
                self.name, self.name
            ))
        })?;
        if self.signing_key_fingerprint.as_deref().is_some_and(|f| f != key.fingerprint()) {
            return Err(super::StoreError::Invalid(format!(
                "{path} is not the key event data store {} was set up to sign with (fingerprint {} expected, {} found)",
                self.name,
                self.signing_key_fingerprint.as_deref().unwrap_or_default(),
                key.fingerprint()
            )));
        }
        Ok(Some(key))
    }

    /// The selectors applied at ingest (None: every event is kept).
    pub fn selectors(
        &self,
    ) -> Result<Option<Vec<super::selectors::AdvancedEventSelector>>, super::selectors::SelectorError> {
        match &self.advanced_event_selectors {
            None => Ok(None),
            Some(v) => {
                let s: Vec<super::selectors::AdvancedEventSelector> =
                    serde_json::from_value(v.clone()).map_err(|e| super::selectors::SelectorError(e.to_string()))?;
                Ok(Some(s))
            }
        }
    }

    /// When a PENDING_DELETION store is purged.
    pub fn purge_after(&self) -> Option<DateTime<Utc>> {
        self.deleted_timestamp.map(|t| t + chrono::Duration::days(PENDING_DELETION_DAYS))
    }

    /// Whether `key` names this EDS: its id, name, or ARN (ids and ARNs case-insensitively).
    pub fn is_named(&self, key: &str) -> bool {
        let key = key.trim();
        key == self.name || key.eq_ignore_ascii_case(&self.id.to_string()) || key.eq_ignore_ascii_case(&self.arn)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    pub format_version: u32,
    pub event_data_stores: Vec<EdsRecord>,
    /// Channels events from outside AWS arrive on (`PutAuditEvents`), each naming its stores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelRecord>,
}

/// A channel for events from outside AWS, as CloudTrail's CreateChannel makes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelRecord {
    pub arn: String,
    pub name: String,
    /// `Custom`, or a partner's source name.
    pub source: String,
    /// The ids of the event data stores (of kind audit) its events go to.
    pub destinations: Vec<EdsId>,
    pub created_timestamp: DateTime<Utc>,
}

impl ChannelRecord {
    /// Whether `key` (an ARN, the id at its end, or the name) names this channel.
    pub fn is_named(&self, key: &str) -> bool {
        self.arn == key || self.name == key || self.arn.rsplit('/').next() == Some(key)
    }
}

/// Names as CloudTrail accepts them: 3–128 characters of letters, digits, `.`, `_`, `-`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !(3..=128).contains(&name.len()) || !ok_chars {
        return Err(format!("invalid event data store name {name:?}: use 3 to 128 letters, digits, '.', '_' or '-'"));
    }
    if Uuid::parse_str(name).is_ok() || name.starts_with("arn:") {
        return Err(format!("invalid event data store name {name:?}: a name cannot look like an id or ARN"));
    }
    Ok(())
}

impl Catalog {
    pub fn find(&self, key: &str) -> Option<&EdsRecord> {
        self.event_data_stores.iter().find(|e| e.is_named(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_arns_resolve() {
        let rec = EdsRecord::new("prod-trail", Utc::now());
        let cat = Catalog { format_version: 1, event_data_stores: vec![rec.clone()], channels: Vec::new() };
        assert!(cat.find("prod-trail").is_some());
        assert!(cat.find(&rec.id.to_string().to_uppercase()).is_some());
        assert!(cat.find(&rec.arn).is_some());
        assert!(cat.find("other").is_none());
        assert!(rec.arn.ends_with(&format!("eventdatastore/{}", rec.id)));
    }

    #[test]
    fn name_rules() {
        assert!(validate_name("default").is_ok());
        assert!(validate_name("a").is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name("5e2676f8-9fce-46ef-8142-3e36a94e6691").is_err());
    }
}
