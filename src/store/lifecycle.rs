//! Event data store lifecycle as CloudTrail Lake has it: create with settings, update, stop and
//! start ingestion, delete (PENDING_DELETION for 7 days, behind termination protection) and
//! restore. Every change is a read-modify-write of the catalog under the catalog lock, so two
//! commands changing it at once never lose an update.

use chrono::{DateTime, Utc};

use super::catalog::{self, Catalog, EdsRecord, EdsStatus, InsightSelector, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS};
use super::selectors;
use super::{table, Store, StoreError, CATALOG_FORMAT_VERSION};
use crate::schema::Kind;

/// Settings given to `create` or changed by `update`; `None` leaves a setting as it is (or at
/// its default, on create).
#[derive(Debug, Clone, Default)]
pub struct EdsSettings {
    pub name: Option<String>,
    pub retention_period: Option<u32>,
    /// `Some(None)` removes the selectors (every event is kept).
    pub advanced_event_selectors: Option<Option<Vec<selectors::AdvancedEventSelector>>>,
    pub termination_protection_enabled: Option<bool>,
    /// A private key file outside the store to sign commits with from now on.
    pub signing_key: Option<std::path::PathBuf>,
    /// What the store holds; fixed when it is created (as Lake's event category).
    pub kind: Option<Kind>,
    /// Insights computed over this (CloudTrail) store; an empty list turns them off.
    pub insight_selectors: Option<Vec<InsightSelector>>,
    /// The Insights store they go to (by name, id or ARN).
    pub insights_destination: Option<String>,
}

impl EdsSettings {
    fn apply(&self, rec: &mut EdsRecord, cat: &Catalog) -> Result<(), StoreError> {
        if let Some(name) = &self.name {
            catalog::validate_name(name).map_err(StoreError::Invalid)?;
            if cat.event_data_stores.iter().any(|e| e.name == *name && e.id != rec.id) {
                return Err(StoreError::NameTaken(name.clone()));
            }
            rec.name = name.clone();
        }
        if let Some(days) = self.retention_period {
            if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&days) {
                return Err(StoreError::Invalid(format!(
                    "retention period {days} days is out of range: {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days"
                )));
            }
            rec.retention_period = days;
        }
        if let Some(sel) = &self.advanced_event_selectors {
            rec.advanced_event_selectors = match sel {
                None => None,
                Some(s) => {
                    selectors::validate(s).map_err(|e| StoreError::Invalid(e.to_string()))?;
                    Some(serde_json::to_value(s)?)
                }
            };
        }
        if let Some(p) = self.termination_protection_enabled {
            rec.termination_protection_enabled = p;
        }
        if let Some(kind) = self.kind {
            if kind != rec.kind {
                return Err(StoreError::Invalid(format!(
                    "event data store {} holds {} events; a store's kind is fixed when it is created \
                     (`traillake eds create NAME --kind {kind}` makes a new one)",
                    rec.name, rec.kind
                )));
            }
        }
        self.apply_insights(rec, cat)?;
        if let Some(path) = &self.signing_key {
            let key = crate::keys::SigningKey::load(path).map_err(|e| StoreError::Invalid(e.to_string()))?;
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            rec.signing_key = Some(absolute.display().to_string());
            rec.signing_key_fingerprint = Some(key.fingerprint().to_string());
        }
        Ok(())
    }
}

impl EdsSettings {
    /// `--insight-selectors` and `--insights-destination`: as in Lake, Insights are computed over
    /// a CloudTrail store and go to a store of kind insights; both are needed to turn them on.
    fn apply_insights(&self, rec: &mut EdsRecord, cat: &Catalog) -> Result<(), StoreError> {
        if self.insight_selectors.is_none() && self.insights_destination.is_none() {
            return Ok(());
        }
        if rec.kind != Kind::Cloudtrail {
            return Err(StoreError::Invalid(format!(
                "Insights are computed over a CloudTrail event data store; {} holds {} events",
                rec.name, rec.kind
            )));
        }
        if let Some(dest) = &self.insights_destination {
            let target = cat.find(dest).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "Insights destination {dest} is not an event data store \
                     (`traillake eds create NAME --kind insights` makes one)"
                ))
            })?;
            if target.kind != Kind::Insights {
                return Err(StoreError::Invalid(format!(
                    "Insights destination {} holds {} events; it must be an event data store of kind insights",
                    target.name, target.kind
                )));
            }
            rec.insights_destination = Some(target.id.to_string());
        }
        if let Some(selectors) = &self.insight_selectors {
            let mut selectors = selectors.clone();
            selectors.sort_by_key(|s| s.insight_type);
            selectors.dedup();
            rec.insight_selectors = selectors;
        }
        if !rec.insight_selectors.is_empty() && rec.insights_destination.is_none() {
            return Err(StoreError::Invalid(format!(
                "Insights over {} need a destination: add `--insights-destination INSIGHTS_EDS`",
                rec.name
            )));
        }
        Ok(())
    }
}

impl Store {
    /// Reads the catalog, lets `change` edit it, and saves it, all under the catalog lock.
    pub(super) async fn change_catalog<T>(
        &self,
        change: impl FnOnce(&mut Catalog) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock("catalog", || {}).await?;
        let mut cat = self.catalog().await?;
        let out = change(&mut cat)?;
        cat.format_version = CATALOG_FORMAT_VERSION;
        self.save_catalog(&cat).await?;
        Ok(out)
    }

    /// Creates an event data store with `settings` and its (empty) Delta table.
    pub async fn create_eds_with(&self, name: &str, settings: &EdsSettings) -> Result<EdsRecord, StoreError> {
        catalog::validate_name(name).map_err(StoreError::Invalid)?;
        let _lock = self.lock("catalog", || {}).await?;
        let mut cat = self.catalog().await?;
        if cat.event_data_stores.iter().any(|e| e.name == name) {
            return Err(StoreError::NameTaken(name.to_string()));
        }
        let mut rec = EdsRecord::new(name, Utc::now());
        rec.kind = settings.kind.unwrap_or_default();
        settings.apply(&mut rec, &cat)?;
        // The table first: a catalog entry never points at a missing table.
        table::create(self, &rec).await?;
        cat.format_version = CATALOG_FORMAT_VERSION;
        cat.event_data_stores.push(rec.clone());
        self.save_catalog(&cat).await?;
        Ok(rec)
    }

    /// Changes the settings of an event data store (not one pending deletion).
    pub async fn update_eds(&self, key: &str, settings: &EdsSettings) -> Result<EdsRecord, StoreError> {
        self.change_record(key, |rec, cat| {
            if rec.status == EdsStatus::PendingDeletion {
                return Err(pending(rec));
            }
            settings.apply(rec, cat)
        })
        .await
    }

    /// Creates a channel for events from outside AWS delivering to `destinations` (stores of kind
    /// audit, by id, name or ARN).
    pub async fn create_channel(
        &self,
        name: &str,
        source: &str,
        destinations: &[String],
    ) -> Result<catalog::ChannelRecord, StoreError> {
        catalog::validate_name(name).map_err(StoreError::Invalid)?;
        self.change_catalog(|cat| {
            if cat.channels.iter().any(|c| c.name == name) {
                return Err(StoreError::NameTaken(name.to_string()));
            }
            let mut ids = Vec::new();
            for d in destinations {
                let rec = cat.find(d).ok_or_else(|| StoreError::NotFound(d.clone()))?;
                if rec.kind != Kind::Audit {
                    return Err(StoreError::Invalid(format!(
                        "channel destination {} holds {} events; it must be an event data store of kind audit",
                        rec.name, rec.kind
                    )));
                }
                ids.push(rec.id);
            }
            if ids.is_empty() {
                return Err(StoreError::Invalid("a channel needs a destination event data store".into()));
            }
            let id = uuid::Uuid::new_v4();
            let channel = catalog::ChannelRecord {
                arn: format!("arn:aws:cloudtrail:{}:{}:channel/{id}", catalog::LOCAL_REGION, catalog::LOCAL_ACCOUNT),
                name: name.to_string(),
                source: source.to_string(),
                destinations: ids,
                created_timestamp: Utc::now(),
            };
            cat.channels.push(channel.clone());
            Ok(channel)
        })
        .await
    }

    /// Removes a channel (events already stored stay).
    pub async fn delete_channel(&self, key: &str) -> Result<catalog::ChannelRecord, StoreError> {
        self.change_catalog(|cat| {
            let i =
                cat.channels.iter().position(|c| c.is_named(key)).ok_or_else(|| StoreError::NotFound(key.into()))?;
            Ok(cat.channels.remove(i))
        })
        .await
    }

    /// Notes how far an Insights run over `key` judged (not a settings change: the store's
    /// update time stays).
    pub async fn record_insights_checked(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.change_catalog(|cat| {
            let rec = cat
                .event_data_stores
                .iter_mut()
                .find(|e| e.is_named(key))
                .ok_or_else(|| StoreError::NotFound(key.to_string()))?;
            rec.insights_checked_until = Some(until);
            Ok(())
        })
        .await
    }

    /// ENABLED → STOPPED_INGESTION: still queryable, refuses ingest.
    pub async fn stop_ingestion(&self, key: &str) -> Result<EdsRecord, StoreError> {
        self.change_record(key, |rec, _| match rec.status {
            EdsStatus::Enabled => {
                rec.status = EdsStatus::StoppedIngestion;
                Ok(())
            }
            other => Err(StoreError::Invalid(format!(
                "event data store {} is {other}; only an ENABLED store can stop ingestion",
                rec.name
            ))),
        })
        .await
    }

    /// STOPPED_INGESTION → ENABLED.
    pub async fn start_ingestion(&self, key: &str) -> Result<EdsRecord, StoreError> {
        self.change_record(key, |rec, _| match rec.status {
            EdsStatus::StoppedIngestion => {
                rec.status = EdsStatus::Enabled;
                Ok(())
            }
            other => Err(StoreError::Invalid(format!(
                "event data store {} is {other}; only a STOPPED_INGESTION store can start ingestion",
                rec.name
            ))),
        })
        .await
    }

    /// → PENDING_DELETION for 7 days (data kept, not queryable, not ingestible), unless
    /// termination protection is on.
    pub async fn delete_eds(&self, key: &str, now: DateTime<Utc>) -> Result<EdsRecord, StoreError> {
        self.change_record(key, |rec, _| {
            if rec.status == EdsStatus::PendingDeletion {
                return Err(pending(rec));
            }
            if rec.termination_protection_enabled {
                return Err(StoreError::Invalid(format!(
                    "event data store {} has termination protection enabled; turn it off first with \
                     `traillake eds update {} --no-termination-protection-enabled`",
                    rec.name, rec.name
                )));
            }
            rec.status = EdsStatus::PendingDeletion;
            rec.deleted_timestamp = Some(now);
            Ok(())
        })
        .await
    }

    /// PENDING_DELETION → ENABLED, with its data as it was.
    pub async fn restore_eds(&self, key: &str) -> Result<EdsRecord, StoreError> {
        self.change_record(key, |rec, _| {
            if rec.status != EdsStatus::PendingDeletion {
                return Err(StoreError::Invalid(format!(
                    "event data store {} is {}; only a PENDING_DELETION store can be restored",
                    rec.name, rec.status
                )));
            }
            rec.status = EdsStatus::Enabled;
            rec.deleted_timestamp = None;
            Ok(())
        })
        .await
    }

    /// Applies `change` to the record `key` names; stamps the update time.
    async fn change_record(
        &self,
        key: &str,
        change: impl FnOnce(&mut EdsRecord, &Catalog) -> Result<(), StoreError>,
    ) -> Result<EdsRecord, StoreError> {
        self.change_catalog(|cat| {
            let i = cat
                .event_data_stores
                .iter()
                .position(|e| e.is_named(key))
                .ok_or_else(|| StoreError::NotFound(key.to_string()))?;
            let mut rec = cat.event_data_stores[i].clone();
            change(&mut rec, cat)?;
            rec.updated_timestamp = Utc::now();
            cat.event_data_stores[i] = rec.clone();
            Ok(rec)
        })
        .await
    }
}

fn pending(rec: &EdsRecord) -> StoreError {
    let until = rec.purge_after().map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default();
    StoreError::Invalid(format!(
        "event data store {} is PENDING_DELETION (purged after {until}); `traillake eds restore {}` brings it back",
        rec.name, rec.name
    ))
}
