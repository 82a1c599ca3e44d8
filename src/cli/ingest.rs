//! `traillake ingest`: one pass over the sources, or `--follow` them as they are delivered;
//! Insights and EventBridge rules over what each pass stored.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::Notify;

use super::{print_json, InfoFormat};
use crate::detect::alerts::{AlertReport, Alerter, Output, RuleSet};
use crate::detect::webhook::{Retry, Webhook};
use crate::error::Error;
use crate::ingest::{self, follow::Watcher, IngestOptions, IngestReport};
use crate::schema::Kind;
use crate::store::{EdsRecord, Store};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, folders (walked recursively) or s3://bucket/prefix.
    #[arg(required = true)]
    pub sources: Vec<String>,
    /// Event data store id, name or ARN (default: "default", created if absent).
    #[arg(long)]
    pub eds: Option<String>,
    /// Summary as text (stderr) or JSON (stdout).
    #[arg(long, value_enum, default_value_t)]
    pub format: InfoFormat,
    /// No progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Decode threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Decoded data per commit at most, in MiB: what a run killed at the worst moment does again
    /// (larger means fewer commits and files). A commit also comes early once 320 MiB wait
    /// unencoded (input whose days come interleaved), which bounds memory.
    #[arg(long, env = "TRAILLAKE_COMMIT_MB", default_value_t = ingest::DEFAULT_COMMIT_MB)]
    pub commit_mb: usize,
    /// Parquet zstd level (1–22).
    #[arg(long, default_value_t = 1, hide = true, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub zstd_level: i32,
    /// Bloom filters on eventid, access key id and source IP.
    #[arg(long, hide = true)]
    pub bloom_filters: bool,
    /// Validate each log file against the CloudTrail digests among the sources while reading
    /// it (as `validate-logs` does); a file that fails is quarantined with the reason, and each
    /// file's status is recorded in the commit (`eds describe` sums them up).
    #[arg(long)]
    pub validate: bool,
    /// With --validate: ingest files that fail validation anyway (their status is recorded).
    #[arg(long, requires = "validate")]
    pub allow_invalid: bool,
    /// With --validate: public keys to check the digests' signatures with (see validate-logs).
    #[arg(long = "public-key", value_name = "FILE|DIR", requires = "validate")]
    pub public_keys: Vec<PathBuf>,
    /// Also store the trail's Insights records (`CloudTrail-Insight/`) in this Insights store
    /// (`eds create NAME --kind insights`), in the same run.
    #[arg(long, value_name = "NAME")]
    pub insights_eds: Option<String>,
    /// Also store the AWS Config configuration items among the sources (`Config/` history and
    /// snapshot files) in this store of kind config.
    #[arg(long, value_name = "NAME")]
    pub config_eds: Option<String>,
    /// Also store the events from outside AWS among the sources (`PutAuditEvents` bodies,
    /// eventData objects) in this store of kind audit.
    #[arg(long, value_name = "NAME")]
    pub audit_eds: Option<String>,
    /// Also store the Audit Manager evidence among the sources in this store of kind evidence.
    #[arg(long, value_name = "NAME")]
    pub evidence_eds: Option<String>,
    /// The channel (a name, or a channel ARN) events from outside AWS arrive on; recorded as
    /// `metadata.channelARN`, its Region as `awsRegion` (default: a local channel named after
    /// the store).
    #[arg(long, value_name = "NAME|ARN")]
    pub channel: Option<String>,
    /// After the first pass, keep watching the sources and ingest new files as they appear
    /// (local folders: change notifications and polling; s3://: today's and yesterday's day
    /// folders, in full hourly), exactly once like any ingest. Ctrl-C or SIGTERM stop after the
    /// commit under way. Days that have gone quiet are compacted hourly.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: how often to look for new files (30s, 5m, 500ms, or seconds).
    #[arg(long, default_value = "30s", value_parser = parse_interval, requires = "follow")]
    pub interval: Duration,
    /// EventBridge rules evaluated on every event this ingest stores: a JSON list
    /// `[{"Name": …, "EventPattern": {…} or "…"}]`, or what `aws events list-rules` prints.
    /// Each match is an alert, one JSON line {"rule", "eventID", "eventTime", "event"}: on
    /// stdout, or in --alerts. A rule sees the events stored after it was first used.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// With --rules: append the alerts to this file instead of stdout — exactly once per
    /// event and rule, also across a run that was killed and started again.
    #[arg(long, value_name = "FILE", requires = "rules")]
    pub alerts: Option<PathBuf>,
    /// With --rules: also POST each alert (JSON) to this http(s) URL, in the background,
    /// retried with backoff; deliveries that fail are counted, ingest never waits for them.
    #[arg(long, value_name = "URL", requires = "rules")]
    pub webhook: Option<String>,
}

impl IngestArgs {
    /// The other stores this run fills, by kind (`--insights-eds`, `--config-eds`, …).
    fn routed(&self) -> Vec<(crate::schema::Kind, &str)> {
        use crate::schema::Kind;
        [
            (Kind::Insights, &self.insights_eds),
            (Kind::Config, &self.config_eds),
            (Kind::Audit, &self.audit_eds),
            (Kind::Evidence, &self.evidence_eds),
        ]
        .into_iter()
        .filter_map(|(k, name)| name.as_deref().map(|n| (k, n)))
        .collect()
    }
}

/// `--interval`: `30s`, `5m`, `1h`, `500ms`, or a number of seconds.
fn parse_interval(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let n: f64 = number.parse().map_err(|_| format!("{s:?} is not a duration (30s, 5m, 500ms)"))?;
    let seconds = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !(0.05..=86_400.0).contains(&seconds) {
        return Err(format!("{s:?}: the interval must be between 50ms and 24h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub async fn run(store_spec: &str, a: IngestArgs) -> Result<i32, Error> {
    let store = Store::open(store_spec)?;
    let routed = a.routed();
    for (kind, name) in &routed {
        let target = store.resolve(name).await?;
        if target.kind != *kind {
            return Err(Error::Usage(format!(
                "--{kind}-eds {} holds {} events; it must be a store of kind {kind} \
                 (`traillake eds create NAME --kind {kind}`)",
                target.name, target.kind
            )));
        }
    }
    let opts = IngestOptions {
        threads: a.threads,
        progress: !a.no_progress,
        writer: ingest::WriterConfig {
            commit_bytes: a.commit_mb.max(1) * 1024 * 1024,
            zstd_level: a.zstd_level,
            bloom_filters: a.bloom_filters,
            ..Default::default()
        },
        validate: a.validate,
        allow_invalid: a.allow_invalid,
        public_keys: crate::keys::PublicKeys::load(&a.public_keys)?,
        channel: a.channel.clone(),
        routed: routed.iter().map(|(k, _)| *k).collect(),
        ..Default::default()
    };
    let alerter = match &a.rules {
        Some(path) => Some(arm_rules(&store, &a, path).await?),
        None => None,
    };
    if a.follow {
        return follow(&store, &a, opts, alerter).await;
    }
    let reports = pass(&store, &a, &a.sources, opts).await?;
    let insights = insights_after(&store, &reports[0]).await?;
    let alerts = match alerter {
        Some(mut al) => {
            al.run(&store).await?;
            Some(al.finish().await)
        }
        None => None,
    };
    match a.format {
        InfoFormat::Json => print_json(&pass_json(&a, &reports, insights.as_ref(), alerts.as_ref()))?,
        InfoFormat::Table => {
            for report in &reports {
                eprintln!("{}", report.summary());
            }
            if let Some(i) = &insights {
                eprintln!("{}", i.summary());
            }
            if let Some(al) = &alerts {
                eprintln!("{}", al.summary());
            }
        }
    }
    Ok(reports.iter().map(IngestReport::exit_code).max().unwrap_or(0))
}

/// Loads the rules and arms them over the store ingested into (created now if it is the
/// default and absent), before anything is stored: they see this run's events.
async fn arm_rules(store: &Store, a: &IngestArgs, path: &std::path::Path) -> Result<Alerter, Error> {
    if a.alerts.is_none() && a.format == InfoFormat::Json {
        return Err(Error::Usage(
            "--format json prints the summary on stdout, where the alerts would go too; give --alerts FILE".into(),
        ));
    }
    let rules = RuleSet::load(path)?;
    for name in &rules.disabled {
        eprintln!("rule {name} is DISABLED in {}; not evaluated", path.display());
    }
    let rec: EdsRecord = store.resolve_or_default(a.eds.as_deref()).await?;
    if rec.kind != Kind::Cloudtrail {
        return Err(Error::Usage(format!("--rules runs on CloudTrail events; {} holds {} events", rec.name, rec.kind)));
    }
    let output = a.alerts.clone().map_or(Output::Stdout, Output::File);
    let webhook = a.webhook.as_deref().map(|url| Webhook::start(url, Retry::default())).transpose()?;
    Ok(Alerter::arm(store, &rec, rules, output, webhook).await?)
}

/// One pass: the sources into the store, then into each store named by kind.
async fn pass(
    store: &Store,
    a: &IngestArgs,
    sources: &[String],
    opts: IngestOptions,
) -> Result<Vec<IngestReport>, Error> {
    let mut reports = vec![ingest::ingest(store, a.eds.as_deref(), sources, opts.clone()).await?];
    for (_, name) in a.routed() {
        reports.push(ingest::ingest(store, Some(name), sources, opts.clone()).await?);
    }
    for report in &reports {
        if report.quarantined_records > 20 {
            eprintln!("… {} more quarantined records (see the quarantine file)", report.quarantined_records - 20);
        }
    }
    Ok(reports)
}

/// Insights over the store just ingested into, when it is set up for them. The events are
/// committed whatever happens here: a failed Insights run is a warning, and `traillake
/// insights run` computes them later.
async fn insights_after(store: &Store, report: &IngestReport) -> Result<Option<crate::insights::RunReport>, Error> {
    let rec = store.resolve(&report.eds_id).await?;
    if rec.insight_selectors.is_empty() || report.events_added == 0 {
        return Ok(None);
    }
    match crate::insights::run(store, &rec.id.to_string(), None, &Default::default(), false).await {
        Ok(report) => Ok(Some(report)),
        Err(e) => {
            eprintln!(
                "warning: Insights over {} were not computed: {e}; `traillake insights run {}` computes them later",
                rec.name, rec.name
            );
            Ok(None)
        }
    }
}

/// A pass's summary as JSON: the main store's report, each other kind's under `<kind>Ingest`.
fn pass_json(
    a: &IngestArgs,
    reports: &[IngestReport],
    insights: Option<&crate::insights::RunReport>,
    alerts: Option<&AlertReport>,
) -> serde_json::Value {
    let mut v = serde_json::json!(reports[0]);
    for ((kind, _), extra) in a.routed().iter().zip(&reports[1..]) {
        v[format!("{kind}Ingest")] = serde_json::json!(extra);
    }
    if let Some(i) = insights {
        v["insights"] = serde_json::json!(i);
    }
    if let Some(al) = alerts {
        v["alerts"] = serde_json::json!(al);
    }
    v
}

/// How often a follower compacts the days that have gone quiet.
const COMPACT_EVERY: Duration = Duration::from_secs(3600);

/// `--follow`: passes until Ctrl-C or SIGTERM, each reading what is new since the last.
async fn follow(
    store: &Store,
    a: &IngestArgs,
    mut opts: IngestOptions,
    mut alerter: Option<Alerter>,
) -> Result<i32, Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    tokio::spawn(stop_on_signal(Arc::clone(&stop), Arc::clone(&wake)));
    opts.stop = Some(Arc::clone(&stop));
    opts.settle = ingest::follow::settle();
    opts.empty_ok = true;
    let mut watcher = Watcher::new(&a.sources);
    if a.format == InfoFormat::Table {
        eprintln!(
            "following {} (every {:?}{}); Ctrl-C stops after the commit under way",
            a.sources.join(" "),
            a.interval,
            if watcher.notifications() { ", and on changes" } else { "" }
        );
    }
    let (mut files, mut events, mut worst) = (0u64, 0u64, 0);
    let mut last_compaction = Instant::now();
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let specs = watcher.specs(chrono::Utc::now()).await?;
        let reports = match pass(store, a, &specs, opts.clone()).await {
            Ok(r) => r,
            // The first pass fails as a plain ingest would; later ones are retried.
            Err(e) if first => return Err(e),
            Err(e) => {
                eprintln!("warning: this pass failed ({e}); trying again in {:?}", a.interval);
                watcher.wait(a.interval, &wake).await;
                continue;
            }
        };
        let committed = std::time::SystemTime::now();
        crate::allocator::release_unused();
        opts.progress = false;
        let insights = insights_after(store, &reports[0]).await?;
        let alerts = match alerter.as_mut() {
            Some(al) => Some(al.run(store).await?),
            None => None,
        };
        let read: u64 = reports.iter().map(|r| r.files).sum();
        let added: u64 = reports.iter().map(|r| r.events_added).sum();
        files += read;
        events += added;
        worst = worst.max(reports.iter().map(IngestReport::exit_code).max().unwrap_or(0));
        if read > 0 || first {
            match a.format {
                InfoFormat::Json => {
                    println!("{}", pass_json(a, &reports, insights.as_ref(), alerts.as_ref()));
                }
                InfoFormat::Table if first => {
                    for r in &reports {
                        eprintln!("{}", r.summary());
                    }
                }
                InfoFormat::Table => {
                    let lag = reports
                        .iter()
                        .filter_map(|r| committed.duration_since(r.newest_source?).ok())
                        .max()
                        .map(|d| format!(" (lag {:.1}s behind the newest file)", d.as_secs_f64()))
                        .unwrap_or_default();
                    let alerted = alerts.as_ref().map(|al| format!("; {} alerts", al.alerts)).unwrap_or_default();
                    eprintln!(
                        "{} +{read} files, +{added} events{lag}; {files} files, {events} events since start{alerted}",
                        chrono::Utc::now().format("%H:%M:%S"),
                    );
                }
            }
        }
        first = false;
        if last_compaction.elapsed() >= COMPACT_EVERY && !stop.load(Ordering::Relaxed) {
            compact_quiet_days(store, &reports).await;
            last_compaction = Instant::now();
        }
        if !stop.load(Ordering::Relaxed) {
            watcher.wait(a.interval, &wake).await;
        }
    }
    if let Some(al) = alerter {
        let total = al.finish().await;
        if a.format == InfoFormat::Table {
            eprintln!("{}", total.summary());
        }
    }
    if a.format == InfoFormat::Table {
        eprintln!("stopped: {files} files, {events} events ingested while following");
    }
    Ok(worst)
}

/// Compacts the days no more events arrive for (CloudTrail delivers within the hour), in the
/// stores a follow fills; maintenance failing is a warning — the next hour tries again.
async fn compact_quiet_days(store: &Store, reports: &[IngestReport]) {
    let quiet_before = (chrono::Utc::now() - chrono::Duration::hours(25)).date_naive() + chrono::Days::new(1);
    let opts = crate::store::maintain::MaintainOptions {
        compact_before: Some(quiet_before.format("%Y-%m-%d").to_string()),
        ..Default::default()
    };
    for r in reports {
        if let Err(e) = crate::store::maintain::maintain(store, Some(&r.eds_id), &opts).await {
            eprintln!("warning: compacting the quiet days of {} failed: {e}", r.eds_name);
        }
    }
}

/// Sets `stop` and wakes the follower on Ctrl-C or SIGTERM.
async fn stop_on_signal(stop: Arc<AtomicBool>, wake: Arc<Notify>) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    eprintln!("stopping after the commit under way …");
    stop.store(true, Ordering::Relaxed);
    wake.notify_one();
}
