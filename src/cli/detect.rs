//! `traillake detect`: Sigma rules over a CloudTrail store, once or on every new commit.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::InfoFormat;
use crate::detect::sigma::{self, Finding, RuleFile, Window};
use crate::engine::Engine;
use crate::error::Error;
use crate::output::Listing;
use crate::schema::Kind;
use crate::store::{table, EdsRecord, Store};

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Sigma rules: a folder (searched recursively for *.yml, *.yaml) or a file; repeatable
    /// (default: the starter rules built in, `rules/` in the repository).
    #[arg(long = "rules", value_name = "DIR|FILE")]
    pub rules: Vec<PathBuf>,
    /// The CloudTrail event data store (id, name or ARN; default: the default store).
    #[arg(long)]
    pub eds: Option<String>,
    /// Only events from this time on (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_parser = super::investigate::parse_time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// table: the findings aligned, rule statistics on stderr; json: one JSON object per
    /// finding per line (title, level, tags, ruleId, eventID, eventTime, eventName, principal,
    /// sourceIPAddress).
    #[arg(long, value_enum, default_value_t)]
    pub format: InfoFormat,
    /// After the first run, run the rules again on the events of every new ingest commit
    /// (e.g. beside `ingest --follow`) until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: how often to look for new commits (seconds).
    #[arg(long, default_value_t = 5, requires = "follow")]
    pub interval: u64,
}

pub async fn run(store: &Store, a: DetectArgs) -> Result<i32, Error> {
    let rec = match &a.eds {
        Some(key) => store.resolve(key).await?,
        None => store
            .default_eds()
            .await?
            .ok_or_else(|| Error::Usage("no event data store to run detections over; give --eds".into()))?,
    };
    if rec.kind != Kind::Cloudtrail {
        return Err(Error::Usage(format!(
            "Sigma rules run over CloudTrail events; {} holds {} events",
            rec.name, rec.kind
        )));
    }
    let files = match a.rules.is_empty() {
        true => sigma::builtin(),
        false => {
            let mut all = Vec::new();
            for dir in &a.rules {
                all.extend(sigma::load(dir)?);
            }
            all
        }
    };
    let rules = report_unsupported(&files);
    let mut version = table::open(store, &rec).await?.version().map_or(-1, |v| v as i64);
    let engine = Engine::open(store).await?;
    let window = Window { since: a.since, until: None };
    let (findings, failed) = run_rules(&engine, &rules, &rec, window, None).await;
    print(&findings, a.format, !a.follow);
    if a.format == InfoFormat::Table {
        eprintln!(
            "{} rules run ({} unsupported), {} findings over {}",
            rules.len(),
            files.len() - rules.len(),
            findings.len(),
            rec.name
        );
    }
    if !a.follow {
        // A rule that compiled but did not run is a fault of ours, not of the rule's author.
        return Ok(if failed > 0 { 2 } else { 0 });
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(a.interval.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(0),
        }
        let tbl = table::open(store, &rec).await?;
        let head = tbl.version().map_or(-1, |v| v as i64);
        if head <= version {
            continue;
        }
        let commits = table::ingest_commits_after(&tbl, version).await?;
        version = head;
        let files: Vec<_> = commits.into_iter().flat_map(|c| c.files).collect();
        let (ids, range) = crate::detect::events::ids_and_times(&tbl, &files).await?;
        let Some((lo, hi)) = range else { continue };
        let window = Window {
            since: chrono::DateTime::from_timestamp_micros(lo),
            until: chrono::DateTime::from_timestamp_micros(hi),
        };
        let engine = Engine::open(store).await?;
        let (findings, _) = run_rules(&engine, &rules, &rec, window, Some(&ids)).await;
        print(&findings, a.format, false);
    }
}

/// The rules that compiled; the others listed on stderr with the reason.
fn report_unsupported(files: &[RuleFile]) -> Vec<crate::rules::sigma::SigmaRule> {
    let mut rules = Vec::new();
    for f in files {
        match &f.rule {
            Ok(r) => rules.push(r.clone()),
            Err(why) => eprintln!("unsupported: {}: {why}", f.origin),
        }
    }
    rules
}

/// Every rule's findings (only events in `only`, when given), in event-time order, and how
/// many rules failed to run (each said on stderr; the others still run).
async fn run_rules(
    engine: &Engine,
    rules: &[crate::rules::sigma::SigmaRule],
    rec: &EdsRecord,
    window: Window,
    only: Option<&std::collections::HashSet<String>>,
) -> (Vec<Finding>, usize) {
    let (mut all, mut failed) = (Vec::new(), 0);
    for rule in rules {
        match sigma::run(engine, rule, rec, window).await {
            Ok(found) => all.extend(found.into_iter().filter(|f| only.is_none_or(|ids| ids.contains(&f.event_id)))),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    all.sort_by(|a, b| (&a.event_time, &a.event_id, &a.title).cmp(&(&b.event_time, &b.event_id, &b.title)));
    (all, failed)
}

fn print(findings: &[Finding], format: InfoFormat, headers_when_empty: bool) {
    match format {
        InfoFormat::Json => {
            for f in findings {
                println!("{}", serde_json::to_string(f).unwrap_or_default());
            }
        }
        InfoFormat::Table => {
            if findings.is_empty() && !headers_when_empty {
                return;
            }
            let mut l =
                Listing::with_headers(&["EVENT TIME", "LEVEL", "TITLE", "EVENT", "PRINCIPAL", "SOURCE IP", "EVENT ID"]);
            for f in findings {
                let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
                l.row(&[
                    f.event_time.clone(),
                    or_dash(&f.level),
                    f.title.clone(),
                    or_dash(&f.event_name),
                    or_dash(&f.principal),
                    or_dash(&f.source_ip_address),
                    f.event_id.clone(),
                ]);
            }
            print!("{}", l.render());
        }
    }
}
