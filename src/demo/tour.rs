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
    (
        "outside-sign-ins-from-new-addresses",
        "Outside AWS: the same address signed in to Okta as mallory minutes before.",
    ),
    ("access-denied-bursts", "The intruder probed what mallory may do."),
    ("iam-users-and-keys-created", "Persistence: a new user, backup-svc, with an access key."),
    ("cloudtrail-tampering", "Defence evasion: logging narrowed, then stopped."),
    ("security-services-disabled", "GuardDuty, Config and Security Hub switched off too."),
    ("large-s3-downloads", "Exfiltration: the new key pulled the customer bucket."),
    ("cross-account-activity", "Lateral movement into the dev account ..."),
    ("unusual-instance-types", "... to launch GPU instances in a Region nobody uses."),
    (
        "config-changes-with-calls",
        "What those calls changed, from AWS Config: each change beside the call that made it.",
    ),
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
    let opts = GenerateOptions {
        events: a.events,
        days: a.days,
        digests: true,
        config: true,
        audit: true,
        ..Default::default()
    };
    let g = generate(&a.out, &opts)?;
    eprintln!(
        "    {} trail files, {} gzip; {} signed digest files (log file validation), key in {}; \
         {} AWS Config items; {} Okta sign-ins (outside AWS)",
        g.files,
        crate::human::human_bytes(g.gzip_bytes),
        g.digests,
        super::generate::keys_dir(&a.out).display(),
        g.kinds.config_items,
        g.kinds.audit_events,
    );
    eprintln!(
        "2/3 ingesting into event data stores \"{DEMO}\" (each file validated against its digest), \"{DEMO_CONFIG}\" \
         and \"{DEMO_OKTA}\"; CloudTrail Insights into \"{DEMO_INSIGHTS}\""
    );
    let keys = g.keys.as_ref().map(|k| vec![k.public_keys_json.clone()]).unwrap_or_default();
    let loaded = load(&store, &a.out, crate::keys::PublicKeys::load(&keys)?, true).await?;
    for r in &loaded.reports {
        eprintln!("{}", r.summary());
    }
    eprintln!("{}", loaded.insights.summary());
    let eds = store.resolve(DEMO).await?;
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

/// The demo's stores.
pub const DEMO: &str = "demo";
pub const DEMO_INSIGHTS: &str = "demo-insights";
pub const DEMO_CONFIG: &str = "demo-config";
pub const DEMO_OKTA: &str = "demo-okta";

/// What `load` did.
#[derive(Debug)]
pub struct Loaded {
    /// One per store filled: demo, demo-config, demo-okta.
    pub reports: Vec<ingest::IngestReport>,
    pub insights: crate::insights::RunReport,
}

/// Fills the demo's stores from a generated trail folder (`trail`), creating them once: the
/// CloudTrail events into "demo" (validated against their digests with `public_keys`, when
/// given), its AWS Config history into "demo-config", the Okta sign-ins into "demo-okta" on the
/// channel "okta", and CloudTrail Insights over "demo" into "demo-insights" — as `eds create
/// --kind …`, `eds update --insight-selectors …` and `ingest --config-eds …` would.
pub async fn load(
    store: &Store,
    trail: &std::path::Path,
    public_keys: crate::keys::PublicKeys,
    progress: bool,
) -> Result<Loaded, Error> {
    use crate::schema::Kind;
    use crate::store::catalog::{InsightSelector, InsightType};
    // The sample trail's dates are fixed: the longest retention keeps it queryable for years.
    for (name, kind) in [
        (DEMO, Kind::Cloudtrail),
        (DEMO_INSIGHTS, Kind::Insights),
        (DEMO_CONFIG, Kind::Config),
        (DEMO_OKTA, Kind::Audit),
    ] {
        if let Err(StoreError::NotFound(_)) = store.resolve(name).await {
            let settings = crate::store::EdsSettings {
                kind: Some(kind),
                retention_period: Some(crate::store::catalog::MAX_RETENTION_DAYS),
                ..Default::default()
            };
            store.create_eds_with(name, &settings).await?;
        }
    }
    let types = [InsightType::ApiCallRateInsight, InsightType::ApiErrorRateInsight];
    let insights = crate::store::EdsSettings {
        insight_selectors: Some(types.into_iter().map(|insight_type| InsightSelector { insight_type }).collect()),
        insights_destination: Some(DEMO_INSIGHTS.into()),
        ..Default::default()
    };
    store.update_eds(DEMO, &insights).await?;
    let validate = !public_keys.is_empty();
    let trail_sources = vec![trail.display().to_string()];
    let options = IngestOptions { progress, validate, public_keys, routed: vec![Kind::Config], ..Default::default() };
    let mut reports = vec![ingest::ingest(store, Some(DEMO), &trail_sources, options.clone()).await?];
    let config = IngestOptions { validate: false, public_keys: Default::default(), ..options.clone() };
    reports.push(ingest::ingest(store, Some(DEMO_CONFIG), &trail_sources, config).await?);
    let okta = vec![super::kinds::okta_dir(trail).display().to_string()];
    let okta_options = IngestOptions { progress, channel: Some("okta".into()), ..Default::default() };
    reports.push(ingest::ingest(store, Some(DEMO_OKTA), &okta, okta_options).await?);
    let insights = crate::insights::run(store, DEMO, None, &Default::default(), false).await?;
    Ok(Loaded { reports, insights })
}
