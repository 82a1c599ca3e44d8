//! `traillake eds …`: event data store management with AWS CLI-like options. Every command
//! takes an id, name or ARN, and `--format json`.

use std::collections::BTreeMap;

use clap::{ArgGroup, Args, Subcommand};

use super::{print_json, InfoFormat};
use crate::error::Error;
use crate::output::Listing;
use crate::schema::Kind;
use crate::store::catalog::InsightSelector;
use crate::store::maintain::{self, MaintainOptions};
use crate::store::selectors;
use crate::store::{table, EdsRecord, EdsSettings, Store};

#[derive(Debug, Subcommand)]
pub enum EdsCommand {
    /// Create an event data store; prints its id.
    Create {
        name: String,
        /// What the store holds: cloudtrail (default), insights, config, audit (events from
        /// outside AWS, Lake's ActivityAuditLog) or evidence. Lake's category names
        /// (Insight, ConfigurationItem, ActivityAuditLog, Evidence) are accepted too.
        #[arg(long, default_value = "cloudtrail", value_parser = parse_kind)]
        kind: Kind,
        #[command(flatten)]
        settings: SettingArgs,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Change a store's name, retention, selectors or termination protection.
    Update {
        eds: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        settings: SettingArgs,
        /// Remove the advanced event selectors (keep every event).
        #[arg(long, conflicts_with = "advanced_event_selectors")]
        clear_advanced_event_selectors: bool,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Move a store to PENDING_DELETION: not queryable, not ingestible, restorable for 7 days,
    /// then purged by `eds maintain`. Refused while termination protection is on.
    Delete {
        eds: String,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Bring a PENDING_DELETION store back (ENABLED, data intact).
    Restore {
        eds: String,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Refuse ingest into a store (it stays queryable).
    StopIngestion {
        eds: String,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Accept ingest again after stop-ingestion.
    StartIngestion {
        eds: String,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// List event data stores.
    List {
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Check a store for tampering: re-hash every live file, walk the chain of integrity
    /// records in its commits, check their signatures. Exit 0 only if all is intact.
    Verify {
        eds: String,
        /// Public key(s) to check the signatures with (PEM, DER, `list-public-keys` JSON, a
        /// folder); without one, signatures are reported unchecked.
        #[arg(long = "public-key", value_name = "FILE|DIR")]
        public_keys: Vec<std::path::PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Show one event data store (by id, name or ARN).
    Describe {
        eds: String,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
    /// Delete events past retention, compact small files, vacuum unused ones, purge stores
    /// whose 7 days of PENDING_DELETION are over. Safe while queries run.
    Maintain {
        /// One store (default: all).
        eds: Option<String>,
        /// Keep files removed from a table less than this many hours ago (for running queries).
        #[arg(long, default_value_t = 1)]
        vacuum_retain_hours: i64,
        /// Judge retention and deletion windows as of this time (RFC 3339), for what-if runs.
        #[arg(long, hide = true)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t)]
        format: InfoFormat,
    },
}

/// Settings shared by create and update, spelled as the AWS CLI spells them.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("protection").args(["termination_protection_enabled", "no_termination_protection_enabled"])))]
pub struct SettingArgs {
    /// Days events are kept, judged by eventTime: 7 to 3653 (default 366).
    #[arg(long)]
    pub retention_period: Option<u32>,
    /// AWS-shaped selectors: JSON text, or file://PATH.
    #[arg(long, value_name = "JSON|file://PATH")]
    pub advanced_event_selectors: Option<String>,
    #[arg(long)]
    pub termination_protection_enabled: bool,
    /// Termination protection is on by default; this turns it off.
    #[arg(long)]
    pub no_termination_protection_enabled: bool,
    /// Sign every commit's integrity record with this private key (PEM; keep it outside the
    /// store, e.g. from `traillake keys generate`); `eds verify --public-key` checks it.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<std::path::PathBuf>,
    /// Compute CloudTrail Insights over this store after each ingest, as AWS's
    /// `--insight-selectors`: JSON text or file://PATH, e.g.
    /// '[{"InsightType":"ApiCallRateInsight"},{"InsightType":"ApiErrorRateInsight"}]';
    /// '[]' turns them off.
    #[arg(long, value_name = "JSON|file://PATH")]
    pub insight_selectors: Option<String>,
    /// The store of kind insights the detected Insights go to.
    #[arg(long, value_name = "INSIGHTS_EDS")]
    pub insights_destination: Option<String>,
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    s.parse()
}

/// JSON given inline or as `file://PATH`, as the AWS CLI takes it.
fn json_argument(arg: &str, what: &str) -> Result<String, Error> {
    match arg.strip_prefix("file://") {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {what} from {path}: {e}")))
        }
        None => Ok(arg.to_string()),
    }
}

impl SettingArgs {
    fn settings(&self) -> Result<EdsSettings, Error> {
        let advanced_event_selectors = match &self.advanced_event_selectors {
            None => None,
            Some(arg) => {
                let text = json_argument(arg, "selectors")?;
                Some(Some(selectors::parse(&text).map_err(|e| Error::Usage(e.to_string()))?))
            }
        };
        let insight_selectors = match &self.insight_selectors {
            None => None,
            Some(arg) => {
                let text = json_argument(arg, "Insight selectors")?;
                Some(serde_json::from_str::<Vec<InsightSelector>>(&text).map_err(|e| {
                    Error::Usage(format!(
                        "--insight-selectors: {e}; expected a list such as \
                         [{{\"InsightType\":\"ApiCallRateInsight\"}},{{\"InsightType\":\"ApiErrorRateInsight\"}}]"
                    ))
                })?)
            }
        };
        let termination_protection_enabled =
            match (self.termination_protection_enabled, self.no_termination_protection_enabled) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
        Ok(EdsSettings {
            name: None,
            retention_period: self.retention_period,
            advanced_event_selectors,
            termination_protection_enabled,
            signing_key: self.signing_key.clone(),
            kind: None,
            insight_selectors,
            insights_destination: self.insights_destination.clone(),
        })
    }
}

pub async fn run(store: &Store, cmd: EdsCommand) -> Result<i32, Error> {
    match cmd {
        EdsCommand::Create { name, kind, settings, format } => {
            let settings = EdsSettings { kind: Some(kind), ..settings.settings()? };
            let rec = store.create_eds_with(&name, &settings).await?;
            match format {
                InfoFormat::Table => println!("{}", rec.id),
                InfoFormat::Json => print_json(&rec)?,
            }
        }
        EdsCommand::Update { eds, name, settings, clear_advanced_event_selectors, format } => {
            let mut s = settings.settings()?;
            s.name = name;
            if clear_advanced_event_selectors {
                s.advanced_event_selectors = Some(None);
            }
            let rec = store.update_eds(&eds, &s).await?;
            show(store, &rec, format).await?;
        }
        EdsCommand::Delete { eds, format } => {
            let rec = store.delete_eds(&eds, chrono::Utc::now()).await?;
            if format == InfoFormat::Table {
                if let Some(t) = rec.purge_after() {
                    eprintln!(
                        "{} is PENDING_DELETION: restorable with `traillake eds restore {}` until {}",
                        rec.name,
                        rec.name,
                        t.format("%Y-%m-%d %H:%M UTC")
                    );
                }
            }
            show(store, &rec, format).await?;
        }
        EdsCommand::Restore { eds, format } => show(store, &store.restore_eds(&eds).await?, format).await?,
        EdsCommand::StopIngestion { eds, format } => show(store, &store.stop_ingestion(&eds).await?, format).await?,
        EdsCommand::StartIngestion { eds, format } => show(store, &store.start_ingestion(&eds).await?, format).await?,
        EdsCommand::List { format } => {
            let cat = store.catalog().await?;
            match format {
                InfoFormat::Json => print_json(&cat.event_data_stores)?,
                InfoFormat::Table => {
                    let mut list =
                        Listing::with_headers(&["ID", "NAME", "KIND", "STATUS", "RETENTION", "CREATED"]).align_right(4);
                    for e in &cat.event_data_stores {
                        list.row(&[
                            e.id.to_string(),
                            e.name.clone(),
                            e.kind.to_string(),
                            e.status.to_string(),
                            format!("{} days", e.retention_period),
                            e.created_timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
                        ]);
                    }
                    print!("{list}");
                }
            }
        }
        EdsCommand::Describe { eds, format } => show(store, &store.resolve(&eds).await?, format).await?,
        EdsCommand::Verify { eds, public_keys, format } => {
            let rec = store.resolve(&eds).await?;
            let keys = match public_keys.is_empty() {
                true => None,
                false => Some(crate::keys::PublicKeys::load(&public_keys)?),
            };
            // The log as the files say, even when a removed commit would stop a normal load.
            let t = table::unloaded(store, &rec)?;
            let v = crate::store::integrity::verify(&t, keys.as_ref()).await?;
            match format {
                InfoFormat::Json => print_json(&v)?,
                InfoFormat::Table => print!("{}", v.text()),
            }
            return Ok(if v.intact() { 0 } else { 1 });
        }
        EdsCommand::Maintain { eds, vacuum_retain_hours, now, format } => {
            let opts = MaintainOptions {
                now: now.unwrap_or_else(chrono::Utc::now),
                vacuum_retain: chrono::Duration::hours(vacuum_retain_hours.max(0)),
                ..Default::default()
            };
            let reports = maintain::maintain(store, eds.as_deref(), &opts).await?;
            match format {
                InfoFormat::Json => print_json(&reports)?,
                InfoFormat::Table => {
                    for r in &reports {
                        eprintln!("{}", r.summary());
                    }
                }
            }
        }
    }
    Ok(0)
}

/// A store's settings and figures (figures from the Delta log; a store pending deletion has
/// them too, since its data is kept until the purge).
async fn show(store: &Store, rec: &EdsRecord, format: InfoFormat) -> Result<(), Error> {
    let t = table::open(store, rec).await?;
    let fig = table::figures(&t)?;
    let validation = table::validation_counts(&t).await?;
    match format {
        InfoFormat::Json => {
            let mut v = serde_json::to_value(rec).map_err(|e| Error::Internal(e.to_string()))?;
            let f = serde_json::to_value(&fig).map_err(|e| Error::Internal(e.to_string()))?;
            if let (Some(o), Some(fo)) = (v.as_object_mut(), f.as_object()) {
                o.extend(fo.clone());
                if !validation.is_empty() {
                    o.insert("logFileValidation".into(), serde_json::json!(validation));
                }
            }
            print_json(&v)
        }
        InfoFormat::Table => {
            print_description(rec, &fig, &validation);
            Ok(())
        }
    }
}

fn print_description(rec: &EdsRecord, fig: &table::TableFigures, validation: &BTreeMap<String, u64>) {
    let mut rows = vec![
        ("Id", rec.id.to_string()),
        ("Name", rec.name.clone()),
        ("Arn", rec.arn.clone()),
        ("Kind", format!("{} (eventCategory {})", rec.kind, rec.kind.event_category())),
        ("Status", rec.status.to_string()),
        ("Created", rec.created_timestamp.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        ("Updated", rec.updated_timestamp.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        ("RetentionPeriod", format!("{} days", rec.retention_period)),
        ("TerminationProtection", rec.termination_protection_enabled.to_string()),
        (
            "AdvancedEventSelectors",
            rec.advanced_event_selectors.as_ref().map_or("- (every event)".into(), |s| s.to_string()),
        ),
        ("Events", fig.event_count.to_string()),
        ("Size", crate::human::human_bytes(fig.size_bytes)),
        ("Files", fig.file_count.to_string()),
        (
            "EventTimes",
            match (&fig.first_event, &fig.last_event) {
                (Some(a), Some(b)) => format!("{a} .. {b}"),
                _ => "-".into(),
            },
        ),
    ];
    if !rec.insight_selectors.is_empty() {
        let types: Vec<&str> = rec.insight_selectors.iter().map(|s| s.insight_type.name()).collect();
        rows.push(("InsightSelectors", types.join(", ")));
        rows.push(("InsightsDestination", rec.insights_destination.clone().unwrap_or_default()));
    }
    if let Some(t) = rec.purge_after() {
        rows.push(("PurgedAfter", t.format("%Y-%m-%d %H:%M:%S UTC").to_string()));
    }
    if let Some(fp) = &rec.signing_key_fingerprint {
        rows.push(("SigningKey", format!("{} ({fp})", rec.signing_key.as_deref().unwrap_or("?"))));
    }
    if !validation.is_empty() {
        let n = |k: &str| validation.get(k).copied().unwrap_or(0);
        rows.push((
            "LogFileValidation",
            format!(
                "{} files validated against digests, {} not covered, {} invalid",
                n("valid"),
                n("not-covered"),
                n("invalid") + n("digest-invalid")
            ),
        ));
    }
    let mut list = Listing::new();
    for (k, v) in rows {
        list.row(&[k.to_string(), v]);
    }
    print!("{list}");
}
