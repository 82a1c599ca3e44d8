//! The store: a folder (or `s3://` prefix) holding the catalog, one Delta table per event data
//! store, and the quarantine area for input that could not be ingested.
//!
//! ```text
//! <store>/catalog.json                 the event data stores (see `catalog`)
//! <store>/eds/<id>/                    one Delta table per EDS, partitioned by calendarday
//! <store>/quarantine/<id>/<run>.ndjson rejected records and files, with the reason for each
//! ```

pub mod catalog;
pub mod integrity;
pub mod lifecycle;
pub mod maintain;
pub mod parquet;
pub mod selectors;
pub mod table;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

pub use catalog::{Catalog, EdsId, EdsRecord, EdsStatus};
pub use lifecycle::EdsSettings;

/// Name of the EDS that `ingest` uses when none is given.
pub const DEFAULT_EDS_NAME: &str = "default";
const CATALOG_FILE: &str = "catalog.json";
pub(crate) const CATALOG_FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use store location {location:?}: {reason}")]
    Location { location: String, reason: String },
    #[error("no event data store named {0:?} (see `traillake eds list`)")]
    NotFound(String),
    #[error("an event data store named {0:?} already exists")]
    NameTaken(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the catalog {path} is damaged: {source}")]
    CatalogCorrupt { path: String, source: serde_json::Error },
    #[error("storage error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("Delta table error: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// Where a store lives.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Local(PathBuf),
    S3(Url),
}

/// An opened store.
#[derive(Debug, Clone)]
pub struct Store {
    location: StoreLocation,
    root_url: Url,
    objects: Arc<dyn ObjectStore>,
    storage_options: HashMap<String, String>,
}

impl Store {
    /// Opens (creating a local folder if needed) the store at `spec`: a path or `s3://bucket/prefix`.
    pub fn open(spec: &str) -> Result<Self, StoreError> {
        let loc_err = |reason: String| StoreError::Location { location: spec.to_string(), reason };
        if spec.starts_with("s3://") || spec.starts_with("s3a://") {
            let url = Url::parse(spec).map_err(|e| loc_err(e.to_string()))?;
            let (objects, storage_options) = crate::s3::object_store_for(&url).map_err(|e| loc_err(e.to_string()))?;
            let mut root_url = url.clone();
            if !root_url.path().ends_with('/') {
                root_url.set_path(&format!("{}/", root_url.path()));
            }
            return Ok(Self { location: StoreLocation::S3(url), root_url, objects, storage_options });
        }
        let path = PathBuf::from(spec);
        std::fs::create_dir_all(&path).map_err(|e| loc_err(e.to_string()))?;
        let path = path.canonicalize().map_err(|e| loc_err(e.to_string()))?;
        let objects = LocalFileSystem::new_with_prefix(&path).map_err(|e| loc_err(e.to_string()))?;
        let root_url = Url::from_directory_path(&path).map_err(|_| loc_err("not an absolute path".into()))?;
        Ok(Self {
            location: StoreLocation::Local(path),
            root_url,
            objects: Arc::new(objects),
            storage_options: HashMap::new(),
        })
    }

    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The store's object store, rooted at the store location.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.storage_options
    }

    pub fn display(&self) -> String {
        match &self.location {
            StoreLocation::Local(p) => p.display().to_string(),
            StoreLocation::S3(u) => u.to_string(),
        }
    }

    /// URL of a path relative to the store root.
    pub fn url_of(&self, rel: &str) -> Result<Url, StoreError> {
        self.root_url.join(rel).map_err(|e| StoreError::Invalid(format!("bad path {rel:?}: {e}")))
    }

    pub async fn catalog(&self) -> Result<Catalog, StoreError> {
        match self.objects.get(&ObjectPath::from(CATALOG_FILE)).await {
            Ok(r) => {
                let bytes = r.bytes().await?;
                serde_json::from_slice(&bytes)
                    .map_err(|source| StoreError::CatalogCorrupt { path: self.catalog_display(), source })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Catalog {
                format_version: CATALOG_FORMAT_VERSION,
                event_data_stores: Vec::new(),
                channels: Vec::new(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The store a query's `{{eds}}` and a command without `--eds` mean: the one named
    /// "default", else the only queryable CloudTrail store (None when that leaves a choice).
    pub async fn default_eds(&self) -> Result<Option<EdsRecord>, StoreError> {
        let cat = self.catalog().await?;
        if let Some(d) = cat.find(DEFAULT_EDS_NAME) {
            return Ok(Some(d.clone()));
        }
        let mut live = cat
            .event_data_stores
            .iter()
            .filter(|e| e.status != EdsStatus::PendingDeletion && e.kind == crate::schema::Kind::Cloudtrail);
        Ok(match (live.next(), live.next()) {
            (Some(one), None) => Some(one.clone()),
            _ => None,
        })
    }

    /// The store of `kind` a saved query's `{{<kind>_eds}}` means: for Insights the destination
    /// of `eds` (the default store), else the only queryable store of that kind.
    pub async fn default_eds_of_kind(
        &self,
        kind: crate::schema::Kind,
        eds: Option<&EdsRecord>,
    ) -> Result<Option<EdsRecord>, StoreError> {
        let cat = self.catalog().await?;
        if kind == crate::schema::Kind::Insights {
            if let Some(dest) = eds.and_then(|e| e.insights_destination.as_deref()).and_then(|d| cat.find(d)) {
                return Ok(Some(dest.clone()));
            }
        }
        let mut live =
            cat.event_data_stores.iter().filter(|e| e.status != EdsStatus::PendingDeletion && e.kind == kind);
        Ok(match (live.next(), live.next()) {
            (Some(one), None) => Some(one.clone()),
            _ => None,
        })
    }

    fn catalog_display(&self) -> String {
        format!("{}/{CATALOG_FILE}", self.display().trim_end_matches('/'))
    }

    pub(crate) async fn save_catalog(&self, catalog: &Catalog) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(catalog)?;
        // Local puts are staged and renamed, so readers never see a half-written catalog.
        self.objects.put(&ObjectPath::from(CATALOG_FILE), PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Finds an EDS by id, name or ARN.
    pub async fn resolve(&self, key: &str) -> Result<EdsRecord, StoreError> {
        self.catalog().await?.find(key).cloned().ok_or_else(|| StoreError::NotFound(key.to_string()))
    }

    /// An exclusive lock named `name` among processes using this local store, held until the
    /// returned file is dropped. The operating system releases it when the process ends, however
    /// it ends, so a killed run never leaves it behind. `on_wait` runs once if another process
    /// holds it. S3 stores have no such lock (`None`): change them from one place at a time.
    pub async fn lock(&self, name: &str, on_wait: impl FnOnce()) -> Result<Option<std::fs::File>, StoreError> {
        let StoreLocation::Local(root) = &self.location else { return Ok(None) };
        let dir = root.join("locks");
        let err = |e: std::io::Error| StoreError::Invalid(format!("cannot take lock {name} in {}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(err)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{name}.lock")))
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => on_wait(),
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        let file = tokio::task::spawn_blocking(move || file.lock().map(|_| file))
            .await
            .map_err(|e| StoreError::Invalid(e.to_string()))?
            .map_err(err)?;
        Ok(Some(file))
    }

    /// Creates an EDS with default settings and its (empty) Delta table.
    pub async fn create_eds(&self, name: &str) -> Result<EdsRecord, StoreError> {
        self.create_eds_with(name, &EdsSettings::default()).await
    }

    /// Resolves `key`, or creates the default EDS when no key is given.
    pub async fn resolve_or_default(&self, key: Option<&str>) -> Result<EdsRecord, StoreError> {
        match key {
            Some(k) => self.resolve(k).await,
            None => match self.catalog().await?.find(DEFAULT_EDS_NAME) {
                Some(rec) => Ok(rec.clone()),
                // Another process may have created it meanwhile: that one is used.
                // The implicit store keeps the longest retention CloudTrail allows, so that
                // older trails can be investigated without setting anything up first.
                None => match self
                    .create_eds_with(
                        DEFAULT_EDS_NAME,
                        &EdsSettings { retention_period: Some(catalog::MAX_RETENTION_DAYS), ..Default::default() },
                    )
                    .await
                {
                    Err(StoreError::NameTaken(_)) => self.resolve(DEFAULT_EDS_NAME).await,
                    other => other,
                },
            },
        }
    }

    /// Path (relative to the store root) of a quarantine file for one ingest run.
    pub fn quarantine_path(&self, eds: &EdsId, run: &str) -> ObjectPath {
        ObjectPath::from(format!("quarantine/{eds}/{run}.ndjson"))
    }

    /// A human-readable location of a store-relative path.
    pub fn display_path(&self, p: &ObjectPath) -> String {
        format!("{}/{}", self.display().trim_end_matches('/'), p)
    }
}
