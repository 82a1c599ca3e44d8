//! The demo's guided tour: generate the sample trail, ingest it, then run the saved
//! investigations that tell the planted incident's story, in the order a responder would.

use std::io::{self, Write};
use std::path::PathBuf;

use super::{generate, GenerateOptions};
use crate::engine::Engine;
use crate::error::Error;
use crate::ingest::{self, IngestOptions};
use crate::investigate::saved::DefaultStores;
use crate::output::{self, Format, RunOptions};
use crate::store::{Store, StoreError};

/// The guided tour: saved investigations (`queries/`) in the order a responder would run them
/// on the planted incident, each with what it shows in this trail.
pub const TOUR: &[(&str, &str)] = &[
    ("insights-with-top-callers", "CloudTrail Insights flagged two unusual bursts on the last day ..."),
    ("events-behind-insights", "... denied role assumptions and snapshots deleted in bulk: by whom?"),
    ("failed-console-logins-by-ip", "Someone guessed a password from 203.0.113.50 ..."),
    ("console-logins-without-mfa", "... and got in as mallory, without MFA."),
    ("access-denied-bursts", "The intruder probed what mallory may do."),
    ("iam-users-and-keys-created", "Persistence: a new user, backup-svc, with an access key."),
    ("cloudtrail-tampering", "Defence evasion: logging narrowed, then stopped."),
    ("security-services-disabled", "GuardDuty, Config and Security Hub switched off too."),
    ("large-s3-downloads", "Exfiltration: the new key pulled the customer bucket."),
    ("cross-account-activity", "Lateral movement into the dev account ..."),
    ("unusual-instance-types", "... to launch GPU instances in a Region nobody uses."),
];

/// What the tour generates.
#[derive(Debug, Clone)]
pub struct TourOptions {
    /// Where the sample trail is written.
    pub out: PathBuf,
    pub events: u64,
    pub days: u32,
}

/// Generates the sample trail, ingests it into the EDS "demo" and runs the tour; returns the
/// exit code.
pub async fn run(store_spec: &str, a: &TourOptions) -> Result<i32, Error> {
    let store = Store::open(store_spec)?;
    eprintln!(
        "1/3 generating a sample organization trail ({} events over {} days) in {}",
        a.events,
        a.days,
        a.out.display()
    );
    let opts = GenerateOptions { events: a.events, days: a.days, digests: true, ..Default::default() };
    let g = generate(&a.out, &opts)?;
    eprintln!(
        "    {} trail files, {} gzip; {} signed digest files (log file validation), key in {}",
        g.files,
        crate::human::human_bytes(g.gzip_bytes),
        g.digests,
        super::generate::keys_dir(&a.out).display()
    );
    let eds = match store.resolve("demo").await {
        Ok(r) => r,
        // The sample trail's dates are fixed: the longest retention keeps it queryable for years.
        Err(StoreError::NotFound(_)) => {
            let keep = crate::store::EdsSettings {
                retention_period: Some(crate::store::catalog::MAX_RETENTION_DAYS),
                ..Default::default()
            };
            store.create_eds_with("demo", &keep).await?
        }
        Err(e) => return Err(e.into()),
    };
    let eds = set_up_insights(&store, eds).await?;
    eprintln!("2/3 ingesting into event data store \"demo\" ({}), each file validated against its digest", eds.id);
    let sources = vec![a.out.display().to_string()];
    let keys = g.keys.as_ref().map(|k| vec![k.public_keys_json.clone()]).unwrap_or_default();
    let public_keys = crate::keys::PublicKeys::load(&keys)?;
    let ingest_opts = IngestOptions { progress: true, validate: true, public_keys, ..Default::default() };
    let report = ingest::ingest(&store, Some("demo"), &sources, ingest_opts).await?;
    eprintln!("{}", report.summary());
    let insights = crate::insights::run(&store, "demo", None, &Default::default(), false).await?;
    eprintln!("{}", insights.summary());
    eprintln!("3/3 a guided tour of the planted incident, with saved investigations (`traillake queries list`)\n");
    let engine = Engine::open(&store).await?;
    let library = crate::investigate::library::Library::builtin().map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = io::stdout();
    let stores = DefaultStores { eds: Some(eds.id.to_string()), ..DefaultStores::of(&store).await? };
    let with_insights = a.days >= super::generate::INSIGHTS_DAYS;
    let steps = TOUR.iter().filter(|(name, _)| with_insights || !name.contains("insights"));
    for (i, (name, story)) in steps.enumerate() {
        let entry = library.get(name).map_err(|e| Error::Internal(e.to_string()))?;
        let sql = entry.query.render(&Default::default(), &stores).map_err(|e| Error::Internal(e.to_string()))?;
        writeln!(out, "== {}. {story}\n   traillake --store {store_spec} queries run {name}\n", i + 1)?;
        out = output::run(&engine, &sql, &RunOptions::whole(Format::Table), out).await?.out;
        writeln!(out)?;
    }
    writeln!(
        out,
        "Next: `traillake --store {store_spec} queries list` ({} investigations), `traillake --store {store_spec} repl`,\n\
         or `traillake --store {store_spec} lookup --lookup-attributes AttributeKey=Username,AttributeValue=mallory --start-time 2026-11-01`.\n\
         Integrity: `traillake validate-logs {} --public-key {}`, `traillake --store {store_spec} eds verify demo`.",
        library.entries().len(),
        a.out.display(),
        super::generate::keys_dir(&a.out).join("public-keys.json").display()
    )?;
    Ok(0)
}

/// The demo's Insights: computed over "demo" into the Insights store "demo-insights" (created
/// once), as `eds create --kind insights` and `eds update --insight-selectors` would.
async fn set_up_insights(store: &Store, demo: crate::store::EdsRecord) -> Result<crate::store::EdsRecord, Error> {
    use crate::store::catalog::{InsightSelector, InsightType};
    if !demo.insight_selectors.is_empty() {
        return Ok(demo);
    }
    let settings = crate::store::EdsSettings {
        kind: Some(crate::schema::Kind::Insights),
        retention_period: Some(crate::store::catalog::MAX_RETENTION_DAYS),
        ..Default::default()
    };
    let insights = match store.resolve("demo-insights").await {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => store.create_eds_with("demo-insights", &settings).await?,
        Err(e) => return Err(e.into()),
    };
    let types = [InsightType::ApiCallRateInsight, InsightType::ApiErrorRateInsight];
    let update = crate::store::EdsSettings {
        insight_selectors: Some(types.into_iter().map(|insight_type| InsightSelector { insight_type }).collect()),
        insights_destination: Some(insights.id.to_string()),
        ..Default::default()
    };
    Ok(store.update_eds(&demo.id.to_string(), &update).await?)
}
